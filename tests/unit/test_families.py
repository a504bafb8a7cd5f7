"""Hand-worked quarter of the docs/contract.md families — petitions (PAKN), the procedure
catalog, official documents — and their joins with dossiers (``dossiers_petitioned``,
``procedures_*_used``). The events are :func:`tests.eventkit.families_quarter` (commune
C1, 2025-Q4); every expected number below was worked out by hand from them, before the
code, in the comments.
"""

from __future__ import annotations

import random
from fractions import Fraction

from kpi.batch import aggregate, fold_lines
from kpi.calendar import local_instant
from kpi.counters import COUNT_KEYS
from kpi.ratios import compute_ratios as _compute_ratios
from kpi.scoring import SATISFACTION_766, measure
from kpi.units import CalendarBook
from tests.eventkit import families_quarter, json_line

CAL = CalendarBook()
END_OF_Q4 = local_instant(__import__("datetime").date(2026, 1, 1))


def _counts(docs, horizon: float = END_OF_Q4) -> dict[str, dict[str, int]]:
    batch = fold_lines(json_line(d) for d in docs)
    assert batch.invalid == 0, batch.errors
    agg = aggregate(batch.states(), horizon, CAL)
    return {p: {k: v for k, v in c.to_dict().items() if v}
            for (u, p), c in agg.counters.items() if u == "C1"}


def compute_ratios(counts: dict[str, int]) -> dict[str, float | None]:
    return _compute_ratios({**dict.fromkeys(COUNT_KEYS, 0), **counts})


def _only(counts: dict[str, int], prefix: tuple[str, ...]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if k.startswith(prefix)}


PETITION = ("petitions_",)
CATALOG = ("procedures",)
DOCS = ("documents_",)


def test_petitions_of_the_quarter() -> None:
    q4 = _counts(families_quarter())["2025-Q4"]
    # received in Q4 within competence: P1 P2 P3 P4 P5 P8 (P7 is Q3, P6 and P9 outside
    # competence) = 6; answered in Q4: P1 P2 P3 P7 P8 = 5, on time P1 P3 P7 P8 = 4 (P2 late);
    # open at the end: P4 (due 10/12, overdue) and P5 (due 15/1) = 2, overdue 1;
    # unsatisfied: P2 (late) and P3 (rated dissatisfied) = 2
    assert _only(q4, PETITION) == {
        "petitions_received": 6, "petitions_answered": 5, "petitions_answered_on_time": 4,
        "petitions_open": 2, "petitions_open_overdue": 1, "petitions_unsatisfied": 2}
    ratios = compute_ratios(q4)
    assert ratios["petition_on_time"] == (4 + 2 - 1) / (5 + 2)
    assert ratios["petition_satisfaction"] == (5 - 2) / 5


def test_petitions_by_month_and_the_quarter_before() -> None:
    by = _counts(families_quarter())
    # October: received P1 P2; answered P1 (8/10) P2 (20/10, late) P7 (2/10); on time P1 P7;
    # nothing open at the end of October; P2 unsatisfied
    assert _only(by["2025-10"], PETITION) == {
        "petitions_received": 2, "petitions_answered": 3, "petitions_answered_on_time": 2,
        "petitions_unsatisfied": 1}
    # December: received P4 P5, both open at the end, P4 overdue
    assert _only(by["2025-12"], PETITION) == {
        "petitions_received": 2, "petitions_open": 2, "petitions_open_overdue": 1}
    # Q3: P7 received 25/9, open at the end of September, due 3/10: not overdue
    assert _only(by["2025-Q3"], PETITION) == {"petitions_received": 1, "petitions_open": 1}


def test_dossiers_petitioned_and_satisfaction_766() -> None:
    q4 = _counts(families_quarter())["2025-Q4"]
    # dossiers: H1 early, H2 late (resolved 10/11, due 5/11), H4 early, H3 open (due 10/1);
    # H2 named by P8, H3 by P9 (outside competence, still a petition naming it) → 2
    # petitioned, 1 of them late
    assert q4["resolved"] == 3 and q4["resolved_late"] == 1 and q4["in_progress"] == 1
    assert q4["dossiers_petitioned"] == 2
    assert q4["dossiers_petitioned_late"] == 1
    # 766.5.4: 1 − (late 1 + overdue 0 + petitioned 2 − petitioned and late 1)/(3 + 1)
    # − dissatisfied 0/rated 0 = 1 − 2/4 = 1/2
    assert measure(SATISFACTION_766, q4).value == Fraction(1, 2)


def test_the_procedure_catalog_of_the_quarter() -> None:
    q4 = _counts(families_quarter())["2025-Q4"]
    # in force at the end: PR1 (full, payment), PR4 (none), PR5 (republished partial, no
    # payment) = 3; PR2 withdrawn 15/12. First published in Q4: PR2 (late: due 5/10),
    # PR4, PR5 (no due_at: on time) = 3, 2 on time. Online: PR1 PR5; full: PR1; payment:
    # PR1. Used: PR1 has H1 (online, full, paid online, received 6/10) → 1 each; PR5 none.
    assert _only(q4, CATALOG) == {
        "procedures": 3, "procedures_published": 3, "procedures_published_on_time": 2,
        "procedures_online": 2, "procedures_full_online": 1, "procedures_online_payment": 1,
        "procedures_online_used": 1, "procedures_full_online_used": 1,
        "procedures_online_payment_used": 1,
        # v1.2: all 3 complete (the default); PR5's republication 1/12 is an update,
        # without due_at: on time
        "procedures_complete": 3, "procedures_updated": 1, "procedures_updated_on_time": 1}
    ratios = compute_ratios(q4)
    assert ratios["procedures_on_time"] == 2 / 3
    assert ratios["procedures_online_share"] == 2 / 3
    assert ratios["online_procedures_used"] == 1 / 2
    assert ratios["full_online_procedures_used"] == 1.0
    assert ratios["online_payment_procedures_used"] == 1.0


