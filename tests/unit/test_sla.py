"""Worked examples of the SLA rules of docs/contract.md; each expected number derived below."""

from __future__ import annotations

from dataclasses import fields
from datetime import date

from kpi.batch import aggregate
from kpi.calendar import local_instant
from kpi.counters import Counters
from kpi.dossier import fold
from kpi.sla import EARLY, IN_PROGRESS, LATE, ON_TIME, OVERDUE, REJECTED, Dossier, summarize
from kpi.units import CalendarBook
from tests.eventkit import ev, received

CAL = CalendarBook()
END_2025 = local_instant(date(2026, 1, 1))


def dossier(*events):
    state = fold(events)
    assert state is not None
    d = summarize(state, END_2025, CAL)
    assert d is not None
    return d


def counts(*events, horizon: float = END_2025) -> dict[tuple[str, str], dict[str, int]]:
    agg = aggregate([fold(events)], horizon, CAL)
    return {k: {kk: v for kk, v in c.to_dict().items() if v} for k, c in agg.counters.items()}


DUE = "2025-03-05T17:00:00+07:00"


def test_pause_is_not_counted() -> None:
    # Paused 3/3 10:00 → 5/3 10:00 = 48 h. Resolved 6/3 16:00, adjusted 4/3 16:00: the local
    # date 4/3 is before the due date 5/3 → early. Without the pause it would be late.
    d = dossier(
        received("2025-03-03T09:00:00+07:00", due_at=DUE, processing_days=None),
        ev("dossier.supplement_requested", "2025-03-03T10:00:00+07:00"),
        ev("dossier.supplemented", "2025-03-05T10:00:00+07:00"),
        ev("dossier.resolved", "2025-03-06T16:00:00+07:00"),
    )
    assert d.completion_class() == EARLY
    assert d.pauses == ((local_instant(date(2025, 3, 3), 10), local_instant(date(2025, 3, 5), 10)),)
    plain = dossier(
        received("2025-03-03T09:00:00+07:00", due_at=DUE, processing_days=None),
        ev("dossier.resolved", "2025-03-06T16:00:00+07:00"),
    )
    assert plain.completion_class() == LATE


def test_two_supplement_requests_make_it_late() -> None:
    # Resolved 5/3 with due 10/3 would be early, but two requests make it late.
    d = dossier(
        received("2025-03-03T09:00:00+07:00", due_at="2025-03-10T17:00:00+07:00",
                 processing_days=None),
        ev("dossier.supplement_requested", "2025-03-03T10:00:00+07:00"),
        ev("dossier.supplemented", "2025-03-03T11:00:00+07:00"),
        ev("dossier.supplement_requested", "2025-03-04T10:00:00+07:00"),
        ev("dossier.supplemented", "2025-03-04T11:00:00+07:00"),
        ev("dossier.resolved", "2025-03-05T10:00:00+07:00"),
    )
    assert d.supplement_requests == 2
    assert d.completion_class() == LATE


def test_on_time_early_and_late_boundaries() -> None:
    base = received("2025-03-03T09:00:00+07:00", due_at=DUE, processing_days=None)
    same_day = dossier(base, ev("dossier.resolved", "2025-03-05T16:59:00+07:00"))
    assert same_day.completion_class() == ON_TIME  # same local date, before 17:00
    at_due = dossier(base, ev("dossier.resolved", DUE))
    assert at_due.completion_class() == ON_TIME  # ≤ due instant
    after = dossier(base, ev("dossier.resolved", "2025-03-05T17:00:01+07:00"))
    assert after.completion_class() == LATE
    day_before = dossier(base, ev("dossier.resolved", "2025-03-04T23:59:00+07:00"))
    assert day_before.completion_class() == EARLY


def test_returned_completes_when_no_resolved() -> None:
    d = dossier(
        received("2025-03-03T09:00:00+07:00", due_at=DUE, processing_days=None),
        ev("dossier.returned", "2025-03-04T09:00:00+07:00", return_channel="counter"),
        ev("dossier.resolved", "2025-03-06T09:00:00+07:00"),
    )
    # completion is the first of resolved/returned: 4/3 → early
    assert d.completed_at == local_instant(date(2025, 3, 4), 9)
    assert d.completion_class() == EARLY


