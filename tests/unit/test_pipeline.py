"""streams.pipeline.Pipeline without faust or a broker: a fake producer and a fake changelog
source that subclass the real ports."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from kpi.batch import fold_lines
from kpi.calendar import local_instant
from kpi.reconcile import batch_reports, differences
from kpi.registry import UnitRegistry
from kpi.report import report_bucket
from runtime.dlq import DeadLetter
from schemas.errors import DeliveryFailed, LogLost
from streams.pipeline import Pipeline
from streams.ports import Archive, ChangelogSource, Delivery, Producer, Row, Topics
from streams.units import registry_fingerprint
from streams.wire import decode_entries, decode_link, encode_entries
from tests.eventkit import event_dict, received_dict
from tests.unit.test_dossier_v11 import REGISTRY


def sync(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Run an async test in a fresh event loop (no pytest asyncio plugin here)."""
    def run() -> None:
        asyncio.run(test())
    run.__name__ = test.__name__
    run.__doc__ = test.__doc__
    return run


T0 = 1_750_000_000.0  # 2025-06-15
TOPICS = Topics(events="ev", contributions="co", kpi="kpi", dlq="dlq",
                dossiers_changelog="dossiers-cl", applied_changelog="applied-cl")


@dataclass(frozen=True)
class Ack:
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Sent:
    topic: str
    key: bytes | None
    value: bytes
    partition: int | None
    headers: list[tuple[str, bytes]] | None


