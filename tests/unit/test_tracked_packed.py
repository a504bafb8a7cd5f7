"""streams.tracker's compact dossier representation (issue 8): a tracked dossier keeps its
facts packed as JSON bytes, yet gives back the same state, emits the same contributions,
writes the same table row and restores to the same dossier as the plain
:class:`kpi.dossier.DossierState` the batch path folds. Expected values are computed from
the plain state with :mod:`kpi.sla` and :mod:`kpi.contribution`, not with the tracker."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kpi.contribution import contribution_rows, next_change
from kpi.dossier import DossierState
from kpi.sla import summarize
from streams.tracker import Tracker
from streams.wire import pack_facts, unpack_facts
from tests.eventkit import event_dict
from tests.unit.test_properties import CAL, T0, dossier_events, fold_all

HOURS = st.integers(min_value=0, max_value=24 * 330)
JUNE_16 = 1_750_086_400.0  # 2025-06-16 22:13 local


def _typed(facts: dict[str, tuple[Any, ...]]) -> list[tuple[str, list[tuple[type, Any]]]]:
    """Facts with the type of every value, in order (``1 == 1.0`` must not pass)."""
    return [(k, [(type(x), x) for x in f]) for k, f in facts.items()]


def _expected(state: DossierState, horizon: float) -> list[tuple[str, list[Any]]]:
    """What emit must send for ``state`` at ``horizon``, without the version: the rows of
    each counter key, keys in the order they first appear."""
    d = summarize(state, horizon, CAL)
    if d is None:
        return []
    levels: dict[str, str] = {}
    by_key: dict[str, list[list[list[str]]]] = {}
    for key, periods, keys in contribution_rows(d, horizon, levels=levels):
        by_key.setdefault(key, []).append([list(periods), list(keys)])
    return [(key, [state.code, levels[key], rows]) for key, rows in by_key.items()]


def _keys(state: DossierState, horizon: float) -> str | None:
    """The counter keys :func:`_expected` names, as :class:`Tracked` holds them."""
    return "\x1f".join(sorted({k for k, _ in _expected(state, horizon)})) or None


def _unversioned(out: list[tuple[str, list[Any]]]) -> list[tuple[str, list[Any]]]:
    """The entries as they are on the wire (rows are tuples in memory, arrays in JSON)."""
    return [(unit, [e[0], e[2], orjson.loads(orjson.dumps(e[3]))]) for unit, e in out]


@settings(max_examples=150, deadline=None)
@given(dossier_events())
def test_packed_facts_read_back_identical(events) -> None:
    facts = fold_all(events).facts
    assert _typed(unpack_facts(pack_facts(facts))) == _typed(facts)


@settings(max_examples=120, deadline=None)
@given(dossier_events(), st.randoms(use_true_random=False), st.lists(HOURS, min_size=1,
                                                                      max_size=3))
def test_tracker_emits_rows_and_restores_like_the_plain_state(events, rnd, hours) -> None:
    assume(events)
    plain = fold_all(events)
    order = list(events) + list(events[:2])  # with replays
    rnd.shuffle(order)
    tracker = Tracker(CAL)
    changes = 0
    for e in order:
        _, changed = tracker.apply(e, 3)
        changes += changed
    rec = tracker.dossiers["H1"]
    assert rec.state.facts == plain.facts
    assert _typed(dict(sorted(rec.state.facts.items()))) == _typed(dict(sorted(
        plain.facts.items())))
    assert changes == len(plain.facts)
    for hour in sorted(hours):
        horizon = T0 + 3600 * hour
        out = tracker.emit(rec, horizon)
        assert _unversioned(out) == _expected(plain, horizon)
        d = summarize(plain, horizon, CAL)
        assert rec.keys == _keys(plain, horizon)
        if d is not None and d.handling_unit == d.unit:
            assert rec.keys == d.unit
        assert rec.due == next_change(plain, horizon, CAL)
        assert all(e[1] == rec.version for _, e in out)

        row = tracker.row(rec, horizon)
        assert row == orjson.dumps({"f": DossierState(plain.code, rec.state.facts).to_json()[
            "facts"], "v": rec.version, "u": rec.keys, "h": horizon, "p": 3})

        fresh = Tracker(CAL)
        fresh.restore("H1", row, {1, 2})  # not our partition
        assert not fresh.dossiers
        fresh.restore("H1", row, {3})
        again = fresh.dossiers["H1"]
        assert _typed(again.state.facts) == _typed(rec.state.facts)
        assert (again.version, again.keys, again.partition) == (rec.version, rec.keys, 3)
        assert again.due == next_change(plain, horizon, CAL)
        later = horizon + 3600 * 24 * 40
        assert _unversioned(fresh.emit(again, later)) == _expected(plain, later)


def _received(eid: str, time: str, unit: str) -> bytes:
    return orjson.dumps(event_dict("dossier.received", time, "HS1", "s", eid, unit_code=unit,
                                   unit_level="commune", procedure_code="P",
                                   channel="online", processing_days=3))


def test_a_unit_change_retracts_from_the_old_unit() -> None:
    from schemas.validate import parse_event

    tracker = Tracker(CAL)
    rec, _ = tracker.apply(parse_event(_received("a", "2025-06-16T08:00:00+07:00", "U1")), 0)
    [(unit, _)] = tracker.emit(rec, JUNE_16)
    assert unit == "U1"
    rec, _ = tracker.apply(parse_event(_received("b", "2025-06-16T07:00:00+07:00", "U2")), 0)
    out = tracker.emit(rec, JUNE_16)
    assert [(u, e[2], e[3] == []) for u, e in out] == [("U2", "commune", False),
                                                      ("U1", None, True)]
    assert rec.keys == "U2"


def test_unchanged_next_change_adds_no_heap_entry_and_due_yields_once() -> None:
    from schemas.validate import parse_event

    tracker = Tracker(CAL)
    rec, _ = tracker.apply(parse_event(_received("a", "2025-06-16T08:00:00+07:00", "U1")), 0)
    for _ in range(5):  # open, due in three working days
        tracker.emit(rec, JUNE_16)
    assert len(tracker._heap) == 1
    due = rec.due
    assert due is not None
    assert list(tracker.due(due - 1)) == []
    assert [r.code for r in tracker.due(due)] == ["HS1"]
    assert list(tracker.due(due + 86400 * 60)) == []
    tracker.emit(rec, due + 1)  # overdue now: the next change is the next month's start
    assert rec.due is not None and rec.due > due + 1
    assert [r.code for r in tracker.due(rec.due)] == ["HS1"]