def test_apology_before_vs_after_due() -> None:
    base = received("2025-03-03T09:00:00+07:00", due_at=DUE, processing_days=None)
    done = ev("dossier.resolved", "2025-03-06T10:00:00+07:00")  # after the original due
    before = counts(base, ev("dossier.extended", "2025-03-05T09:00:00+07:00",
                             new_due_at="2025-03-07T17:00:00+07:00"), done)
    # Late against the ORIGINAL due even though it meets the new date; apology came first.
    # (v1.1: due on 5/3 in March, not met)
    assert before[("U1", "2025-03")] == {
        "received": 1, "received_online": 1, "resolved": 1, "resolved_late": 1,
        "late_with_apology": 1, "paper_result_dossiers": 1, "due": 1,
        "handled": 1, "sync_due": 1, "dossiers_unsatisfied": 1,  # v1.2: late, never synced
    }
    after = counts(base, ev("dossier.extended", "2025-03-06T08:00:00+07:00",
                            new_due_at="2025-03-07T17:00:00+07:00"), done)
    assert "late_with_apology" not in after[("U1", "2025-03")]
    assert after[("U1", "2025-03")]["resolved_late"] == 1


def test_dossier_crossing_periods() -> None:
    # Received Fri 28/3/2025, 5 working days: 31/3, 1/4, 2/4, 3/4, 4/4 → due 4/4 17:00.
    # Resolved 3/4: its local date is before 4/4 → early, counted in April; due (v1.1) on 4/4
    # in April too, and met.
    c = counts(
        received("2025-03-28T09:00:00+07:00", processing_days=5),
        ev("dossier.resolved", "2025-04-03T10:00:00+07:00"),
    )
    # v1.2: handled = resolved + in progress; sync_due where counted, never synced
    march = {"received": 1, "received_online": 1, "in_progress": 1, "handled": 1,
             "sync_due": 1}
    assert c[("U1", "2025-03")] == march
    assert c[("U1", "2025-Q1")] == march
    april = {"resolved": 1, "resolved_early": 1, "paper_result_dossiers": 1, "due": 1,
             "due_met": 1, "handled": 1, "sync_due": 1}
    assert c[("U1", "2025-04")] == april
    assert c[("U1", "2025-Q2")] == april
    assert c[("U1", "2025")] == {"received": 1, "received_online": 1, **april}  # sync once
    assert set(c) == {("U1", p) for p in ("2025-03", "2025-Q1", "2025-04", "2025-Q2", "2025")}


def test_open_dossier_overdue_at_period_end() -> None:
    # Received 25/3 with due 27/3 17:00, nothing else by the end of 2025: in progress at
    # every month end from March to December, overdue at each (judged at the period end).
    c = counts(received("2025-03-25T09:00:00+07:00", due_at="2025-03-27T17:00:00+07:00",
                        processing_days=None))
    for p in ("2025-03", "2025-06", "2025-12", "2025-Q1", "2025-Q4", "2025"):
        assert c[("U1", p)]["in_progress"] == 1
        assert c[("U1", p)]["in_progress_overdue"] == 1
    assert ("U1", "2025-02") not in c and ("U1", "2026-01") not in c  # horizon = 1/1/2026


def test_still_paused_at_period_end_is_judged_at_pause_start() -> None:
    # Paused at 26/3 09:00, before the due 27/3 17:00, never resumed: judged at 26/3 09:00
    # at every period end → in progress, not overdue. (v1.1: due on 27/3, in March, unmet.)
    events = (
        received("2025-03-25T09:00:00+07:00", due_at="2025-03-27T17:00:00+07:00",
                 processing_days=None),
        ev("dossier.supplement_requested", "2025-03-26T09:00:00+07:00"),
    )
    c = counts(*events)
    assert c[("U1", "2025-03")] == {"received": 1, "received_online": 1, "in_progress": 1,
                                    "due": 1, "handled": 1, "sync_due": 1}
    assert c[("U1", "2025-04")] == {"in_progress": 1, "handled": 1, "sync_due": 1}
    d = dossier(*events)
    assert d.status_at(END_2025) == IN_PROGRESS
    # Resumed on 2/4 09:00: 7 days paused; at the end of April the SLA clock reads
    # 30/4 24:00 − 7 d = 24/4, after the due → overdue in April, not in March.
    c = counts(*events, ev("dossier.supplemented", "2025-04-02T09:00:00+07:00"))
    assert c[("U1", "2025-03")]["in_progress"] == 1
    assert "in_progress_overdue" not in c[("U1", "2025-03")]
    assert c[("U1", "2025-04")] == {"in_progress": 1, "in_progress_overdue": 1, "handled": 1,
                                    "sync_due": 1, "dossiers_unsatisfied": 1}