class FakeProducer(Producer):
    """Records what is sent; every delivery resolves at once with increasing offsets per
    (topic, partition), or fails with ``fail`` when set."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.fail: Exception | None = None
        self.flushes = 0
        self._offsets: dict[tuple[str, int], int] = {}

    def _delivery(self, topic: str, partition: int, n: int = 1) -> Delivery:
        fut: Delivery = asyncio.get_running_loop().create_future()
        if self.fail is not None:
            fut.set_exception(self.fail)
            return fut
        first = self._offsets.get((topic, partition), 0)
        self._offsets[(topic, partition)] = first + n
        fut.set_result(Ack(topic, partition, first))
        return fut

    async def send(self, topic: str, key: bytes | None, value: bytes,
                   partition: int | None = None,
                   headers: list[tuple[str, bytes]] | None = None) -> Delivery:
        self.sent.append(Sent(topic, key, value, partition, headers))
        return self._delivery(topic, partition if partition is not None else 0)

    async def send_rows(self, topic: str, rows: list[Row]) -> list[Delivery]:
        out = []
        for k, v, p in rows:
            self.sent.append(Sent(topic, k, v, p, None))
            out.append(self._delivery(topic, p))
        return out

    async def flush(self) -> None:
        self.flushes += 1

    def to(self, topic: str) -> list[Sent]:
        return [s for s in self.sent if s.topic == topic]


@dataclass
class FakeChangelogs(ChangelogSource):
    """Changelogs as dicts: topic → {key: (value, partition)}; ends per topic. Or, for a
    topic in ``logs``, as a log of (key, value, partition) records whose offsets are their
    positions within their partition (ends: the lengths), read from ``start``."""

    rows: dict[str, dict[bytes, tuple[bytes, int]]] = field(default_factory=dict)
    ends: dict[str, dict[int, int]] = field(default_factory=dict)
    reads: list[tuple[str, frozenset[int]]] = field(default_factory=list)
    gate: asyncio.Event | None = None
    logs: dict[str, list[tuple[bytes, bytes, int]]] = field(default_factory=dict)
    records_read: int = 0

    async def read(self, topic: str, partitions: set[int],
                   start: Mapping[int, int] | None = None
                   ) -> tuple[dict[bytes, bytes], dict[int, int]]:
        self.reads.append((topic, frozenset(partitions)))
        if self.gate is not None:
            await self.gate.wait()
        if topic in self.logs:
            rows: dict[bytes, bytes] = {}
            ends: dict[int, int] = {}
            for k, v, p in self.logs[topic]:
                offset = ends.get(p, 0)
                ends[p] = offset + 1
                if p in partitions and offset >= (start or {}).get(p, 0):
                    rows[k] = v
                    self.records_read += 1
            return rows, {p: e for p, e in ends.items() if p in partitions}
        rows = {k: v for k, (v, p) in self.rows.get(topic, {}).items() if p in partitions}
        ends = {p: e for p, e in self.ends.get(topic, {}).items() if p in partitions}
        return rows, ends


@dataclass(frozen=True)
class Rec:
    """A consumed record (the fields of aiokafka's ConsumerRecord the pipeline reads)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


def _received(subject: str = "HS1", unit: str = "U1", id_: str = "r1") -> bytes:
    return orjson.dumps(event_dict(
        "dossier.received", "2025-06-15T08:00:00+07:00", subject, id_=id_, unit_code=unit,
        unit_level="commune", procedure_code="P", channel="online",
        due_at="2025-06-20T17:00:00+07:00"))


def _event(value: bytes, key: bytes | None, offset: int = 0, partition: int = 0) -> Rec:
    return Rec(TOPICS.events, partition, offset, key, value)


def _pipeline(changelogs: FakeChangelogs | None = None) -> tuple[Pipeline, FakeProducer]:
    producer = FakeProducer()
    clock = iter(T0 + 86400 + i for i in range(1_000_000))
    pipeline = Pipeline(TOPICS, producer, changelogs or FakeChangelogs(),
                        clock=lambda: next(clock))
    return pipeline, producer


async def _ready(pipeline: Pipeline, parts: set[int] | None = None) -> None:
    assert await pipeline.recover(parts or {0}, parts or {0})


@sync
async def test_a_tracked_batch_sends_contributions_and_changelog_rows() -> None:
    pipeline, producer = _pipeline()
    await _ready(pipeline)
    assert await pipeline.handle_track([_event(_received(), b"HS1", 0)])
    [row] = producer.to(TOPICS.dossiers_changelog)
    assert row.key == b"HS1" and row.partition == 0
    assert orjson.loads(row.value)["u"] == "U1"
    [contribution] = producer.to(TOPICS.contributions)
    assert contribution.key == b"U1"
    [[code, version, level, rows]] = decode_entries(contribution.value)
    assert (code, level) == ("HS1", "commune") and rows and version > 0
    assert pipeline.stats["events"] == 1
    # a duplicate changes no fact: no changelog row, but the contribution is re-sent
    assert await pipeline.handle_track([_event(_received(), b"HS1", 1)])
    assert len(producer.to(TOPICS.dossiers_changelog)) == 1
    assert len(producer.to(TOPICS.contributions)) == 2
    assert pipeline.written[(TOPICS.contributions, 0)] == 1


@sync
async def test_an_invalid_event_becomes_a_dead_letter() -> None:
    pipeline, producer = _pipeline()
    await _ready(pipeline)
    await pipeline.track_batch([_event(b"not json at all", None, offset=7)])
    [dead] = producer.to(TOPICS.dlq)
    letter = DeadLetter.decode(dead.value)
    assert letter.raw == b"not json at all"
    assert (letter.topic, letter.partition, letter.offset) == (TOPICS.events, 0, 7)
    assert dead.headers and dead.headers[0][0].endswith("reason")
    assert not producer.to(TOPICS.contributions)
    assert pipeline.stats["dead"] == 1


@sync
async def test_an_event_under_the_wrong_key_is_resent_keyed_by_its_subject() -> None:
    pipeline, producer = _pipeline()
    await _ready(pipeline)
    value = _received("HS9")
    await pipeline.track_batch([_event(value, b"other")])
    [resent] = producer.to(TOPICS.events)
    assert (resent.key, resent.value) == (b"HS9", value)
    assert not pipeline.tracker.dossiers
    assert pipeline.stats["rekeyed"] == 1


@sync
async def test_a_failed_delivery_raises() -> None:
    pipeline, producer = _pipeline()
    await _ready(pipeline)
    producer.fail = OSError("broker gone")
    with pytest.raises(DeliveryFailed) as raised:
        await pipeline.handle_track([_event(_received(), b"HS1")])
    assert isinstance(raised.value.__cause__, OSError)
    assert pipeline.stats["events"] == 0


@sync
async def test_a_changelog_ending_before_what_was_written_raises_log_lost() -> None:
    changelogs = FakeChangelogs()
    pipeline, _ = _pipeline(changelogs)
    await _ready(pipeline)
    await pipeline.track_batch([_event(_received("A"), b"A"), _event(_received("B", id_="r2"),
                                                                     b"B", 1)])
    assert pipeline.written[(TOPICS.dossiers_changelog, 0)] == 1
    await pipeline.revoke()
    changelogs.ends[TOPICS.dossiers_changelog] = {0: 2}  # both rows there: fine
    assert await pipeline.recover({0}, {0})
    await pipeline.revoke()
    changelogs.ends[TOPICS.dossiers_changelog] = {0: 1}  # the broker lost the second
    with pytest.raises(LogLost, match="the broker lost records of dossiers-cl"):
        await pipeline.recover({0}, {0})
    assert not pipeline.ready
    pipeline.check_not_lost(TOPICS.dossiers_changelog, {1}, {})  # not written there: fine
    with pytest.raises(LogLost):  # a missing topic ends at 0
        pipeline.check_not_lost(TOPICS.dossiers_changelog, {0}, {})


@sync
async def test_aggregate_applies_only_newer_versions() -> None:
    pipeline, producer = _pipeline()
    await _ready(pipeline)
    rows = [[["2025-06"], ["received"]]]

    def message(version: int, offset: int) -> Rec:
        return Rec(TOPICS.contributions, 0, offset, b"U1",
                   encode_entries([["HS1", version, "commune", rows]]))

    await pipeline.aggregate_batch([message(5, 0)])
    [row] = producer.to(TOPICS.applied_changelog)
    assert row.key == b"U1\x1fHS1" and orjson.loads(row.value)["v"] == 5
    counts = {b: list(c.values) for b, c in pipeline.aggregator.counters.items()}
    await pipeline.aggregate_batch([message(4, 1), message(5, 2)])  # older, replayed
    assert len(producer.to(TOPICS.applied_changelog)) == 1
    assert {b: list(c.values) for b, c in pipeline.aggregator.counters.items()} == counts
    assert pipeline.stats["contributions"] == 3


@sync
async def test_publish_sends_the_changed_buckets_only() -> None:
    pipeline, producer = _pipeline()
    await _ready(pipeline)
    await pipeline.aggregate_batch([Rec(TOPICS.contributions, 0, 0, b"U1", encode_entries(
        [["HS1", 1, "commune", [[["2025-06", "2025-Q2"], ["received"]]]]]))])
    await pipeline.publish()
    keys = sorted(s.key for s in producer.to(TOPICS.kpi) if s.key)
    assert keys == [b"U1|2025-06", b"U1|2025-Q2"]
    report = orjson.loads(producer.to(TOPICS.kpi)[0].value)
    assert report["counts"]["received"] == 1
    await pipeline.publish()  # nothing changed since
    assert len(producer.to(TOPICS.kpi)) == 2
    await pipeline.aggregate_batch([Rec(TOPICS.contributions, 0, 1, b"U1", encode_entries(
        [["HS2", 1, "commune", [[["2025-06"], ["received"]]]]]))])
    producer.fail = OSError("broker gone")
    with pytest.raises(DeliveryFailed):
        await pipeline.publish()
    assert pipeline.aggregator.dirty == {("U1", "2025-06")}  # sent again next time


@sync
async def test_nothing_is_taken_before_recovery_and_a_revoked_rebuild_is_dropped() -> None:
    gate = asyncio.Event()
    changelogs = FakeChangelogs(gate=gate)
    pipeline, producer = _pipeline(changelogs)
    assert not await pipeline.handle_track([_event(_received(), b"HS1")])
    await pipeline.sweep()
    await pipeline.publish()
    assert not producer.sent
    rebuild = asyncio.ensure_future(pipeline.recover({0}, {0}))
    await asyncio.sleep(0)
    await pipeline.revoke()  # a rebalance while the changelogs are read
    gate.set()
    assert not await rebuild
    assert not pipeline.ready
    assert await pipeline.recover({0}, {0})
    assert await pipeline.handle_track([_event(_received(), b"HS1")])


@sync
async def test_recover_reads_each_changelog_once_and_rebuilds_the_owned_partitions() -> None:
    source, _ = _pipeline()
    await _ready(source, {0, 1})
    await source.track_batch([_event(_received("A"), b"A", 0, 0),
                              _event(_received("B", id_="r2"), b"B", 0, 1)])
    await source.aggregate_batch([Rec(TOPICS.contributions, 1, 0, b"U1", encode_entries(
        [["B", 1, "commune", [[["2025-06"], ["received"]]]]]))])
    sent: FakeProducer = source.producer  # type: ignore[assignment]
    changelogs = FakeChangelogs(rows={
        t: {s.key or b"": (s.value, s.partition or 0) for s in sent.to(t)}
        for t in (TOPICS.dossiers_changelog, TOPICS.applied_changelog)})
    pipeline, producer = _pipeline(changelogs)
    assert await pipeline.recover({1}, {1})
    assert changelogs.reads == [(TOPICS.dossiers_changelog, frozenset({1})),
                                (TOPICS.applied_changelog, frozenset({1}))]
    assert sorted(pipeline.tracker.dossiers) == ["B"]
    assert sorted(pipeline.aggregator.applied) == ["U1\x1fB"]
    await pipeline.publish()  # every rebuilt bucket is published again
    assert [s.key for s in producer.to(TOPICS.kpi)] == [b"U1|2025-06"]


def test_the_fakes_subclass_the_ports() -> None:
    assert issubclass(FakeProducer, Producer)
    assert issubclass(FakeChangelogs, ChangelogSource)


# ------------------------------------------------------------- with a unit registry


def _merger_lines() -> list[bytes]:
    """Commune 30001 receives on 20/6/2025 (in force until 30/6); resolved on 10/7, by
    its successor 29901 (tests.unit.test_dossier_v11.REGISTRY)."""
    return [orjson.dumps(received_dict("2025-06-20T09:00:00+07:00", "HS1", "30001",
                                       "commune", id_="r1")),
            orjson.dumps(event_dict("dossier.resolved", "2025-07-10T09:00:00+07:00", "HS1",
                                    id_="d1"))]


AUG_1 = local_instant(date(2025, 8, 1))


def _registered(registry: UnitRegistry | None, changelogs: FakeChangelogs | None = None,
                start: float = AUG_1) -> tuple[Pipeline, FakeProducer]:
    producer = FakeProducer()
    clock = iter(start + i for i in range(1_000_000))
    return Pipeline(TOPICS, producer, changelogs or FakeChangelogs(),
                    clock=lambda: next(clock), registry=registry), producer


async def _through(pipeline: Pipeline, producer: FakeProducer, offset: int = 0) -> int:
    """Aggregate every contributions message sent so far from ``offset`` on; the next."""
    sent = producer.to(TOPICS.contributions)
    await pipeline.aggregate_batch([Rec(TOPICS.contributions, 0, offset + i, s.key, s.value)
                                    for i, s in enumerate(sent[offset:])])
    return len(sent)


@sync
async def test_snapshots_of_own_figures_and_totals_with_names_and_levels() -> None:
    registry = UnitRegistry.load(_registry_file())
    pipeline, producer = _registered(registry)
    await _ready(pipeline)
    await pipeline.track_batch([_event(line, b"HS1", i) for i, line in
                                enumerate(_merger_lines())])
    assert sorted(s.key or b"" for s in producer.to(TOPICS.contributions)) == [
        b"29901", b"30001", b"82\x1e", b"87\x1e", b"870\x1e"]
    await _through(pipeline, producer)
    await pipeline.publish()
    reports = {s.key: orjson.loads(s.value) for s in producer.to(TOPICS.kpi)}
    june_total = reports[b"87|2025-06|total"]
    assert (june_total["unit"], june_total["scope"], june_total["view"]) == (
        "87", "total", "as_was")
    assert (june_total["unit_name"], june_total["level"]) == ("Tỉnh Đồng Tháp (cũ)",
                                                              "province")
    assert reports[b"30001|2025-06"]["scope"] == "own"
    assert reports[b"30001|2025-06"]["unit_name"] == "Xã Tân Thành A"
    # a commune that ceased on 30/6 keeps its last name for the year
    assert reports[b"30001|2025"]["unit_name"] == "Xã Tân Thành A"
    assert reports[b"82|2025|total"]["unit_name"] == "Tỉnh Đồng Tháp"
    want = batch_reports(fold_lines(_merger_lines()), AUG_1, registry)
    got = {report_bucket(r): r for r in reports.values()}
    assert not differences(got, want)
    assert ("87\x1e", "2025-06") in got and ("30001", "2025-06") in got


def _registry_file() -> Path:
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="units-")) / "units.csv"
    path.write_text(REGISTRY, encoding="utf-8")
    return path


