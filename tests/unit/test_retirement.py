"""Retirement and restart from the local state (streams.pipeline with a real
streams.localstate.LocalState on SQLite; the fake producer and changelogs of
test_pipeline): closed dossiers leave memory, late events for them (a rating, a payment, a
digitization after completion) are read back and counted exactly as the batch report
counts them, and a restart reads only the changelogs' tail after the local state."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest

from kpi.batch import fold_lines
from kpi.reconcile import batch_reports, differences
from kpi.report import report_bucket
from schemas.errors import LogLost
from streams.localstate import APPLIED, DOSSIER, LocalState
from streams.pipeline import DAY, Pipeline
from streams.wire import is_retired_row
from tests.eventkit import event_dict, received_dict
from tests.unit.test_pipeline import TOPICS, FakeChangelogs, FakeProducer, Rec

PARTS = {0, 1}
START = 1_760_000_000.0  # 2025-10-09: every event below is months older
LATE_HORIZON = START + 10 * DAY


def sync(test: Callable[[Path], Coroutine[Any, Any, None]]) -> Callable[[Path], None]:
    """Run an async test taking ``tmp_path`` in a fresh event loop."""
    def run(tmp_path: Path) -> None:
        asyncio.run(test(tmp_path))
    run.__name__ = test.__name__
    run.__doc__ = test.__doc__
    return run


def _part(key: bytes) -> int:
    return zlib.crc32(key) % 2


def _closed(n: int) -> list[bytes]:
    """``n`` dossiers received and resolved in June 2025; every third paid a fee."""
    out = []
    for i in range(n):
        code = f"HS{i:03d}"
        out.append(orjson.dumps(received_dict(
            f"2025-06-{2 + i % 20:02d}T08:00:00+07:00", code, unit=f"U{i % 3}",
            level="commune", id_=f"r{i}", fee_required=i % 3 == 0)))
        out.append(orjson.dumps(event_dict("dossier.resolved",
                                           f"2025-06-{3 + i % 20:02d}T10:00:00+07:00", code,
                                           id_=f"d{i}", result_electronic=i % 2 == 0)))
    return out


def _late() -> list[bytes]:
    """Events for closed dossiers after their completion, and a duplicate."""
    out = [orjson.dumps(event_dict("feedback.rated", "2025-07-01T09:00:00+07:00", f"HS{i:03d}",
                                   id_=f"f{i}", rating=["satisfied", "dissatisfied"][i % 2]))
           for i in range(6)]
    out.append(orjson.dumps(event_dict("payment.completed", "2025-07-02T09:00:00+07:00",
                                       "HS003", id_="p3", amount_vnd=50000,
                                       method="online")))
    out.append(orjson.dumps(event_dict("dossier.digitized", "2025-07-03T09:00:00+07:00",
                                       "HS007", id_="g7", components_total=2,
                                       components_digitized=2)))
    out.append(_closed(9)[16])  # HS008's receipt again: no change
    return out


class Run:
    """A pipeline over a local state file, its producer, and changelogs that are the log of
    what it wrote."""

    def __init__(self, path: Path, changelogs: FakeChangelogs | None = None,
                 retire_after: float = 0.0, start: float = START) -> None:
        self.producer = FakeProducer()
        self.changelogs = changelogs or FakeChangelogs(logs={TOPICS.dossiers_changelog: [],
                                                              TOPICS.applied_changelog: []})
        self.local = LocalState(path)
        clock = iter(start + i for i in range(1_000_000))
        self.pipeline = Pipeline(TOPICS, self.producer, self.changelogs,
                                 clock=lambda: next(clock), local=self.local,
                                 retire_after=retire_after)
        self._events = 0
        self._contributions = 0

    async def feed(self, lines: Iterable[bytes]) -> None:
        """Track the lines (one batch, keyed by subject), then aggregate every
        contributions message sent meanwhile, then publish."""
        recs = []
        for line in lines:
            key = orjson.loads(line)["subject"].encode()
            recs.append(Rec(TOPICS.events, _part(key), self._events, key, line))
            self._events += 1
        await self.pipeline.track_batch(recs)
        await self.sweep_and_aggregate()

    async def sweep_and_aggregate(self) -> None:
        await self.pipeline.sweep()
        sent = self.producer.to(TOPICS.contributions)
        await self.pipeline.aggregate_batch([
            Rec(TOPICS.contributions, _part(s.key or b""), self._contributions + i, s.key,
                s.value) for i, s in enumerate(sent[self._contributions:])])
        self._contributions = len(sent)
        self._log()
        await self.pipeline.publish()

    def _log(self) -> None:
        for topic in (TOPICS.dossiers_changelog, TOPICS.applied_changelog):
            self.changelogs.logs[topic] = [(s.key or b"", s.value, s.partition or 0)
                                           for s in self.producer.to(topic)]

    def snapshots(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {report_bucket(orjson.loads(s.value)): orjson.loads(s.value)
                for s in self.producer.to(TOPICS.kpi)}


def _equal_to_batch(got: dict[tuple[str, str], dict[str, Any]], lines: list[bytes],
                    horizon: float) -> None:
    want = batch_reports(fold_lines(lines), horizon)
    assert want and not differences(got, want)


@sync
async def test_closed_dossiers_retire_and_late_events_count_as_in_the_batch(
        tmp_path: Path) -> None:
    run = Run(tmp_path / "s.sqlite")
    assert await run.pipeline.recover(PARTS, PARTS)
    closed = _closed(24)
    await run.feed(closed[::2])  # receipts: open dossiers stay in memory
    assert len(run.pipeline.tracker.dossiers) == 24
    # the aggregator's rows are in the local state, not in memory
    assert not run.pipeline.aggregator.applied
    assert run.local.count(APPLIED, retired=False) == run.local.count(APPLIED) > 0
    await run.feed(closed[1::2])  # completions: every dossier retires
    assert not run.pipeline.tracker.dossiers and not run.pipeline.aggregator.applied
    assert run.local.count(DOSSIER, retired=True) == 24
    assert run.local.count(APPLIED, retired=True) == run.local.count(APPLIED) > 0
    assert run.pipeline.stats["retired"] == 24
    _equal_to_batch(run.snapshots(), closed, LATE_HORIZON)

    late = _late()
    await run.feed(late)  # read back, counted, retired again
    assert run.pipeline.tracker.revived == 8  # HS000–HS005, HS007, HS008
    assert run.pipeline.aggregator.revived > 0
    assert not run.pipeline.tracker.dossiers and not run.pipeline.aggregator.applied
    _equal_to_batch(run.snapshots(), closed + late, LATE_HORIZON)
    rated = [orjson.loads(v) for k, v, _ in run.changelogs.logs[TOPICS.dossiers_changelog]
             if k == b"HS001"][-1]
    assert rated["x"] is True and len(rated["f"]) == 3  # received, resolved, rated


@sync
async def test_a_settled_dossier_retires_only_when_its_latest_fact_is_old_enough(
        tmp_path: Path) -> None:
    """Window 30 days; the clock starts 20 days after the completion: the dossier stays in
    memory, scheduled; a sweep 11 days later re-emits it with the retirement."""
    resolved = 1_749_000_000.0 + 2 * DAY  # 2025-06-06
    run = Run(tmp_path / "s.sqlite", retire_after=30 * DAY, start=resolved + 20 * DAY)
    assert await run.pipeline.recover(PARTS, PARTS)
    lines = [orjson.dumps(received_dict("2025-06-04T08:00:00+07:00", "HS1", id_="r1")),
             orjson.dumps(event_dict("dossier.resolved", "2025-06-06T08:00:00+07:00", "HS1",
                                     id_="d1"))]
    await run.feed(lines)
    rec = run.pipeline.tracker.dossiers["HS1"]
    assert rec.due is not None and rec.due > resolved + 20 * DAY
    run.pipeline.clock = lambda: resolved + 31 * DAY
    await run.sweep_and_aggregate()
    assert not run.pipeline.tracker.dossiers and not run.pipeline.aggregator.applied
    _equal_to_batch(run.snapshots(), lines, LATE_HORIZON)


@sync
async def test_a_future_dated_fact_keeps_a_closed_dossier_in_memory(tmp_path: Path) -> None:
    run = Run(tmp_path / "s.sqlite")
    assert await run.pipeline.recover(PARTS, PARTS)
    await run.feed(_closed(1) + [orjson.dumps(event_dict(
        "feedback.rated", "2026-06-01T09:00:00+07:00", "HS000", id_="f0",
        rating="satisfied"))])
    assert "HS000" in run.pipeline.tracker.dossiers  # its rating changes it later


async def _two_phases(tmp_path: Path) -> tuple[Run, list[bytes], int]:
    """A run fed closed dossiers, whose local state is copied; then late events and new
    dossiers. Returns the run, every line, and the changelog records written after the
    copy."""
    run = Run(tmp_path / "a.sqlite")
    assert await run.pipeline.recover(PARTS, PARTS)
    closed = _closed(24)
    await run.feed(closed)
    run.local.copy_to(tmp_path / "b.sqlite")
    before = sum(len(v) for v in run.changelogs.logs.values())
    more = _late() + _closed(30)[48:]  # and six new dossiers
    await run.feed(more)
    after = sum(len(v) for v in run.changelogs.logs.values())
    return run, closed + more, after - before


@sync
async def test_a_restart_reads_only_the_tail_after_the_local_state(tmp_path: Path) -> None:
    first, lines, tail = await _two_phases(tmp_path)
    assert tail > 0
    second = Run(tmp_path / "b.sqlite", changelogs=first.changelogs)
    first.changelogs.records_read = 0
    assert await second.pipeline.recover(PARTS, PARTS)
    assert first.changelogs.records_read == tail  # not the whole changelogs
    total = sum(len(v) for v in first.changelogs.logs.values())
    assert tail < total / 2
    assert not second.pipeline.tracker.dossiers  # everything closed: retired
    await second.pipeline.publish()  # every bucket, rebuilt
    _equal_to_batch(second.snapshots(), lines, LATE_HORIZON)
    # and it goes on: one more late rating, read back from the rebuilt local state
    rating = orjson.dumps(event_dict("feedback.rated", "2025-07-09T09:00:00+07:00", "HS010",
                                     id_="f10", rating="satisfied"))
    await second.feed([rating])
    snapshots = {**second.snapshots()}
    _equal_to_batch(snapshots, [*lines, rating], LATE_HORIZON)


@sync
async def test_a_changelog_ending_before_the_local_state_is_a_lost_log(
        tmp_path: Path) -> None:
    first, _, _ = await _two_phases(tmp_path)
    logs = first.changelogs.logs
    short = FakeChangelogs(logs={TOPICS.dossiers_changelog: logs[TOPICS.dossiers_changelog][:3],
                                 TOPICS.applied_changelog: logs[TOPICS.applied_changelog]})
    second = Run(tmp_path / "b.sqlite", changelogs=short)
    with pytest.raises(LogLost, match="dossiers-cl"):
        await second.pipeline.recover(PARTS, PARTS)


@sync
async def test_without_a_usable_local_state_the_whole_changelogs_are_read(
        tmp_path: Path) -> None:
    first, lines, _ = await _two_phases(tmp_path)
    total = sum(len(v) for v in first.changelogs.logs.values())
    (tmp_path / "c.sqlite").write_bytes(b"garbage" * 1000)
    for name, read in (("c.sqlite", total), ("b.sqlite", total)):
        changelogs = FakeChangelogs(logs=first.changelogs.logs)
        second = Run(tmp_path / name, changelogs=changelogs)
        if name == "b.sqlite":  # another registry wrote it
            second.pipeline.identity = {**second.pipeline.identity, "registry": "other"}
        assert await second.pipeline.recover(PARTS, PARTS)
        assert changelogs.records_read == read
        assert not second.pipeline.tracker.dossiers  # retired rows stay retired
        assert second.local.count(DOSSIER, retired=True) == 30
        await second.pipeline.publish()
        _equal_to_batch(second.snapshots(), lines, LATE_HORIZON)


@sync
async def test_partitions_the_local_state_does_not_hold_are_read_whole(
        tmp_path: Path) -> None:
    """The copy was taken while the first run owned partition 0 only (as after a
    rebalance): partition 1 is read whole, partition 0 from its tail."""
    first, lines, _ = await _two_phases(tmp_path)
    state = LocalState(tmp_path / "b.sqlite")
    marker = state.marker()
    assert marker is not None
    state.drop(DOSSIER, [1], {"identity": marker["identity"], "offsets": {
        DOSSIER: {0: marker["offsets"][DOSSIER][0]}, APPLIED: marker["offsets"][APPLIED]}})
    changelogs = FakeChangelogs(logs=first.changelogs.logs)
    second = Run(tmp_path / "b.sqlite", changelogs=changelogs)
    assert await second.pipeline.recover(PARTS, PARTS)
    whole = sum(1 for _, v, p in first.changelogs.logs[TOPICS.dossiers_changelog] if p == 1)
    assert changelogs.records_read >= whole
    codes = {k for k, _, p in first.changelogs.logs[TOPICS.dossiers_changelog] if p == 1}
    assert second.local.count(DOSSIER, 1, retired=True) == len(codes)
    assert all(is_retired_row(second.local.get(DOSSIER, 1, k.decode()) or b"{}")
               for k in codes)
    await second.pipeline.publish()
    _equal_to_batch(second.snapshots(), lines, LATE_HORIZON)


def test_retired_dossiers_leave_no_entry_in_the_due_heap(tmp_path: Path) -> None:
    """An open dossier is scheduled (the next month's start at least); once it retires,
    its heap entry would keep its code alive until then: the heap is rebuilt when stale
    entries outnumber the dossiers in memory (by HEAP_SLACK)."""
    import streams.tracker

    async def run() -> None:
        kept, streams.tracker.HEAP_SLACK = streams.tracker.HEAP_SLACK, 10
        try:
            r = Run(tmp_path / "s.sqlite")
            assert await r.pipeline.recover(PARTS, PARTS)
            closed = _closed(60)
            await r.feed(closed[::2])  # open: each scheduled
            assert len(r.pipeline.tracker._heap) >= 60
            await r.feed(closed[1::2])  # all retire
            tracker = r.pipeline.tracker
            assert not tracker.dossiers
            assert len(tracker._heap) <= 2 * len(tracker.dossiers) + 10
        finally:
            streams.tracker.HEAP_SLACK = kept

    asyncio.run(run())