def test_rejected_and_withdrawn_leave_on_time_counts() -> None:
    rejected = counts(
        received("2025-03-03T09:00:00+07:00", processing_days=30),
        ev("dossier.rejected", "2025-04-02T09:00:00+07:00", reason="thiếu giấy tờ"),
    )
    # received in March and open at its end; rejected in April: nothing resolved anywhere.
    assert rejected[("U1", "2025-03")] == {"received": 1, "received_online": 1, "in_progress": 1,
                                           "handled": 1, "sync_due": 1}
    assert ("U1", "2025-04") not in rejected
    assert "resolved" not in rejected[("U1", "2025")]
    withdrawn = counts(
        received("2025-03-03T09:00:00+07:00", processing_days=30),
        ev("dossier.withdrawn", "2025-03-10T09:00:00+07:00"),
    )
    assert withdrawn[("U1", "2025-03")] == {"received": 1, "received_online": 1, "sync_due": 1}
    d = dossier(received("2025-03-03T09:00:00+07:00"),
                ev("dossier.rejected", "2025-03-04T09:00:00+07:00"),
                ev("dossier.resolved", "2025-03-05T09:00:00+07:00"))
    assert d.status_at(END_2025) == REJECTED and d.completed_at is None


def test_receipt_side_counts() -> None:
    c = counts(
        received("2025-05-05T09:00:00+07:00", channel="postal", online_level="full",
                 full_online_eligible=True, fee_required=True, paper_result=False),
        ev("payment.completed", "2025-05-06T09:00:00+07:00", amount_vnd=50000, method="online"),
        ev("dossier.digitized", "2025-05-05T10:00:00+07:00", components_total=3,
           components_digitized=2),
        ev("dossier.digitized", "2025-05-05T11:00:00+07:00", components_total=3,
           components_digitized=3),  # the latest one counts: complete
        ev("dossier.resolved", "2025-05-06T10:00:00+07:00", result_electronic=True),
        ev("feedback.rated", "2025-06-01T10:00:00+07:00", rating="dissatisfied"),
    )
    assert c[("U1", "2025-05")] == {
        "received": 1, "received_postal": 1, "received_full_online": 1,
        "full_online_eligible": 1, "fee_dossiers": 1, "paid_online": 1, "digitized": 1,
        "resolved": 1, "resolved_early": 1, "e_results": 1,  # paper_result=False
        "due": 1, "due_met": 1,  # v1.1: postal, 2 working days → due 7/5, met
        # v1.2: handled with an e-result and complete digitization; the latest rating (in
        # June, known before the horizon) is dissatisfied; never synced
        "handled": 1, "handled_e_result": 1, "handled_digitized": 1,
        "dossiers_unsatisfied": 1, "sync_due": 1,
    }
    assert c[("U1", "2025-06")] == {"rated": 1, "dissatisfied": 1}


def test_overdue_status_for_the_ledger() -> None:
    d = dossier(received("2025-03-03T09:00:00+07:00", due_at=DUE, processing_days=None))
    assert d.status_at(END_2025) == OVERDUE
    assert d.status_at(local_instant(date(2025, 3, 4))) == IN_PROGRESS


def test_counters_monoid() -> None:
    a = Counters.from_mapping({"received": 2, "resolved": 1})
    b = Counters.from_mapping({"received": 3, "rated": 4})
    assert (a + b)["received"] == 5 and (a + b)["rated"] == 4
    assert (a + b - b) == a
    assert (a + Counters.zero()) == a


def test_dossier_fields_keep_the_order_summarize_passes_them_in() -> None:
    # summarize builds Dossier positionally (by keyword costs the batch report too much:
    # docs/decisions/kpi-typed-facts.md), so moving a field means changing that call too
    assert [f.name for f in fields(Dossier)] == [
        "code", "unit", "level", "procedure", "channel", "online_level",
        "full_online_eligible", "fee_required", "paper_result", "received_at", "due_at",
        "extended_due_at", "apology_at", "pauses", "supplement_requests", "completed_at",
        "result_electronic", "ended_at", "ended_kind", "paid_online", "paid", "digitized",
        "ratings", "handling_unit", "handling_level", "request_times", "reused", "synced",
        "petitioned", "mixed", "reuse_eligible", "citizen_data_used", "stored_personal",
        "status_times", "portal_syncs",
    ]
