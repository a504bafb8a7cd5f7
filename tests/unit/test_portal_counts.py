"""Worked examples of the v1.2 counts (docs/contract.md "New counts"; interpretations in
docs/decisions/kpi-portal-766-2026-counts.md), each expected number derived by hand in a
comment before the code was written. The month is :func:`tests.eventkit.portal_month`
(August 2026, registry :data:`tests.eventkit.PORTAL_REGISTRY`: province P, department S1,
communes X1 and X2), judged at the horizon 1/9/2026 00:00.

D1 (X1, F1): received Mon 3/8 09:00 (2 working days → due Wed 5/8 17:00), fee, paid online
through the portal 3/8 10:00, citizen data, reuse eligible, digitized 2/2 reusing 1,
synced to dvcqg 3/8 12:00 (3 h after the receipt), resolved 4/8 09:00 with an e-result
(early), pushed to personal storage 4/8 12:00, synced to dvcqg 4/8 20:00 (11 h after the
resolution) → every status event synced within 24 h.
D2 (X2, F1): received Tue 4/8 09:00 (due Thu 6/8 17:00), fee, paid online through the
provincial gateway, synced 4/8 10:00, resolved 6/8 09:00 (on time), synced 7/8 12:00 —
27 h after the resolution: late; rated dissatisfied 7/8.
D3 (S1, F2): received 25/8 09:00, due 26/8 17:00, nothing else: open and overdue at the
end of August, never synced.
D5 (X1, F3): received 10/8 09:00, withdrawn 11/8 08:00, synced 11/8 09:00 — exactly 24 h
after the receipt (the window is inclusive) and 1 h after the withdrawal: on time; not
handled (withdrawn).

Catalog: X1/F1 published 3/8 (due 5/8: on time) with fee, citizen data, e-certified copy;
X2/F1 published 3/8 with fee, content not complete; X1/F3 published 3/8, updated 10/8
(due 12/8: on time) and 25/8 (no due_at: on time); S1/F2 published 3/8, updated 20/8
(due 15/8: late).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kpi.attribution import Attribution, restate
from kpi.batch import aggregate, fold_lines
from kpi.calendar import local_instant
from kpi.contribution import DEFAULT_SYNC_WINDOW
from kpi.counters import COUNT_KEYS, Counters, add_distinct, distinct_key, key_indices
from kpi.dossier import DossierState
from kpi.registry import UnitRegistry
from kpi.units import CalendarBook
from streams.aggregator import Aggregator
from streams.tracker import Tracked, Tracker
from tests.eventkit import PORTAL_REGISTRY, json_line, portal_month

HORIZON = local_instant(date(2026, 9, 1))
V12_KEYS = COUNT_KEYS[COUNT_KEYS.index("procedures_updated"):]
V11_KEYS = COUNT_KEYS[:COUNT_KEYS.index("procedures_updated")]


@pytest.fixture
def registry(tmp_path: Path) -> UnitRegistry:
    path = tmp_path / "units.csv"
    path.write_text(PORTAL_REGISTRY, encoding="utf-8")
    return UnitRegistry.load(path)


def _v12(c: Counters) -> dict[str, int]:
    return {k: v for k, v in c.to_dict().items() if v and k in V12_KEYS}


def _agg(documents: list[dict[str, Any]], registry: UnitRegistry | None,
         sync_window: float = DEFAULT_SYNC_WINDOW) -> Any:
    batch = fold_lines(json_line(d) for d in documents)
    assert batch.invalid == 0
    return aggregate(batch.states(), HORIZON, CalendarBook(), registry=registry,
                     sync_window=sync_window)


def test_each_new_count_of_each_unit(registry: UnitRegistry) -> None:
    agg = _agg(portal_month(), registry)
    # X1: D1 handled with every fact; D1 and D5 synced on time; catalog F1 (fee, paid
    # online and through the portal, citizen data, e-certified copy) and F3 (two updates
    # on time); X1 is a commune
    assert _v12(agg.counters[("X1", "2026-08")]) == {
        "handled": 1, "handled_e_result": 1, "handled_digitized": 1, "handled_reused": 1,
        "handled_stored_personal": 1, "handled_citizen_data": 1, "reuse_eligible": 1,
        "sync_due": 2, "synced_on_time": 2,
        "procedures_updated": 2, "procedures_updated_on_time": 2, "procedures_complete": 2,
        "procedures_citizen_data": 1, "fee_procedures": 1, "fee_procedures_paid_online": 1,
        "fee_procedures_paid_portal": 1, "communes": 1, "communes_e_certified_copy": 1}
    # X2: D2 handled, synced late, rated dissatisfied; F1 with a fee, paid online but not
    # through the portal, content not complete
    assert _v12(agg.counters[("X2", "2026-08")]) == {
        "handled": 1, "sync_due": 1, "dossiers_unsatisfied": 1, "fee_procedures": 1,
        "fee_procedures_paid_online": 1, "communes": 1}
    # S1: D3 open overdue (handled, unsatisfied), never synced; F2 complete, its update
    # late; a department: no commune
    assert _v12(agg.counters[("S1", "2026-08")]) == {
        "handled": 1, "sync_due": 1, "dossiers_unsatisfied": 1, "procedures_updated": 1,
        "procedures_complete": 1}
    assert agg.counters[("S1", "2026-08")]["communes"] == 0
    # the quarter holds the same (everything happened in August; D3 judged at the horizon)
    for unit in ("X1", "X2", "S1"):
        assert _v12(agg.counters[(unit, "2026-Q3")]) == _v12(agg.counters[(unit, "2026-08")])


def test_a_province_total_counts_its_catalog_once(registry: UnitRegistry) -> None:
    agg = _agg(portal_month(), registry)
    # dossier counts add up: handled 1 + 1 + 1, sync_due 2 + 1 + 1, on time 2
    # catalog, by code: F1 (X1, X2), F2 (S1), F3 (X1) → 3 procedures (4 entries); complete:
    # F1 (X1's is), F2, F3 → 3; citizen data F1 → 1; fee F1 → 1 (2 entries), paid online
    # F1 → 1 (2 entries), through the portal F1 → 1; communes X1 X2 → 2, with the
    # e-certified copy X1 → 1; updates 2 + 1, on time 2
    total = agg.totals[("P", "2026-08")]
    assert _v12(total) == {
        "handled": 3, "handled_e_result": 1, "handled_digitized": 1, "handled_reused": 1,
        "handled_stored_personal": 1, "handled_citizen_data": 1, "reuse_eligible": 1,
        "sync_due": 4, "synced_on_time": 2, "dossiers_unsatisfied": 2,
        "procedures_updated": 3, "procedures_updated_on_time": 2, "procedures_complete": 3,
        "procedures_citizen_data": 1, "fee_procedures": 1, "fee_procedures_paid_online": 1,
        "fee_procedures_paid_portal": 1, "communes": 2, "communes_e_certified_copy": 1}
    assert total["procedures"] == 3
    own_sum = sum((agg.counters[(u, "2026-08")] for u in ("X1", "X2", "S1")), Counters())
    assert (own_sum["procedures"], own_sum["fee_procedures"]) == (4, 2)  # summed: not this
    # the restated view (as of the horizon, same hierarchy) sums the catalog: documented
    _own, restated = restate(agg.counters, registry, HORIZON)
    assert restated[("P", "2026-08")]["procedures"] == 4
    assert restated[("P", "2026-08")]["communes"] == 2


def test_one_fee_procedure_at_two_communes_after_one_withdraws(
        registry: UnitRegistry) -> None:
    # X1 withdraws F1 on 20/8: F1 is still in force at X2 at the end of August → the
    # total still counts F1 once; X1's own figures lose it (and its e-certified copy)
    month = portal_month() + [
        {"specversion": "1.0", "id": "w1", "source": "urn:test",
         "type": "vn.gov.motcua.procedure.withdrawn", "time": "2026-08-20T10:00:00+07:00",
         "subject": "X1/F1", "data": {}}]
    agg = _agg(month, registry)
    total = agg.totals[("P", "2026-08")]
    assert (total["fee_procedures"], total["procedures"], total["communes_e_certified_copy"]) \
        == (1, 3, 0)
    # paid online: only X2/F1 is in force, and it was paid online (not through the portal)
    assert (total["fee_procedures_paid_online"], total["fee_procedures_paid_portal"]) == (1, 0)
    assert agg.counters[("X1", "2026-08")]["fee_procedures"] == 0


def test_sync_within_and_outside_the_window(registry: UnitRegistry) -> None:
    # with a 3-hour window: D1's resolution (synced 11 h later) is late, its receipt on time
    # (3 h, inclusive); D5's receipt (24 h) late → X1 has 2 due, 0 on time
    agg = _agg(portal_month(), registry, sync_window=3 * 3600)
    assert agg.counters[("X1", "2026-08")]["sync_due"] == 2
    assert agg.counters[("X1", "2026-08")]["synced_on_time"] == 0
    # with 30 hours: D2's resolution (27 h) is on time too
    agg = _agg(portal_month(), registry, sync_window=30 * 3600)
    assert agg.counters[("X2", "2026-08")]["synced_on_time"] == 1


def test_sync_of_a_dossier_open_across_months() -> None:
    # received 30/7 09:00, synced 30/7 10:00, nothing else until the horizon: July on time;
    # August has no status event but the receipt was synced → on time. Never synced at all
    # → on time in no month.
    t = "2026-{}:00+07:00".format
    synced = [
        {"specversion": "1.0", "id": "r", "source": "urn:test",
         "type": "vn.gov.motcua.dossier.received", "time": t("07-30T09:00"), "subject": "H",
         "data": {"unit_code": "U", "unit_level": "commune", "procedure_code": "F",
                  "channel": "online", "processing_days": 30}},
        {"specversion": "1.0", "id": "s", "source": "urn:test",
         "type": "vn.gov.motcua.dossier.synced", "time": t("07-30T10:00"), "subject": "H",
         "data": {}}]
    agg = _agg(synced, None)
    for period in ("2026-07", "2026-08"):
        c = agg.counters[("U", period)]
        assert (c["sync_due"], c["synced_on_time"], c["handled"]) == (1, 1, 1), period
    agg = _agg(synced[:1], None)
    for period in ("2026-07", "2026-08"):
        c = agg.counters[("U", period)]
        assert (c["sync_due"], c["synced_on_time"]) == (1, 0), period


def test_a_department_has_no_commune(registry: UnitRegistry) -> None:
    # S1 has no commune below it: communes 0 in its own figures (and it keeps no total: it
    # is no parent); the province counts X1 and X2
    agg = _agg(portal_month(), registry)
    assert agg.counters[("S1", "2026-08")]["communes"] == 0
    assert ("S1", "2026-08") not in agg.totals
    assert Attribution(registry).communes("S1", "total", "province", HORIZON - 1) == 0
    assert Attribution(registry).communes("P", "total", "province", HORIZON - 1) == 2


def test_without_a_registry_a_commune_counts_itself() -> None:
    agg = _agg(portal_month(), None)
    assert agg.counters[("X1", "2026-08")]["communes"] == 1
    assert agg.counters[("S1", "2026-08")]["communes"] == 0
    assert agg.totals == {}


def test_v11_events_give_unchanged_v11_counts(registry: UnitRegistry) -> None:
    # the same month without any v1.2 field: every v1.1 count as with them, and no v1.2
    # fact counted (no reuse eligibility, citizen data, portal payment, catalog flags; the
    # catalog entries are complete by default, updates without due_at on time)
    v12 = {"reuse_eligible", "citizen_data_used", "fee_required", "content_complete",
           "citizen_data_connected", "e_certified_copy", "gateway"}
    plain = []
    for d in portal_month():
        data = dict(d["data"])
        if d["type"].endswith("procedure.published") or d["type"].endswith("payment.completed"):
            data = {k: v for k, v in data.items() if k not in v12}
        elif d["type"].endswith("dossier.received"):
            data = {k: v for k, v in data.items() if k not in v12 - {"fee_required"}}
        plain.append({**d, "data": data})
    full, old = _agg(portal_month(), registry), _agg(plain, registry)
    for side in ("counters", "totals"):
        a, b = getattr(full, side), getattr(old, side)
        assert a.keys() == b.keys()
        for bucket in a:
            assert {k: a[bucket][k] for k in V11_KEYS} == {k: b[bucket][k] for k in V11_KEYS}
    p = old.totals[("P", "2026-08")]
    assert (p["reuse_eligible"], p["handled_citizen_data"], p["fee_procedures"],
            p["fee_procedures_paid_portal"], p["procedures_citizen_data"],
            p["communes_e_certified_copy"]) == (0, 0, 0, 0, 0, 0)
    assert (p["procedures_complete"], p["procedures_updated_on_time"]) == (3, 2)


def test_distinct_references_in_any_order() -> None:
    # two rows name fee procedure F1, one F2: count 2; removing one F1 keeps 2, the other
    # makes it 1; the order of additions and removals does not matter
    _plain, f1 = key_indices((distinct_key("fee_procedures", "F1"),))
    _plain, f2 = key_indices((distinct_key("fee_procedures", "F2"),))
    i = COUNT_KEYS.index("fee_procedures")
    v = [0] * len(COUNT_KEYS)
    refs: dict[str, int] = {}
    for step, sign, want in ((f1, 1, 1), (f1, 1, 1), (f2, 1, 2), (f1, -1, 2), (f2, -1, 1),
                             (f1, -1, 0)):
        add_distinct(v, refs, step, sign)
        assert v[i] == want
    assert refs == {}
    # a removal before its addition (another partition's order) ends the same
    add_distinct(v, refs, f1, -1)
    add_distinct(v, refs, f1, 1)
    assert v[i] == 0 and refs == {}


@pytest.mark.parametrize("document", [
    d for d in portal_month() if d["type"].rsplit(".", 1)[0].endswith(("dossier", "payment"))])
def test_the_fast_decoder_and_the_models_agree_on_v12_fields(document: dict[str, Any]) -> None:
    # the msgspec path (kpi.fastparse) and the pydantic models (kpi.dossier.fact_of) give the
    # same fact for every dossier and payment event of the month, v1.2 fields included
    from kpi.dossier import fact_key, fact_of
    from kpi.fastparse import fast_fact
    from schemas.validate import parse_event

    raw = json_line(document)
    quick = fast_fact(raw)
    assert quick is not None
    event = parse_event(raw)
    assert quick == (event.subject, fact_key(event.source, event.id), fact_of(event))


def test_v12_facts_are_packed_only_when_they_say_something() -> None:
    # a v1.1 received fact keeps its 14 fields and a payment its 3, so that states stored
    # before read the same and v1.1 inputs cost no memory more
    from kpi.decode import decode

    facts = {d["subject"] + d["type"]: decode(json_line(d))[2] for d in portal_month()}
    assert len(facts["D1vn.gov.motcua.dossier.received"]) == 16
    assert len(facts["D2vn.gov.motcua.dossier.received"]) == 14
    assert facts["D1vn.gov.motcua.payment.completed"][3:] == (True,)
    assert len(facts["D2vn.gov.motcua.payment.completed"]) == 3
    assert len(facts["X2/F1vn.gov.motcua.procedure.published"]) == 13


def test_an_e_result_counts_with_its_resolution_only() -> None:
    # received 30/7, open at the end of July, resolved 5/8 with an e-result: July handled 1
    # (in progress) without the e-result, August handled 1 with it
    t = "2026-{}:00+07:00".format
    docs = [
        {"specversion": "1.0", "id": "r", "source": "urn:test",
         "type": "vn.gov.motcua.dossier.received", "time": t("07-30T09:00"), "subject": "H",
         "data": {"unit_code": "U", "unit_level": "commune", "procedure_code": "F",
                  "channel": "online", "processing_days": 10}},
        {"specversion": "1.0", "id": "d", "source": "urn:test",
         "type": "vn.gov.motcua.dossier.resolved", "time": t("08-05T09:00"), "subject": "H",
         "data": {"result_electronic": True}}]
    agg = _agg(docs, None)
    july, august = agg.counters[("U", "2026-07")], agg.counters[("U", "2026-08")]
    assert (july["handled"], july["handled_e_result"]) == (1, 0)
    assert (august["handled"], august["handled_e_result"]) == (1, 1)


def test_the_live_aggregator_counts_codes_once_and_keeps_its_references(
        registry: UnitRegistry) -> None:
    # the month's catalog and dossiers through the worker's tracker and aggregator: the
    # province total counts F1 once; X1 withdraws F1 on 20/8 → still 1 (X2's); X2 withdraws
    # it too on 21/8 → 0. The references survive the local checkpoint (a restart).
    tracker = Tracker(CalendarBook(), attribution=Attribution(registry))
    agg = Aggregator()
    batch = fold_lines(json_line(d) for d in portal_month())

    def run(states: list[DossierState]) -> Counters:
        for state in states:
            rec = tracker.dossiers.get(state.code)
            if rec is None:
                rec = tracker.dossiers.setdefault(state.code, Tracked(state, 0))
            rec.state = state
            for key, entry in tracker.emit(rec, HORIZON):
                agg.apply(key, entry, 0)
        return agg.published("P\x1e", "2026-08", tracker.attribution, HORIZON)

    total = run(list(batch.states()))
    want = aggregate(batch.states(), HORIZON, CalendarBook(), registry).totals[("P", "2026-08")]
    assert total == want and total["fee_procedures"] == 1
    withdrawn = []
    for unit, day in (("X1", "20"), ("X2", "21")):
        code = f"{unit}/F1"
        facts = dict(batch.facts[code])
        facts[f"urn:test\x1fw-{unit}"] = ("procedure_withdrawn",
                                          local_instant(date(2026, 8, int(day)), 10))
        batch.facts[code] = facts
        withdrawn.append(DossierState(code, facts))
        total = run([withdrawn[-1]])
        assert total["fee_procedures"] == (1 if unit == "X1" else 0), unit
        assert total == aggregate(batch.states(), HORIZON, CalendarBook(),
                                  registry).totals[("P", "2026-08")]
    # a restart from the local checkpoint: counters and references back
    again = Aggregator()
    for (key, period) in list(agg.counters):
        again.load_counter(0, key, period, agg.checkpoint_value((key, period)))
    assert again.refs == {b: r for b, r in agg.refs.items() if r}
    assert again.counters == agg.counters

