"""streams.core without a broker: versions, idempotent aggregation, due sweep."""

from __future__ import annotations

import orjson

from kpi.units import CalendarBook
from schemas.events import Event
from schemas.validate import parse_obj
from streams.core import Aggregator, Tracker, Versions
from tests.eventkit import event_dict

T0 = 1_750_000_000.0  # 2025-06-15


def _received(eid: str = "r1", unit: str = "U1",
              due: str = "2025-06-20T17:00:00+07:00") -> Event:
    return parse_obj(event_dict(
        "dossier.received", "2025-06-15T08:00:00+07:00", "HS1", "s", eid, unit_code=unit,
        unit_level="commune", procedure_code="P", channel="online", due_at=due))


def test_versions_strictly_increase_and_follow_the_clock() -> None:
    clock = iter([1.0, 1.0, 0.5, 3.0])
    v = Versions(lambda: next(clock))
    a, b, c = v.next(0), v.next(0), v.next(0)
    assert a < b < c
    assert v.next(c) == 3_000_000


def test_replayed_and_older_versions_change_nothing() -> None:
    tracker, agg = Tracker(CalendarBook()), Aggregator()
    rec, changed = tracker.apply(_received(), 0)
    assert changed
    [(unit, entry)] = tracker.emit(rec, T0 + 86400)
    assert agg.apply(unit, entry, 0) is not None
    snapshot = {b: list(c.values) for b, c in agg.counters.items()}
    assert agg.apply(unit, entry, 0) is None  # replay
    rec, changed = tracker.apply(_received(), 0)  # duplicate event
    assert not changed
    [(_, newer)] = tracker.emit(rec, T0 + 86400)
    assert newer[1] > entry[1]
    agg.apply(unit, newer, 0)
    assert {b: list(c.values) for b, c in agg.counters.items()} == snapshot
    assert agg.counters[("U1", "2025-06")]["received"] == 1


def test_rebuild_from_rows_equals_live_counters() -> None:
    tracker, agg = Tracker(CalendarBook()), Aggregator()
    rec, _ = tracker.apply(_received(), 1)
    rows = {}
    for unit, entry in tracker.emit(rec, T0 + 86400):
        key, value = agg.apply(unit, entry, 1)
        rows[key] = value
    again = Aggregator()
    for key, value in rows.items():
        again.restore(key, value, {1})
    assert {b: c.values for b, c in again.counters.items()} == {
        b: c.values for b, c in agg.counters.items()}
    other = Aggregator()
    for key, value in rows.items():
        other.restore(key, value, {0})  # not our partition
    assert not other.counters


def test_due_instant_is_scheduled_and_turns_overdue() -> None:
    tracker, agg = Tracker(CalendarBook()), Aggregator()
    rec, _ = tracker.apply(_received(due="2025-06-15T09:00:00+07:00"), 0)
    now = T0  # 2025-06-15 ~22:13 local: past the 09:00 due instant
    start = parse_obj(event_dict(
        "dossier.digitized", "2025-06-15T08:30:00+07:00", "HS1", "s", "x",
        components_total=1, components_digitized=1)).time.timestamp()
    for unit, entry in tracker.emit(rec, start):
        agg.apply(unit, entry, 0)
    assert agg.counters[("U1", "2025-06")]["in_progress_overdue"] == 0
    assert rec.due is not None and rec.due <= now
    [due_rec] = list(tracker.due(now))
    for unit, entry in tracker.emit(due_rec, now):
        agg.apply(unit, entry, 0)
    assert agg.counters[("U1", "2025-06")]["in_progress_overdue"] == 1


def test_applied_table_row_is_the_json_of_version_level_rows_partition() -> None:
    agg = Aggregator()
    rows = [[["2025-04", "2025-Q2", "2025"], ["received", "received_online"]]]
    for level in ("commune", None):
        key, value = agg.apply("U" + str(level), ["HS-1", 7, level, rows], 3)
        assert key == f"U{level}\x1fHS-1"
        assert orjson.loads(value) == {"v": 7, "l": level, "r": rows, "p": 3}