@sync
async def test_a_restart_with_another_registry_re_emits_and_retracts() -> None:
    """Registry A (the merger) then none: after the restart the dossier's row is of another
    registry, so it is due at once; the sweep retracts the totals and the successor, then
    writes its row under the new fingerprint; the live figures equal the batch."""
    registry = UnitRegistry.load(_registry_file())
    first, sent_a = _registered(registry)
    await _ready(first)
    await first.track_batch([_event(line, b"HS1", i) for i, line in
                             enumerate(_merger_lines())])
    await _through(first, sent_a)
    changelogs = FakeChangelogs(rows={
        t: {s.key or b"": (s.value, s.partition or 0) for s in sent_a.to(t)}
        for t in (TOPICS.dossiers_changelog, TOPICS.applied_changelog)})
    assert orjson.loads(changelogs.rows[TOPICS.dossiers_changelog][b"HS1"][0])["r"] == (
        registry_fingerprint(registry))

    second, sent_b = _registered(None, changelogs, AUG_1 + 3600)
    assert await second.recover({0}, {0})
    assert second.tracker.stale == {"HS1"}
    await second.sweep()
    retracted = sorted(s.key or b"" for s in sent_b.to(TOPICS.contributions)
                       if decode_entries(s.value)[0][3] == [])
    assert retracted == [b"29901", b"82\x1e", b"87\x1e", b"870\x1e"]
    [row] = sent_b.to(TOPICS.dossiers_changelog)  # after the entries, no longer stale
    assert sent_b.sent.index(row) > max(sent_b.sent.index(s)
                                        for s in sent_b.to(TOPICS.contributions))
    assert orjson.loads(row.value)["u"] == "30001" and "r" not in orjson.loads(row.value)
    assert not second.tracker.stale
    await _through(second, sent_b)
    await second.publish()
    got = {report_bucket(orjson.loads(s.value)): orjson.loads(s.value)
           for s in sent_b.to(TOPICS.kpi)}
    assert not differences(got, batch_reports(fold_lines(_merger_lines()), AUG_1 + 3600))
    for r in got.values():  # no registry: no names; the old totals are published as zeros
        assert "unit_name" not in r
        assert r["scope"] == "own" or not any(r["counts"].values())
    assert any(r["scope"] == "total" for r in got.values())


