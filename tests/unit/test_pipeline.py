"""streams.pipeline.Pipeline without faust or a broker: a fake producer and a fake changelog
source that subclass the real ports."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from runtime.dlq import DeadLetter
from schemas.errors import DeliveryFailed, LogLost
from streams.core import decode_entries, encode_entries
from streams.pipeline import Pipeline, Topics
from streams.ports import ChangelogSource, Delivery, Producer, Row
from tests.eventkit import event_dict


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
    """Changelogs as dicts: topic → {key: (value, partition)}; ends per topic."""

    rows: dict[str, dict[bytes, tuple[bytes, int]]] = field(default_factory=dict)
    ends: dict[str, dict[int, int]] = field(default_factory=dict)
    reads: list[tuple[str, frozenset[int]]] = field(default_factory=list)
    gate: asyncio.Event | None = None

    async def read(self, topic: str, partitions: set[int]
                   ) -> tuple[dict[bytes, bytes], dict[int, int]]:
        self.reads.append((topic, frozenset(partitions)))
        if self.gate is not None:
            await self.gate.wait()
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
