"""streams.tracker and streams.aggregator without a broker: versions, idempotent
aggregation, due sweep, and counts attributed with a unit registry (own and total keys,
retractions, registry changes)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import orjson

from kpi.attribution import NO_REGISTRY, TOTAL, Attribution, split_scoped
from kpi.batch import aggregate
from kpi.calendar import local_instant
from kpi.dossier import DossierState
from kpi.registry import UnitRegistry
from kpi.units import CalendarBook
from schemas.events import Event
from schemas.validate import parse_obj
from streams.aggregator import Aggregator
from streams.tracker import Tracked, Tracker, Versions
from streams.units import UnitNames, registry_fingerprint
from streams.wire import join_keys, split_keys
from tests.eventkit import ev, event_dict, received
from tests.unit.test_dossier_v11 import REGISTRY, _registry

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
        applied = agg.apply(unit, entry, 1)
        assert applied is not None
        key, value = applied
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
        applied = agg.apply("U" + str(level), ["HS-1", 7, level, rows], 3)
        assert applied is not None
        key, value = applied
        assert key == f"U{level}\x1fHS-1"
        assert orjson.loads(value) == {"v": 7, "l": level, "r": rows, "p": 3}


def test_a_newer_version_moves_only_the_pairs_that_changed() -> None:
    """Worked by hand: version 1 counts HS-1 received in April (month, quarter, year) and
    resolved in May; version 2 keeps the receipt and moves the resolution to June. April,
    Q2 and 2025 hold the same counts, so only May and June change and only they are
    published and checkpointed again; a new level publishes every bucket the rows touch."""
    agg = Aggregator()
    receipt = [["2025-04", "2025-Q2", "2025"], ["received", "received_online"]]
    agg.apply("U", ["HS-1", 1, "commune", [receipt, [["2025-05"], ["resolved"]]]], 0)
    agg.take_dirty()
    agg.take_changed()
    agg.apply("U", ["HS-1", 2, "commune", [receipt, [["2025-06"], ["resolved"]]]], 0)
    assert agg.take_changed() == {("U", "2025-05"), ("U", "2025-06")}
    assert [(u, p) for u, p, _ in agg.take_dirty()] == [("U", "2025-05"), ("U", "2025-06")]
    counts = {p: {k: n for k, n in c.to_dict().items() if n}
              for (_, p), c in agg.counters.items()}
    assert counts == {"2025-04": {"received": 1, "received_online": 1},
                      "2025-Q2": {"received": 1, "received_online": 1},
                      "2025": {"received": 1, "received_online": 1},
                      "2025-05": {}, "2025-06": {"resolved": 1}}
    agg.apply("U", ["HS-1", 3, "ward", [receipt, [["2025-07"], ["resolved"]]]], 0)
    assert agg.take_changed() == {("U", "2025-04"), ("U", "2025-Q2"), ("U", "2025"),
                                  ("U", "2025-06"), ("U", "2025-07")}
    assert agg.levels["U"] == "ward"


# ------------------------------------------------------------- with a unit registry
# The registry of docs/contract.md's example (tests.unit.test_dossier_v11.REGISTRY): commune
# 30001 under district 870 under province 87 until 30/6/2025; from 1/7 commune 29901
# (successor of 30001) under province 82 (successor of 87 and 870).


def _live(tracker: Tracker, agg: Aggregator, rec: Tracked, now: float) -> list[str]:
    """Emit ``rec`` at ``now`` into ``agg``; the counter keys of the entries, in order."""
    out = tracker.emit(rec, now)
    for key, entry in out:
        agg.apply(key, entry, 0)
    return [key for key, _ in out]


def _split(agg: Aggregator, attribution: Attribution = NO_REGISTRY,
           now: float = float("inf")) -> tuple[dict, dict]:
    """The aggregator's non-zero counters as (own, totals) by (unit, period), as its
    snapshots show them at ``now`` (:meth:`Aggregator.published`)."""
    own: dict = {}
    totals: dict = {}
    for key, period in agg.counters:
        c = agg.published(key, period, attribution, now)
        counts = {k: v for k, v in c.to_dict().items() if v}
        if counts:
            unit, scope = split_scoped(key)
            (totals if scope == TOTAL else own)[(unit, period)] = counts
    return own, totals


def _batch(states: list[DossierState], horizon: float,
           registry: UnitRegistry | None) -> tuple[dict, dict]:
    agg = aggregate(states, horizon, CalendarBook(), registry=registry)
    return tuple({b: {k: v for k, v in c.to_dict().items() if v} for b, c in side.items()}
                 for side in (agg.counters, agg.totals))  # type: ignore[return-value]


def test_a_dossier_across_the_merger_goes_where_the_batch_puts_it(tmp_path: Path) -> None:
    reg = _registry(tmp_path)
    tracker = Tracker(CalendarBook(), attribution=Attribution(reg))
    agg = Aggregator()
    rec, _ = tracker.apply(received("2025-06-20T09:00:00+07:00", unit="30001",
                                    level="commune"), 0)
    june_25 = local_instant(date(2025, 6, 25))
    assert _live(tracker, agg, rec, june_25) == ["30001", "870\x1e", "87\x1e"]
    # open across the merger: re-judged at 1/7 00:00 at the latest (a new month, and
    # unit versions begin and end that day)
    assert rec.due is not None and rec.due <= local_instant(date(2025, 7, 1))
    rec, _ = tracker.apply(ev("dossier.resolved", "2025-07-10T09:00:00+07:00"), 0)
    horizon = local_instant(date(2025, 8, 1))
    assert sorted(_live(tracker, agg, rec, horizon)) == sorted(
        ["30001", "870\x1e", "87\x1e", "29901", "82\x1e"])
    assert rec.keys == "29901\x1f30001\x1f82\x1e\x1f87\x1e\x1f870\x1e"
    assert _split(agg, tracker.attribution, horizon) == _batch([rec.state], horizon, reg)
    assert agg.levels == {"30001": "commune", "870\x1e": "district", "87\x1e": "province",
                          "29901": "commune", "82\x1e": "province"}


def test_handling_unit_other_than_the_receiving_desk(tmp_path: Path) -> None:
    # filed at commune 29901's desk, handled by the province 82 (phi địa giới)
    reg = _registry(tmp_path)
    tracker = Tracker(CalendarBook(), attribution=Attribution(reg))
    agg = Aggregator()
    for e in (received("2025-08-04T09:00:00+07:00", unit="29901", level="commune",
                       handling_unit_code="82", handling_unit_level="province"),
              ev("dossier.resolved", "2025-08-05T09:00:00+07:00"),
              ev("feedback.rated", "2025-08-06T09:00:00+07:00", rating="satisfied")):
        rec, _ = tracker.apply(e, 0)
    horizon = local_instant(date(2025, 9, 1))
    out = tracker.emit(rec, horizon)
    assert [(key, entry[2]) for key, entry in out] == [
        ("29901", "commune"), ("82\x1e", "province"), ("82", "province")]
    for key, entry in out:
        agg.apply(key, entry, 0)
    own, totals = _split(agg, tracker.attribution, horizon)
    # v1.2: sync_due (received there, no sync), communes (29901 is a commune)
    assert own[("29901", "2025-08")] == {"received": 1, "received_online": 1, "sync_due": 1,
                                         "communes": 1}
    assert own[("82", "2025-08")]["resolved"] == 1
    assert totals[("82", "2025-08")]["received"] == totals[("82", "2025-08")]["resolved"] == 1
    assert (own, totals) == _batch([rec.state], horizon, reg)
    # without a registry: the receiving and the handling unit, no totals
    plain, plain_agg = Tracker(CalendarBook()), Aggregator()
    prec = plain.dossiers.setdefault("H1", Tracked(rec.state, 0))
    assert _live(plain, plain_agg, prec, horizon) == ["29901", "82"]
    assert _split(plain_agg, now=horizon) == _batch([rec.state], horizon, None)


def test_a_shrinking_key_set_retracts_the_keys_left(tmp_path: Path) -> None:
    # the dossier across the merger, emitted with the registry, then restored by a tracker
    # without one (a registry change): the totals and the successor are retracted
    reg = _registry(tmp_path)
    tracker = Tracker(CalendarBook(), attribution=Attribution(reg), fingerprint="A")
    agg = Aggregator()
    for e in (received("2025-06-20T09:00:00+07:00", unit="30001", level="commune"),
              ev("dossier.resolved", "2025-07-10T09:00:00+07:00")):
        rec, _ = tracker.apply(e, 0)
    horizon = local_instant(date(2025, 8, 1))
    _live(tracker, agg, rec, horizon)
    row = tracker.row(rec, horizon)
    assert orjson.loads(row)["r"] == "A"

    plain = Tracker(CalendarBook())  # no registry: fingerprint None
    plain.restore("H1", row, {0})
    assert plain.stale == {"H1"}
    [again] = list(plain.due(horizon + 1))  # due at once: its attribution may differ
    out = plain.emit(again, horizon + 2)
    assert [(key, entry[3] == []) for key, entry in out] == [
        ("30001", False), ("29901", True), ("82\x1e", True), ("87\x1e", True),
        ("870\x1e", True)]  # retractions in key order ("\x1e" sorts before "0")
    for key, entry in out:
        agg.apply(key, entry, 0)
    assert again.keys == "30001"
    assert _split(agg, now=horizon + 2) == _batch([again.state], horizon + 2, None)
    assert all(not any(c.values) for (key, _), c in agg.counters.items() if key != "30001")


def test_a_row_of_the_same_registry_is_not_stale_and_an_ahead_row_is(tmp_path: Path) -> None:
    reg = _registry(tmp_path)
    tracker = Tracker(CalendarBook(), attribution=Attribution(reg), fingerprint="A")
    rec, _ = tracker.apply(received("2025-06-20T09:00:00+07:00", unit="30001",
                                    level="commune"), 0)
    june_25 = local_instant(date(2025, 6, 25))
    tracker.emit(rec, june_25)
    same = Tracker(CalendarBook(), attribution=Attribution(reg), fingerprint="A")
    same.restore("H1", tracker.row(rec, june_25), {0})
    assert not same.stale and same.dossiers["H1"].due == rec.due
    ahead = Tracker(CalendarBook(), attribution=Attribution(reg), fingerprint="A")
    ahead.restore("H1", tracker.row(rec, june_25, ["X"], ahead=True), {0})
    assert ahead.stale == {"H1"} and ahead.dossiers["H1"].due == june_25
    assert ahead.dossiers["H1"].keys == "X"
    assert orjson.loads(tracker.row(rec, june_25, ["b", "a", "b"]))["u"] == "a\x1fb"


def test_the_aggregator_rebuilds_scoped_keys() -> None:
    agg = Aggregator()
    rows = [[["2025-06"], ["received"]]]
    applied = agg.apply("87\x1e", ["HS1", 3, "province", rows], 2)
    assert applied is not None
    key, value = applied
    assert key == "87\x1e\x1fHS1"
    again = Aggregator()
    again.restore(key, value, {2})
    assert again.counters[("87\x1e", "2025-06")]["received"] == 1
    assert again.levels == {"87\x1e": "province"}
    assert again.take_dirty()[0][:2] == ("87\x1e", "2025-06")


def test_join_and_split_keys() -> None:
    assert join_keys([]) is None and split_keys(None) == []
    assert join_keys(["U2", "U1\x1e", "U2"]) == "U1\x1e\x1fU2"
    assert split_keys(join_keys(["U2", "U1\x1e"])) == ["U1\x1e", "U2"]
    assert join_keys(["A", "B"]) is join_keys(["B", "A"])  # interned


def test_the_registry_fingerprint_follows_attribution_not_names(tmp_path: Path) -> None:
    reg = _registry(tmp_path)
    assert registry_fingerprint(None) is None
    fp = registry_fingerprint(reg)
    assert fp is not None and len(fp) == 16
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(REGISTRY.replace("Xã Tân Thành A", "Xã Tân Thành A (mới)"),
                       encoding="utf-8")
    assert registry_fingerprint(UnitRegistry.load(renamed)) == fp
    later = tmp_path / "later.csv"
    later.write_text(REGISTRY.replace("2025-06-30,29901", "2025-05-31,29901", 1),
                     encoding="utf-8")
    assert registry_fingerprint(UnitRegistry.load(later)) != fp


def test_unit_names_on_the_last_day_or_today(tmp_path: Path) -> None:
    names = UnitNames(_registry(tmp_path))
    aug_1 = local_instant(date(2025, 8, 1))
    assert names.name("87", "2025-06", aug_1) == "Tỉnh Đồng Tháp (cũ)"
    assert names.name("82", "2025-Q3", aug_1) == "Tỉnh Đồng Tháp"  # running: today's
    assert names.name("30001", "2025", aug_1) == "Xã Tân Thành A"  # ceased: its last name
    assert names.name("NOPE", "2025", aug_1) is None
    assert UnitNames(None).name("87", "2025", aug_1) is None