def test_the_procedure_catalog_by_month() -> None:
    by = _counts(families_quarter())
    # October (judged 1/11 00:00): PR1, PR2, PR5 (full, payment) in force; PR4 published
    # 1/11 08:00 not yet. Published in October: PR2 (late), PR5. Used in October: PR1 (H1).
    assert _only(by["2025-10"], CATALOG) == {
        "procedures": 3, "procedures_published": 2, "procedures_published_on_time": 1,
        "procedures_online": 3, "procedures_full_online": 2, "procedures_online_payment": 2,
        "procedures_online_used": 1, "procedures_full_online_used": 1,
        "procedures_online_payment_used": 1, "procedures_complete": 3}
    # November: PR1 PR2 PR4 PR5 in force (PR5 still full with payment); published PR4;
    # no online dossier of a catalogued procedure in November (H2 is direct)
    assert _only(by["2025-11"], CATALOG) == {
        "procedures": 4, "procedures_published": 1, "procedures_published_on_time": 1,
        "procedures_online": 3, "procedures_full_online": 2, "procedures_online_payment": 2,
        "procedures_complete": 4}
    # December: as at the end of the quarter, nothing first published, H3 is PR2's
    # (withdrawn by then)
    assert _only(by["2025-12"], CATALOG) == {
        "procedures": 3, "procedures_online": 2, "procedures_full_online": 1,
        "procedures_online_payment": 1, "procedures_complete": 3,
        "procedures_updated": 1, "procedures_updated_on_time": 1}  # v1.2: PR5 on 1/12
    # Q3 (judged 1/10 00:00): PR1 only, published 20/9 before its due 30/9
    assert _only(by["2025-Q3"], CATALOG) == {
        "procedures": 1, "procedures_published": 1, "procedures_published_on_time": 1,
        "procedures_online": 1, "procedures_full_online": 1, "procedures_online_payment": 1,
        "procedures_complete": 1}


def test_documents() -> None:
    by = _counts(families_quarter())
    # D1 e-signed, D2 electronic unsigned, D3 paper, D4 e-signed
    assert _only(by["2025-Q4"], DOCS) == {"documents_issued": 4, "documents_e_signed": 2}
    assert _only(by["2025-12"], DOCS) == {"documents_issued": 2, "documents_e_signed": 1}
    assert compute_ratios(by["2025-Q4"])["e_signed_documents"] == 0.5


def test_any_order_and_duplicates_give_the_same_counts() -> None:
    docs = families_quarter()
    expected = _counts(docs)
    rng = random.Random(15)
    for _ in range(5):
        shuffled = docs + rng.sample(docs, 10)  # duplicates: same (source, id)
        rng.shuffle(shuffled)
        assert _counts(shuffled) == expected


def test_links_are_visible_from_their_instant() -> None:
    # as of 10/11 08:00, P8 (received 10/11 09:00) does not exist yet: H2 is open and
    # not petitioned; as of 10/11 12:00 it is resolved (10:00) and petitioned
    early = _counts(families_quarter(), local_instant(__import__("datetime").date(2025, 11, 10))
                    + 8 * 3600)["2025-11"]
    assert early.get("dossiers_petitioned", 0) == 0
    later = _counts(families_quarter(), local_instant(__import__("datetime").date(2025, 11, 10))
                    + 12 * 3600)["2025-11"]
    assert later["dossiers_petitioned"] == 1 and later["dossiers_petitioned_late"] == 1


def test_distinct_events_leave_out_the_link_facts() -> None:
    """Hand-worked: one online dossier of procedure P1 at C1, the catalog entry C1/P1 and a
    petition naming the dossier, the petition sent twice — 3 distinct events. The batch
    adds two link facts (the dossier's ``petitioned``, the entry's ``used online``): 5
    facts in all, 3 events for the SQL store to hold."""
    from tests.eventkit import petition_dict, published_dict, received_dict

    petition = petition_dict("2025-06-16T09:00:00+07:00", "PAKN1", unit="C1",
                             due="2025-06-26T17:00:00+07:00", id_="p1", dossier_code="HS1")
    docs = [received_dict("2025-06-15T08:00:00+07:00", "HS1", unit="C1", level="commune",
                          procedure="P1", channel="online"),
            published_dict("2025-01-02T08:00:00+07:00", "C1", "P1", "full"),
            petition, dict(petition)]
    batch = fold_lines(json_line(d) for d in docs)
    assert sum(len(facts) for facts in batch.facts.values()) == 5
    assert batch.distinct_events() == 3
