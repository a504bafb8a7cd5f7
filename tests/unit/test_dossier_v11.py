"""Worked examples of the v1.1 dossier rules (docs/contract.md), each expected
number derived by hand in a comment before the code was written:

* ``in_progress_overdue`` with more than one supplement request before the judged instant;
* ``due`` / ``due_met`` (dossiers due in the period, the Vĩnh Phúc convention);
* ``reused`` and ``synced`` (receipt-side), ``dossier.stopped`` (terminal, like withdrawn);
* attribution of every count to the unit in force at its judged instant (own and total),
  with the handling unit, and the restated view.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from kpi.batch import aggregate
from kpi.calendar import local_instant
from kpi.dossier import fold
from kpi.registry import UnitRegistry
from kpi.units import CalendarBook
from tests.eventkit import EVENTS_REGISTRY, ev, received

CAL = CalendarBook()


def _counts(*dossiers, horizon: float, registry: UnitRegistry | None = None,
            scope: str = "own") -> dict[tuple[str, str], dict[str, int]]:
    agg = aggregate([fold(events) for events in dossiers], horizon, CAL, registry=registry)
    chosen = agg.counters if scope == "own" else agg.totals
    return {k: {kk: v for kk, v in c.to_dict().items() if v} for k, c in chosen.items()}


def _due(text: str) -> dict[str, object]:
    return {"due_at": text, "processing_days": None}


# ------------------------------------------------------- in_progress_overdue (v1.1)


def test_two_requests_make_an_open_dossier_overdue() -> None:
    # Received 1/4, due 30/5. Requests 10/4 and 20/4 (each answered two days later). Open at
    # the horizon 15/5. April is judged at its end: two requests before it → overdue
    # although the SLA clock (1/4 → 30/4 minus 4 paused days) is far from 30/5. May, Q2 and
    # 2025 are judged at the horizon: overdue too. (v1 counted none of them overdue.)
    events = (
        received("2025-04-01T09:00:00+07:00", **_due("2025-05-30T17:00:00+07:00")),
        ev("dossier.supplement_requested", "2025-04-10T09:00:00+07:00"),
        ev("dossier.supplemented", "2025-04-12T09:00:00+07:00"),
        ev("dossier.supplement_requested", "2025-04-20T09:00:00+07:00"),
        ev("dossier.supplemented", "2025-04-22T09:00:00+07:00"),
    )
    got = _counts(events, horizon=local_instant(date(2025, 5, 15)))
    for period in ("2025-04", "2025-05", "2025-Q2", "2025"):
        assert got[("U1", period)]["in_progress"] == 1
        assert got[("U1", period)]["in_progress_overdue"] == 1, period


def test_the_second_request_counts_from_its_own_instant() -> None:
    # Same dossier, but the second request comes on 5/5: April (judged 30/4 24:00) has one
    # request → in progress, not overdue; May (judged at the horizon 15/5) has two → overdue.
    events = (
        received("2025-04-01T09:00:00+07:00", **_due("2025-05-30T17:00:00+07:00")),
        ev("dossier.supplement_requested", "2025-04-10T09:00:00+07:00"),
        ev("dossier.supplemented", "2025-04-12T09:00:00+07:00"),
        ev("dossier.supplement_requested", "2025-05-05T09:00:00+07:00"),
        ev("dossier.supplemented", "2025-05-06T09:00:00+07:00"),
    )
    got = _counts(events, horizon=local_instant(date(2025, 5, 15)))
    # v1.2: handled and sync_due (never synced) each month, unsatisfied once overdue
    assert got[("U1", "2025-04")] == {"received": 1, "received_online": 1, "in_progress": 1,
                                      "handled": 1, "sync_due": 1}
    assert got[("U1", "2025-05")] == {"in_progress": 1, "in_progress_overdue": 1, "handled": 1,
                                      "sync_due": 1, "dossiers_unsatisfied": 1}


# ------------------------------------------------------------------- due / due_met


def test_dossiers_due_in_the_period() -> None:
    # Horizon 1/6/2025. Original due instants and outcomes:
    #  D1 due 30/4, resolved 3/5 (late)                 → due in April, not met
    #  D2 due 2/5, resolved 28/4 (early)                → due in May, met
    #  D3 due 10/5, withdrawn 5/5 (before the due)      → not due
    #  D4 due 10/5, withdrawn 12/5 (after the due)      → due in May, not met
    #  D5 due 5/6 (after the horizon)                   → not due yet
    #  D6 due 20/5, still open                          → due in May, not met
    #  D7 due 20/5, paused 15/5→18/5 (3 days), resolved 22/5: adjusted 19/5 ≤ 20/5 → met
    #  D8 due 20/5, stopped 10/5 (Circular 03 form 05)   → not due
    # So April: due 1, met 0; May: due 4 (D2, D4, D6, D7), met 2 (D2, D7); Q2 = 5 / 2.
    def rec(code: str, due: str):
        return received("2025-04-01T09:00:00+07:00", subject=code,
                        **_due(f"2025-{due}T17:00:00+07:00"))

    d = [
        (rec("D1", "04-30"), ev("dossier.resolved", "2025-05-03T10:00:00+07:00", "D1")),
        (rec("D2", "05-02"), ev("dossier.resolved", "2025-04-28T10:00:00+07:00", "D2")),
        (rec("D3", "05-10"), ev("dossier.withdrawn", "2025-05-05T10:00:00+07:00", "D3")),
        (rec("D4", "05-10"), ev("dossier.withdrawn", "2025-05-12T10:00:00+07:00", "D4")),
        (rec("D5", "06-05"),),
        (rec("D6", "05-20"),),
        (rec("D7", "05-20"),
         ev("dossier.supplement_requested", "2025-05-15T10:00:00+07:00", "D7"),
         ev("dossier.supplemented", "2025-05-18T10:00:00+07:00", "D7"),
         ev("dossier.resolved", "2025-05-22T10:00:00+07:00", "D7")),
        (rec("D8", "05-20"), ev("dossier.stopped", "2025-05-10T10:00:00+07:00", "D8")),
    ]
    got = _counts(*d, horizon=local_instant(date(2025, 6, 1)))
    assert (got[("U1", "2025-04")].get("due"), got[("U1", "2025-04")].get("due_met")) == (1, None)
    assert (got[("U1", "2025-05")]["due"], got[("U1", "2025-05")]["due_met"]) == (4, 2)
    assert (got[("U1", "2025-Q2")]["due"], got[("U1", "2025-Q2")]["due_met"]) == (5, 2)
    # stopped leaves the on-time counts like withdrawn: 8 received, 3 resolved (D1, D2, D7)…
    assert got[("U1", "2025-Q2")]["received"] == 8
    assert got[("U1", "2025-Q2")]["resolved"] == 3
    # …and D5, D6 are the only dossiers in progress at the horizon
    assert got[("U1", "2025-Q2")]["in_progress"] == 2


# ------------------------------------------------------------------ reused / synced


def test_reused_and_synced_are_receipt_side() -> None:
    # D1: latest digitization reuses 2 components, synced once → reused 1, synced 1.
    # D2: an earlier digitization reused 1, the latest reused 0 → not reused; synced twice to
    # two targets → synced once. Both received in March: the counts go to March.
    d1 = (received("2025-03-03T09:00:00+07:00", subject="D1"),
          ev("dossier.digitized", "2025-03-03T10:00:00+07:00", "D1", components_total=3,
             components_digitized=3, components_reused=2),
          ev("dossier.synced", "2025-04-02T10:00:00+07:00", "D1"))
    d2 = (received("2025-03-04T09:00:00+07:00", subject="D2"),
          ev("dossier.digitized", "2025-03-04T10:00:00+07:00", "D2", components_total=3,
             components_digitized=1, components_reused=1),
          ev("dossier.digitized", "2025-03-05T10:00:00+07:00", "D2", components_total=3,
             components_digitized=3, components_reused=0),
          ev("dossier.synced", "2025-03-05T11:00:00+07:00", "D2", target="dvcqg"),
          ev("dossier.synced", "2025-03-05T12:00:00+07:00", "D2", target="provincial"))
    got = _counts(d1, d2, horizon=local_instant(date(2025, 5, 1)))
    march = got[("U1", "2025-03")]
    assert (march["received"], march["digitized"], march["reused"], march["synced"]) == (2, 2, 1, 2)
    assert "synced" not in got[("U1", "2025-04")]


# ------------------------------------------------------------------ attribution

REGISTRY = EVENTS_REGISTRY


def _registry(tmp_path: Path) -> UnitRegistry:
    path = tmp_path / "units.csv"
    path.write_text(REGISTRY, encoding="utf-8")
    return UnitRegistry.load(path)


def test_a_dossier_across_the_merger(tmp_path: Path) -> None:
    # Received 20/6/2025 by commune 30001 (handled by itself), resolved 10/7/2025 by whoever
    # is in force for 30001 then: 29901. Horizon 1/8/2025.
    #  received (20/6, a Friday; 2 working days → due Tue 24/6 17:00) → own 30001; totals
    #  870 and 87 (30001 never had children: it has no total of its own)
    #  in progress at the end of June and of Q2 (judged 30/6, before 24:00), past the due →
    #  in_progress and in_progress_overdue → 30001 / 870 / 87
    #  due (24/6 17:00, judged then, not met) → own 30001; totals 870 / 87
    #  resolved (10/7, after the due → late) → own 29901; total 82
    #  year 2025 is judged at the horizon, when it is closed: no in_progress row
    reg = _registry(tmp_path)
    events = (received("2025-06-20T09:00:00+07:00", unit="30001", level="commune"),
              ev("dossier.resolved", "2025-07-10T09:00:00+07:00"))
    horizon = local_instant(date(2025, 8, 1))
    own = _counts(events, horizon=horizon, registry=reg)
    total = _counts(events, horizon=horizon, registry=reg, scope="total")
    # v1.2: sync_due once per unit and period where counted (never synced), handled and
    # dossiers_unsatisfied (overdue, then late) with in_progress / resolved, communes 1 for
    # a commune's own figures, 2 for the totals of 870 and 87 (30001 and 30004 below)
    receipt = {"received": 1, "received_online": 1, "sync_due": 1, "communes": 1}
    overdue = {"in_progress": 1, "in_progress_overdue": 1, "due": 1, "handled": 1,
               "dossiers_unsatisfied": 1}
    assert own[("30001", "2025-06")] == {**receipt, **overdue}
    assert own[("30001", "2025-Q2")] == {**receipt, **overdue}
    assert own[("30001", "2025")] == {**receipt, "due": 1}
    assert own[("29901", "2025-07")] == {"resolved": 1, "resolved_late": 1,
                                        "paper_result_dossiers": 1, "handled": 1,
                                        "sync_due": 1, "dossiers_unsatisfied": 1,
                                        "communes": 1}
    assert own[("29901", "2025")] == own[("29901", "2025-07")]
    assert set(own) == {("30001", p) for p in ("2025-06", "2025-Q2", "2025")} | {
        ("29901", p) for p in ("2025-07", "2025-Q3", "2025")}
    for unit in ("870", "87"):
        assert total[(unit, "2025-06")] == {**own[("30001", "2025-06")], "communes": 2}
        # the year is judged at the horizon (1/8): 870 and 87 have ceased, no commune below
        assert total[(unit, "2025")] == {"received": 1, "received_online": 1, "sync_due": 1,
                                         "due": 1}
    assert total[("82", "2025-07")] == own[("29901", "2025-07")]
    assert ("30001", "2025-06") not in total and ("29901", "2025-07") not in total


def test_handling_unit_differs_from_the_receiving_desk(tmp_path: Path) -> None:
    # Phi địa giới: filed Mon 4/8/2025 at commune 29901's desk, handled by the province (82);
    # 2 working days → due Wed 6/8 17:00; resolved Tue 5/8 (a day before the due date →
    # early), rated satisfied 6/8. Receipt-side → 29901; resolved, due (6/8, met) and rated
    # → 82.
    # The province's total holds both (29901 is below it).
    reg = _registry(tmp_path)
    events = (received("2025-08-04T09:00:00+07:00", unit="29901", level="commune",
                       handling_unit_code="82", handling_unit_level="province"),
              ev("dossier.resolved", "2025-08-05T09:00:00+07:00"),
              ev("feedback.rated", "2025-08-06T09:00:00+07:00", rating="satisfied"))
    horizon = local_instant(date(2025, 9, 1))
    own = _counts(events, horizon=horizon, registry=reg)
    total = _counts(events, horizon=horizon, registry=reg, scope="total")
    # v1.2: sync_due once at each unit (the total adds both), handled at 82, communes:
    # 29901 is one, and the only one below 82
    assert own[("29901", "2025-08")] == {"received": 1, "received_online": 1, "sync_due": 1,
                                         "communes": 1}
    assert own[("82", "2025-08")] == {"resolved": 1, "resolved_early": 1,
                                      "paper_result_dossiers": 1, "rated": 1, "satisfied": 1,
                                      "due": 1, "due_met": 1, "handled": 1, "sync_due": 1}
    assert total[("82", "2025-08")] == {"received": 1, "received_online": 1, "resolved": 1,
                                        "resolved_early": 1, "paper_result_dossiers": 1,
                                        "rated": 1, "satisfied": 1, "due": 1, "due_met": 1,
                                        "handled": 1, "sync_due": 2, "communes": 1}


def test_without_a_registry_the_handling_unit_still_gets_handling_counts() -> None:
    # No registry: every code stands for itself; no totals are kept.
    events = (received("2025-08-04T09:00:00+07:00", unit="A", handling_unit_code="B",
                       handling_unit_level="province"),
              ev("dossier.resolved", "2025-08-05T09:00:00+07:00"))
    horizon = local_instant(date(2025, 9, 1))
    own = _counts(events, horizon=horizon)
    assert own[("A", "2025-08")] == {"received": 1, "received_online": 1, "sync_due": 1}
    assert own[("B", "2025-08")] == {"resolved": 1, "resolved_early": 1,
                                     "paper_result_dossiers": 1, "due": 1, "due_met": 1,
                                     "handled": 1, "sync_due": 1}
    assert _counts(events, horizon=horizon, scope="total") == {}


def test_restated_view_puts_predecessors_under_todays_unit(tmp_path: Path) -> None:
    # The dossier across the merger, restated as of today: 30001 → 29901 and the hierarchy
    # of today (29901 under 82), so 29901's 2025 series holds the June receipt too.
    from kpi.attribution import restate

    reg = _registry(tmp_path)
    events = (received("2025-06-20T09:00:00+07:00", unit="30001", level="commune"),
              ev("dossier.resolved", "2025-07-10T09:00:00+07:00"))
    horizon = local_instant(date(2025, 8, 1))
    agg = aggregate([fold(events)], horizon, CAL, registry=reg)
    own, total = restate(agg.counters, reg, local_instant(date(2026, 11, 29)))
    as_dict = {k: {kk: v for kk, v in c.to_dict().items() if v} for k, c in own.items()}
    # v1.2: sync_due is counted per unit, so restating 30001 into 29901 adds its 1 to
    # 29901's; communes is the registry's as of today (29901, one commune)
    assert as_dict[("29901", "2025")] == {"received": 1, "received_online": 1, "resolved": 1,
                                          "resolved_late": 1, "paper_result_dossiers": 1,
                                          "due": 1, "handled": 1, "sync_due": 2,
                                          "dossiers_unsatisfied": 1, "communes": 1}
    assert as_dict[("29901", "2025-06")] == {"received": 1, "received_online": 1,
                                             "in_progress": 1, "in_progress_overdue": 1,
                                             "due": 1, "handled": 1, "sync_due": 1,
                                             "dossiers_unsatisfied": 1, "communes": 1}
    assert {u for u, _ in own} == {"29901"}
    assert total[("82", "2025")].to_dict() == own[("29901", "2025")].to_dict()


def test_snapshot_keys_round_trip() -> None:
    from kpi.report import parse_snapshot_key, report_bucket, snapshot_key

    assert snapshot_key("82", "2025-Q3") == "82|2025-Q3"
    assert snapshot_key("82", "2025-Q3", "total") == "82|2025-Q3|total"
    for unit in ("82", "DT.TANHONG", "a|b"):
        for scope in ("own", "total"):
            assert parse_snapshot_key(snapshot_key(unit, "2025", scope)) == (unit, "2025", scope)
    assert report_bucket({"unit": "82", "period": "2025", "scope": "total"}) == ("82\x1e", "2025")
    assert report_bucket({"unit": "82", "period": "2025"}) == ("82", "2025")