@sync
async def test_a_sweep_onto_a_new_key_writes_the_row_ahead_and_after() -> None:
    """No registry, then the merger registry: the re-emission sends to keys the row does
    not name, so the row naming them is delivered before the entries ("a": a restore in
    between re-emits), and the plain row after them."""
    first, sent_a = _registered(None)
    await _ready(first)
    await first.track_batch([_event(line, b"HS1", i) for i, line in
                             enumerate(_merger_lines())])
    changelogs = FakeChangelogs(rows={TOPICS.dossiers_changelog: {
        s.key or b"": (s.value, s.partition or 0)
        for s in sent_a.to(TOPICS.dossiers_changelog)}})
    registry = UnitRegistry.load(_registry_file())
    second, sent_b = _registered(registry, changelogs, AUG_1 + 3600)
    assert await second.recover({0}, {0})
    await second.sweep()
    kinds = [("row" if s.topic == TOPICS.dossiers_changelog else "entries")
             for s in sent_b.sent if s.topic != TOPICS.kpi]
    assert kinds[0] == "row" and kinds[-1] == "row" and set(kinds[1:-1]) == {"entries"}
    ahead, after = (orjson.loads(s.value) for s in sent_b.to(TOPICS.dossiers_changelog))
    assert ahead["a"] is True and "a" not in after
    assert ahead["u"] == after["u"] == "29901\x1f30001\x1f82\x1e\x1f87\x1e\x1f870\x1e"
    assert ahead["r"] == after["r"] == registry_fingerprint(registry)


