"""Property tests of the fold and the contribution deltas (hypothesis)."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from kpi.batch import aggregate
from kpi.calendar import local_instant, to_local_datetime
from kpi.contribution import Contribution, contribution, delta, next_change
from kpi.counters import INDEX, Counters
from kpi.dossier import DossierState, apply
from kpi.registry import UnitRegistry, UnitVersion
from kpi.sla import summarize
from kpi.units import CalendarBook
from schemas.events import Event
from schemas.validate import parse_obj
from tests.eventkit import event_dict

CAL = CalendarBook()
HORIZON = local_instant(date(2026, 1, 1))
T0 = local_instant(date(2025, 1, 2), 8)
UNITS = ["X1", "X2", "D1", "D2"]


def iso(ts: float) -> str:
    return to_local_datetime(ts).isoformat()


@st.composite
def dossier_events(draw: st.DrawFn, code: str = "H1") -> list[Event]:
    """One dossier's events at random instants (any of them may be missing)."""
    hours = st.integers(min_value=0, max_value=24 * 300)
    out = []
    unit = draw(st.sampled_from(UNITS))
    level = "commune" if unit.startswith("X") else "district"
    if draw(st.integers(0, 9)):  # one dossier in ten has no received event
        rec: dict = {"unit_code": unit, "unit_level": level, "procedure_code": "P",
                     "channel": draw(st.sampled_from(["direct", "online", "postal"])),
                     "online_level": draw(st.sampled_from(["none", "partial", "full"])),
                     "full_online_eligible": draw(st.booleans()),
                     "fee_required": draw(st.booleans()), "paper_result": draw(st.booleans())}
        if draw(st.booleans()):
            rec["processing_days"] = draw(st.integers(0, 20))
        else:
            rec["due_at"] = iso(T0 + 3600 * draw(hours))
        out.append(event_dict("dossier.received", iso(T0 + 3600 * draw(hours)), code, **rec))
    kinds = st.sampled_from([
        ("dossier.supplement_requested", {}), ("dossier.supplemented", {}),
        ("dossier.extended", {"new_due_at": iso(T0 + 3600 * 24 * 200)}),
        ("dossier.resolved", {"result_electronic": True}), ("dossier.returned", {}),
        ("dossier.rejected", {}), ("dossier.withdrawn", {}),
        ("dossier.digitized", {"components_total": 2, "components_digitized": 2}),
        ("dossier.digitized", {"components_total": 2, "components_digitized": 1}),
        ("payment.completed", {"amount_vnd": 1000, "method": "online"}),
        ("payment.completed", {"amount_vnd": 1000, "method": "cash"}),
        ("feedback.rated", {"rating": "satisfied"}), ("feedback.rated", {"rating": "dissatisfied"}),
        ("dossier.transferred", {"from_unit": "a", "to_unit": "b"}),
    ])
    for _ in range(draw(st.integers(0, 7))):
        typ, data = draw(kinds)
        out.append(event_dict(typ, iso(T0 + 3600 * draw(hours)), code, **data))
    return [parse_obj(e) for e in out]


def fold_all(events: list[Event]) -> DossierState:
    state = DossierState.empty("H1")
    for e in events:
        state = apply(state, e)
    return state


@settings(max_examples=150, deadline=None)
@given(dossier_events(), st.randoms(use_true_random=False), st.data())
def test_permutation_and_duplication_give_the_same_state(events, rnd, data) -> None:
    reference = fold_all(events)
    shuffled = list(events)
    rnd.shuffle(shuffled)
    dups = data.draw(st.lists(st.sampled_from(events), max_size=4)) if events else []
    mixed = shuffled + dups
    rnd.shuffle(mixed)
    assert fold_all(mixed).facts == reference.facts
    assert contribution(fold_all(mixed), HORIZON, CAL) == contribution(reference, HORIZON, CAL)


def _accumulate(acc: dict, diff: Contribution) -> None:
    for bucket, counts in diff.items():
        c = acc.setdefault(bucket, Counters())
        c.add_mapping(counts)


@settings(max_examples=150, deadline=None)
@given(dossier_events(), st.randoms(use_true_random=False))
def test_sum_of_deltas_equals_final_contribution(events, rnd) -> None:
    order = list(events) + list(events[:2])  # with replays
    rnd.shuffle(order)
    acc: dict = {}
    state = DossierState.empty("H1")
    old: Contribution = {}
    for e in order:
        state = apply(state, e)
        new = contribution(state, HORIZON, CAL)
        _accumulate(acc, delta(old, new))
        old = new
    final = contribution(fold_all(events), HORIZON, CAL)
    acc = {k: v.to_dict() for k, v in acc.items() if not v.is_zero()}
    expected = {k: Counters.from_mapping(v).to_dict() for k, v in final.items()}
    assert acc == expected


@settings(max_examples=50, deadline=None)
@given(st.lists(dossier_events(), min_size=1, max_size=12))
def test_children_sum_to_parent_rollup(dossiers) -> None:
    # a unit's total (kept by units with units below them; others: their own figures)
    registry = UnitRegistry([
        UnitVersion(code, name, level, parent, date.min, None) for code, name, level, parent in (
            ("P", "Tỉnh", "province", None), ("D1", "Huyện 1", "district", "P"),
            ("D2", "Huyện 2", "district", "P"), ("X1", "Xã 1", "commune", "D1"),
            ("X2", "Xã 2", "commune", "D1"))
    ])
    states = []
    for i, events in enumerate(dossiers):
        s = DossierState.empty(f"H{i}")
        for e in events:
            s = apply(s, e)
        states.append(s)
    agg = aggregate(states, HORIZON, CAL, registry=registry)
    # v1.2 ``communes`` is the exception: the registry's communes in scope, not a sum
    # (X1 and X2 below D1 and P, whether or not they had dossiers; an own commune: 1)
    communes = INDEX["communes"]
    for (unit, _p), c in agg.totals.items():
        assert c.values[communes] == (2 if not c.is_zero() else 0), unit
        c.values[communes] = 0
    for (unit, _p), c in agg.counters.items():
        assert c.values[communes] == (1 if unit in ("X1", "X2") and not c.is_zero() else 0)
        c.values[communes] = 0
    rolled = {**agg.counters, **agg.totals}
    periods = {p for (_, p) in agg.counters}
    for p in periods:
        own = {u: agg.counters.get((u, p), Counters()) for u in ("D1", "D2", "X1", "X2")}
        assert rolled.get(("D1", p), Counters()) == own["D1"] + own["X1"] + own["X2"]
        assert rolled.get(("P", p), Counters()) == (
            rolled.get(("D1", p), Counters()) + rolled.get(("D2", p), Counters())
        )


@settings(max_examples=100, deadline=None)
@given(dossier_events(), st.integers(min_value=0, max_value=24 * 330))
def test_contribution_is_constant_until_next_change(events, hour) -> None:
    # The stream layer only re-judges a dossier once the clock passes next_change(): up to
    # and including that instant the contribution must not move.
    state = fold_all(events)
    h = T0 + 3600 * hour
    nxt = next_change(state, h, CAL)
    # the stream's call, with the summary it already has (None before `received`)
    assert next_change(state, h, CAL, summary=summarize(state, h, CAL), summarized=True) == nxt
    now = contribution(state, h, CAL)
    if nxt is None:
        assert contribution(state, h + 86400 * 400, CAL) == now
    else:
        assert nxt >= h
        for t in (h + (nxt - h) / 3, nxt):
            assert contribution(state, t, CAL) == now