class GatedProducer(FakeProducer):
    """A :class:`FakeProducer` whose sends wait for :attr:`gate` (open at first);
    :attr:`waiting` counts the sends waiting now."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.waiting = 0

    async def send(self, topic: str, key: bytes | None, value: bytes,
                   partition: int | None = None,
                   headers: list[tuple[str, bytes]] | None = None) -> Delivery:
        self.waiting += 1
        await self.gate.wait()
        self.waiting -= 1
        return await super().send(topic, key, value, partition, headers)


@pytest.mark.parametrize("timer", ["sweep", "publish"])
def test_a_revocation_waits_for_a_sweep_or_a_publication_in_progress(timer: str) -> None:
    """The sweep and the publication hold the pipeline's lock across their sends, as a
    batch does: a revocation that comes while one waits for the broker drops the state
    only after it has ended (docs/decisions/streams-engine-modules.md)."""
    asyncio.run(_revoked_during(timer))


async def _revoked_during(timer: str) -> None:
    producer = GatedProducer()
    now = [T0 + 86400]
    pipeline = Pipeline(TOPICS, producer, FakeChangelogs(), clock=lambda: now[0])
    await _ready(pipeline)
    assert await pipeline.handle_track([_event(_received(), b"HS1", 0)])
    assert await pipeline.handle_aggregate([  # what the tracker sent, read back
        Rec(TOPICS.contributions, 0, i, s.key, s.value)
        for i, s in enumerate(producer.to(TOPICS.contributions))])
    assert pipeline.aggregator.dirty  # buckets for the publication
    now[0] += 90 * 86400  # past its due instant and two month starts: due for a sweep
    producer.gate.clear()
    work = asyncio.ensure_future(getattr(pipeline, timer)())
    for _ in range(100):
        if producer.waiting:
            break
        await asyncio.sleep(0)
    assert producer.waiting, f"the {timer} sent nothing"
    revocation = asyncio.ensure_future(pipeline.revoke())
    for _ in range(10):
        await asyncio.sleep(0)
    assert not revocation.done() and pipeline.ready
    producer.gate.set()
    await work
    await revocation
    assert not pipeline.ready and not pipeline.tracker.dossiers


@sync
async def test_a_sweep_takes_at_most_max_swept_and_leaves_the_rest_due() -> None:
    import streams.pipeline

    pipeline, producer = _pipeline()
    await _ready(pipeline)
    await pipeline.track_batch([_event(_received(f"H{i}", id_=f"r{i}"), f"H{i}".encode(), i)
                                for i in range(5)])
    for rec in pipeline.tracker.dossiers.values():
        pipeline.tracker.schedule(rec, T0)  # all due
    kept, streams.pipeline.MAX_SWEPT = streams.pipeline.MAX_SWEPT, 2
    try:
        for swept in (2, 4, 5, 5):
            await pipeline.sweep()
            assert pipeline.stats["swept"] == swept
    finally:
        streams.pipeline.MAX_SWEPT = kept


@sync
async def test_a_petition_links_its_dossier_through_the_links_topic() -> None:
    """A petition naming dossier HS1 makes the tracker send a link keyed HS1 (on a
    duplicate not again once acknowledged, but again by a restarted worker: a link lost in
    a crash is resent); folding that link record changes HS1's
    contribution — it is counted in ``dossiers_petitioned`` — and a second copy changes
    nothing."""
    pipeline, producer = _pipeline()
    await _ready(pipeline)
    await pipeline.track_batch([_event(_received(), b"HS1", 0)])
    [used] = producer.to(TOPICS.links)  # an online dossier: a link to its catalog entry
    assert used.key == b"U1/P"
    petition = orjson.dumps(event_dict(
        "petition.received", "2025-06-16T09:00:00+07:00", "PAKN1", id_="p1", unit_code="U1",
        unit_level="commune", due_at="2025-06-26T17:00:00+07:00", dossier_code="HS1"))
    await pipeline.track_batch([_event(petition, b"PAKN1", 1)])
    [link] = producer.to(TOPICS.links)[1:]
    assert link.key == b"HS1"
    await pipeline.track_batch([_event(petition, b"PAKN1", 2)])  # a duplicate
    assert len(producer.to(TOPICS.links)) == 2  # acknowledged before: not sent again
    assert pipeline.stats["links_known"] == 1
    restarted, resent = _pipeline()  # a worker after a crash knows nothing sent: resends
    await _ready(restarted)
    await restarted.track_batch([_event(petition, b"PAKN1", 2)])
    assert [r.value for r in resent.to(TOPICS.links)] == [link.value]
    before = len(producer.to(TOPICS.contributions))
    await pipeline.track_batch([Rec(TOPICS.links, 0, 0, link.key, link.value)])
    [entry] = [e for s in producer.to(TOPICS.contributions)[before:]
               if s.key == b"U1" for e in decode_entries(s.value) if e[0] == "HS1"]
    assert any("dossiers_petitioned" in keys for _periods, keys in entry[3])
    rows = len(producer.to(TOPICS.dossiers_changelog))
    await pipeline.track_batch([Rec(TOPICS.links, 0, 1, link.key, link.value)])
    assert len(producer.to(TOPICS.dossiers_changelog)) == rows  # the same fact: no change


def _received_at(subject: str, time: str, id_: str) -> bytes:
    return orjson.dumps(event_dict(
        "dossier.received", time, subject, id_=id_, unit_code="U1", unit_level="commune",
        procedure_code="P", channel="online", due_at="2025-06-27T17:00:00+07:00"))


@sync
async def test_a_link_that_cannot_win_is_not_sent_again() -> None:
    """Hand-worked: three online dossiers of procedure P at desk U1 in June 2025, received
    on the 15th (HS1), the 16th (HS2) and the 14th (HS3). Each gives catalog entry U1/P the
    link ``used online 2025-06``; the entry keeps the earliest copy. HS1's is sent; HS2's
    (later) cannot win over it and is not; HS3's (earlier) can and is. A link not
    acknowledged is not remembered: the next batch sends it again."""
    pipeline, producer = _pipeline()
    await _ready(pipeline)
    await pipeline.track_batch([_event(_received_at("HS1", "2025-06-15T08:00:00+07:00", "a"),
                                       b"HS1", 0)])
    await pipeline.track_batch([_event(_received_at("HS2", "2025-06-16T08:00:00+07:00", "b"),
                                       b"HS2", 1)])
    await pipeline.track_batch([_event(_received_at("HS3", "2025-06-14T08:00:00+07:00", "c"),
                                       b"HS3", 2)])
    sent = [decode_link(r.value)[1][-1] for r in producer.to(TOPICS.links)]
    assert sent == ["HS1", "HS3"]
    assert pipeline.stats["links_known"] == 1
    # an unacknowledged link is not remembered
    pipeline, producer = _pipeline()
    await _ready(pipeline)
    producer.fail = OSError("broker gone")
    with pytest.raises(DeliveryFailed):
        await pipeline.track_batch([_event(_received_at("HS1", "2025-06-15T08:00:00+07:00",
                                                        "a"), b"HS1", 0)])
    assert pipeline.links_sent == {}


class CountingArchive(Archive):
    """Retired rows in a dict; counts the queries."""

    def __init__(self, rows: dict[tuple[str, int, str], bytes]) -> None:
        self.rows = rows
        self.gets = 0
        self.many: list[int] = []

    def get(self, table: str, part: int, key: str) -> bytes | None:
        self.gets += 1
        return self.rows.get((table, part, key))

    def get_many(self, table: str, part: int, keys: list[str]) -> dict[str, bytes]:
        self.many.append(len(keys))
        return {k: self.rows[(table, part, k)] for k in keys if (table, part, k) in self.rows}


@sync
async def test_a_batch_asks_the_archive_once_per_partition() -> None:
    """A batch of five receipts on two partitions (one of them a retired dossier's late
    duplicate) reads the archive with one query per partition, none per dossier; the
    retired dossier comes back with its facts."""
    pipeline, producer = _pipeline()
    await _ready(pipeline, {0, 1})
    await pipeline.track_batch([_event(_received("HS9", id_="r9"), b"HS9", 0, 1)])
    rec = pipeline.tracker.dossiers.pop("HS9")
    packed = rec.packed
    archive = CountingArchive({("dossier", 1, "HS9"): pipeline.tracker.row(rec, T0 + 86400,
                                                                           retired=True)})
    pipeline.tracker.archive = archive
    batch = [_event(_received(f"HS{i}", id_=f"r{i}"), f"HS{i}".encode(), i, i % 2)
             for i in range(1, 5)] + [_event(_received("HS9", id_="r9"), b"HS9", 5, 1)]
    await pipeline.track_batch(batch)
    assert archive.gets == 0
    assert sorted(archive.many) == [2, 3]
    assert pipeline.tracker.revived == 1
    assert pipeline.tracker.dossiers["HS9"].packed == packed
    assert pipeline.tracker.absent == set()
