"""Scoring rules, no-dossier handling, satisfaction_766 and gap arithmetic, worked by hand."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Any

import pytest

from kpi.catalog import Catalog, parse_catalog, shipped_catalogs
from kpi.criteria import CRITERION_RATIO_KEYS, Criterion
from kpi.report import GAP_NOUN_VI
from kpi.scoring import (
    Gap,
    criteria_for_report,
    gap,
    group_totals,
    measure,
    score,
    score_criterion,
    totals,
    weakest_grade,
)


def crit(ratio: str, rule: str, max_points: float = 1.0, **kw: Any) -> Criterion:
    data: dict[str, Any] = {
        "id": kw.pop("id", "X.1"),
        "name": "thử",
        "ratio": ratio,
        "max_points": max_points,
        "rule": rule,
        "no_dossiers": kw.pop("no_dossiers", "not_applicable"),
        "grade": "M",
        **kw,
    }
    return Criterion.model_validate(data)


STEPS = [[1.0, 1.0], [0.95, 0.5]]  # "100% → 1.0; ≥ 95% → 0.5; else 0"


def on_time(n: int, d: int) -> dict[str, int]:
    """on_time_resolved = n / d (early + on time = n, resolved = d)."""
    return {"resolved": d, "resolved_on_time": n, "resolved_late": d - n}


def online(n: int, d: int) -> dict[str, int]:
    return {"received": d, "received_online": n}


# ------------------------------------------------------------------------------ rules


def test_linear_on_time_766() -> None:
    c = crit("on_time_766", "linear", 20)
    counts = {
        "resolved": 18, "resolved_early": 10, "resolved_on_time": 7, "resolved_late": 1,
        "in_progress": 2, "in_progress_overdue": 1,
    }  # fmt: skip
    e = score_criterion(c, counts)
    # numerator 10 + 7 + 2 − 1 = 18; denominator 18 + 2 = 20; 18/20 = 0.9; 0.9 × 20 = 18
    assert (e["numerator"], e["denominator"]) == (18, 20)
    assert e["value"] == 0.9 and e["points"] == 18.0 and e["applicable"] is True


def test_linear_lam_dong_q1_2020() -> None:
    # Lâm Đồng Q1/2020 [V]: 643,272 resolved, 635,593 on time, 7,172 in progress, 1,222 overdue
    counts = {
        "resolved": 643_272, "resolved_on_time": 635_593,
        "in_progress": 7_172, "in_progress_overdue": 1_222,
    }  # fmt: skip
    e = score_criterion(crit("on_time_766", "linear", 20), counts)
    # (635,593 + 7,172 − 1,222) / (643,272 + 7,172) = 641,543 / 650,444 = 0.986315…
    assert (e["numerator"], e["denominator"]) == (641_543, 650_444)
    assert e["value"] == 641_543 / 650_444
    # 641,543 × 20 / 650,444 = 12,830,860 / 650,444 = 19.72631… → 19.7263
    assert e["points"] == 19.7263


@pytest.mark.parametrize(
    ("n", "d", "points"),
    [
        (10, 25, 9.6),  # 0.4 < 0.5: 0.4 × 12 / 0.5 = 9.6
        (1, 3, 8.0),  # 1/3 × 12 / (1/2) = 8
        (10, 20, 12.0),  # exactly 0.5 → full
        (15, 20, 12.0),  # 0.75 ≥ 0.5 → full
        (0, 20, 0.0),  # 0 × 12 / 0.5 = 0
    ],
)
def test_target(n: int, d: int, points: float) -> None:
    c = crit("online_receipt", "target", 12, target=0.5)
    assert score_criterion(c, online(n, d))["points"] == points


def test_target_rounds_points_to_4_decimals() -> None:
    c = crit("digitization", "target", 4, target=0.8)
    # 1/3 × 4 / 0.8 = (4/3) / (4/5) = 5/3 = 1.66666… → 1.6667
    e = score_criterion(c, {"received": 3, "digitized": 1})
    assert e["points"] == 1.6667 and e["value"] == 1 / 3


@pytest.mark.parametrize(
    ("n", "d", "points"),
    [
        (20, 20, 1.0),  # 100% → 1.0
        (19, 20, 0.5),  # exactly 95% → 0.5 (threshold inclusive)
        (199, 200, 0.5),  # 99.5% → 0.5
        (189, 200, 0.0),  # 94.5% → 0
        (0, 20, 0.0),
    ],
)
def test_steps(n: int, d: int, points: float) -> None:
    c = crit("on_time_resolved", "steps", 1.0, steps=STEPS)
    assert score_criterion(c, on_time(n, d))["points"] == points


def test_steps_threshold_compared_exactly() -> None:
    # 0.07 as a float is 0.07000000000000000666…; 7/100 must reach the 0.07 step
    c = crit("online_receipt", "steps", 1.0, steps=[[0.07, 1.0]])
    assert score_criterion(c, online(7, 100))["points"] == 1.0
    assert score_criterion(c, online(6, 100))["points"] == 0.0


# ----------------------------------------------------------------------- no dossiers


@pytest.mark.parametrize("rule", ["linear", "target", "steps"])
def test_no_dossiers_full_zero_not_applicable(rule: str) -> None:
    extra: dict[str, Any] = {"target": 0.5} if rule == "target" else {}
    if rule == "steps":
        extra = {"steps": [[1.0, 2.0], [0.5, 1.0]]}
    counts = online(0, 0)  # denominator 0
    full = score_criterion(crit("online_receipt", rule, 2, no_dossiers="full", **extra), counts)
    zero = score_criterion(crit("online_receipt", rule, 2, no_dossiers="zero", **extra), counts)
    na = score_criterion(
        crit("online_receipt", rule, 2, no_dossiers="not_applicable", **extra), counts
    )
    for e in (full, zero, na):
        assert e["value"] is None  # never a fake 0
        assert (e["numerator"], e["denominator"]) == (0, 0)
    assert (full["points"], full["applicable"]) == (2.0, True)  # full → max_points
    assert (zero["points"], zero["applicable"]) == (0.0, True)
    assert (na["points"], na["applicable"]) == (None, False)


def test_totals_skip_not_applicable() -> None:
    entries: list[dict[str, Any]] = [
        {"points": 18.0, "max_points": 20, "applicable": True},
        {"points": 0.0, "max_points": 6, "applicable": True},
        {"points": None, "max_points": 6, "applicable": False},
        {"points": 0.1, "max_points": 0.2, "applicable": True},
    ]
    # points 18 + 0 + 0.1 = 18.1; max 20 + 6 + 0.2 = 26.2 (the 6 not applicable is left out)
    assert totals(entries) == {"points": 18.1, "max_points": 26.2}


def test_missing_count_keys_count_as_zero() -> None:
    # only two keys given: received 4, received_online 1 → 1/4 = 0.25 × 8 = 2
    e = score_criterion(crit("online_receipt", "linear", 8), {"received": 4, "received_online": 1})
    assert e["points"] == 2.0


# ------------------------------------------------------------------- satisfaction_766


def sat(late: int = 0, resolved: int = 0, overdue: int = 0, in_progress: int = 0,
        dissatisfied: int = 0, rated: int = 0) -> dict[str, int]:  # fmt: skip
    return {
        "resolved": resolved, "resolved_late": late, "in_progress": in_progress,
        "in_progress_overdue": overdue, "dissatisfied": dissatisfied, "rated": rated,
    }  # fmt: skip


SAT = crit("satisfaction_766", "target", 6, target=0.9, id="766.5.4")


def test_satisfaction_766_value_and_points() -> None:
    e = score_criterion(SAT, sat(late=1, resolved=18, in_progress=2, dissatisfied=1, rated=10))
    # 1 − (1 + 0)/(18 + 2) − 1/10 = 1 − 0.05 − 0.1 = 0.85 = 17/20
    assert e["value"] == 0.85
    assert (e["numerator"], e["denominator"]) == (17, 20)
    assert e["terms"] == {"late_overdue_or_petitioned": [1, 20], "dissatisfied": [1, 10]}
    # 0.85 < 0.9: 0.85 × 6 / 0.9 = 17/3 = 5.6666… → 5.6667
    assert e["points"] == 5.6667
    assert e["formula"].startswith(
        "1 − (resolved_late + in_progress_overdue + dossiers_petitioned"
        " − dossiers_petitioned_late)")


def test_satisfaction_766_overdue_in_progress_counts() -> None:
    m = measure("satisfaction_766", sat(late=1, resolved=30, overdue=3, in_progress=10))
    # 1 − (1 + 3)/(30 + 10) = 1 − 4/40 = 0.9; no ratings → dissatisfied term 0
    assert m.value == Fraction(9, 10)


def test_satisfaction_766_null_handling() -> None:
    # no dossiers, 1 of 4 ratings dissatisfied: 1 − 0 − 1/4 = 0.75
    assert measure("satisfaction_766", sat(dissatisfied=1, rated=4)).value == Fraction(3, 4)
    # dossiers but no ratings: 1 − 2/10 − 0 = 0.8
    assert measure("satisfaction_766", sat(late=2, resolved=10)).value == Fraction(4, 5)
    # neither: null → no_dossiers
    e = score_criterion(SAT, sat())
    assert e["value"] is None and e["applicable"] is False
    assert e["numerator"] is None and e["denominator"] is None
    # "dissatisfied" missing altogether counts as 0: 1 − 0/5 − 0/3 = 1
    assert measure("satisfaction_766", {"resolved": 5, "rated": 3}).value == 1


def test_satisfaction_766_clamped_at_zero() -> None:
    e = score_criterion(SAT, sat(late=10, resolved=10, dissatisfied=1, rated=2))
    # 1 − 10/10 − 1/2 = −0.5 → clamped to 0 → 0 points
    assert e["value"] == 0.0 and e["points"] == 0.0


# ------------------------------------------------------------------------------ gaps


def test_gap_linear() -> None:
    c = crit("on_time_766", "linear", 20)
    counts = {"resolved": 20, "resolved_on_time": 18, "resolved_late": 2}
    g = gap(c, counts)
    # 18/20 → full only at 20/20: 2 more on time
    assert g == Gap("X.1", threshold=1.0, points=20.0, dossiers=2, reason="")
    assert g is not None and g.status == "reachable" and g.reachable
    assert gap(c, {"resolved": 20, "resolved_on_time": 20}) is None  # already full


def test_gap_target() -> None:
    c = crit("online_receipt", "target", 12, target=0.5)
    g = gap(c, online(10, 25))
    # need n/25 ≥ 0.5 → n ≥ 12.5 → n = 13: 13 − 10 = 3 (12/25 = 0.48 is not enough)
    assert g is not None and (g.dossiers, g.threshold, g.points) == (3, 0.5, 12.0)
    assert gap(c, online(10, 20)) is None  # exactly 0.5 is full


def test_gap_steps_exact_threshold() -> None:
    c = crit("on_time_resolved", "steps", 1.0, steps=STEPS)
    # 18/20 = 0.9, below all steps: next is 0.95 → n ≥ 0.95 × 20 = 19 exactly → 1 more
    # (a float ceil slip would say 20 − 18 = 2)
    g = gap(c, on_time(18, 20))
    assert g is not None and (g.dossiers, g.threshold, g.points) == (1, 0.95, 0.5)
    # 19/20 = 0.95 sits exactly on the 0.5 step: next is 1.0 → 20 − 19 = 1 more
    g = gap(c, on_time(19, 20))
    assert g is not None and (g.dossiers, g.threshold, g.points) == (1, 1.0, 1.0)
    # 100/200 = 0.5: 0.95 × 200 = 190 → 90 more
    g = gap(c, on_time(100, 200))
    assert g is not None and g.dossiers == 90
    assert gap(c, on_time(20, 20)) is None


def test_gap_float_edge_ceil() -> None:
    # 0.07 × 100 = 7.000000000000001 in floats (ceil → 8); exactly it is 7
    c = crit("online_receipt", "steps", 1.0, steps=[[0.07, 1.0]])
    g = gap(c, online(0, 100))
    assert g is not None and g.dossiers == 7
    # 0.14 × 50 = 7.000000000000001 in floats; exactly 7 → 7 − 3 = 4
    c = crit("digitization", "target", 1.0, target=0.14)
    g = gap(c, {"received": 50, "digitized": 3})
    assert g is not None and g.dossiers == 4


def test_gap_skips_steps_with_no_more_points() -> None:
    c = crit("on_time_resolved", "steps", 1.0, steps=[[1.0, 1.0], [0.9, 0.5], [0.8, 0.5]])
    # 17/20 = 0.85 → the 0.8 step (0.5 points); the 0.9 step gives no more, so the goal is
    # 1.0: 20 − 17 = 3
    g = gap(c, on_time(17, 20))
    assert g is not None and (g.dossiers, g.threshold, g.points) == (3, 1.0, 1.0)


def test_gap_satisfaction_reachable_exactly() -> None:
    counts = sat(late=1, resolved=18, in_progress=2, dissatisfied=1, rated=10)
    g = gap(SAT, counts)
    # value 0.85; need 1 − (1 − k)/20 − 1/10 ≥ 0.9 → (1 − k)/20 ≤ 0 → k = 1
    # (in floats 1 − 0.9 − 0.1 = −2.8e−17 would wrongly say unreachable)
    assert g is not None and (g.dossiers, g.threshold, g.points) == (1, 0.9, 6.0)
    counts = sat(late=5, resolved=40, dissatisfied=1, rated=20)
    # value 1 − 5/40 − 1/20 = 0.825; room = 40 × (1 − 0.9 − 0.05) = 2 → late ≤ 2 → k = 3
    # check: k = 3 → 1 − 2/40 − 0.05 = 0.9 ✓; k = 2 → 1 − 3/40 − 0.05 = 0.875 ✗
    g = gap(SAT, counts)
    assert g is not None and g.dossiers == 3


def test_gap_satisfaction_unreachable_by_dissatisfied_ratings() -> None:
    counts = sat(late=1, resolved=20, dissatisfied=2, rated=10)
    # even with no late dossier: 1 − 0 − 2/10 = 0.8 < 0.9
    g = gap(SAT, counts)
    assert g is not None and g.status == "unreachable" and g.dossiers is None
    assert not g.reachable
    assert "dissatisfied" in g.reason
    assert g.to_dict() == {
        "id": "766.5.4", "status": "unreachable", "threshold": 0.9, "points": 6.0,
        "dossiers": None, "reason": g.reason,
    }  # fmt: skip
    # ratings only, no dossiers: 1 − 1/4 = 0.75 < 0.9 and nothing to change
    g = gap(SAT, sat(dissatisfied=1, rated=4))
    assert g is not None and g.status == "unreachable" and "no dossiers" in g.reason


def test_gap_no_dossiers() -> None:
    counts = online(0, 0)
    for mode in ("zero", "not_applicable"):
        g = gap(crit("online_receipt", "target", 1.0, target=0.5, no_dossiers=mode), counts)
        assert g is not None and g.status == "unreachable" and "no dossiers" in g.reason
        assert (g.threshold, g.points) == (0.5, 1.0)
    # full points already awarded for no dossiers → nothing to gain
    assert gap(crit("online_receipt", "linear", 1.0, no_dossiers="full"), counts) is None
    # steps with zero: the first step to aim for is the lowest one (0.5 → 1 point)
    g = gap(crit("online_receipt", "steps", 2, steps=[[1.0, 2.0], [0.5, 1.0]],
                 no_dossiers="zero"), counts)  # fmt: skip
    assert g is not None and (g.threshold, g.points, g.dossiers) == (0.5, 1.0, None)


# ----------------------------------------------------------------------------- report


COUNTS = {
    "received": 20, "received_online": 10, "resolved": 20, "resolved_early": 10,
    "resolved_on_time": 9, "resolved_late": 1, "rated": 10, "dissatisfied": 1,
}  # fmt: skip


D766_IDS = [
    "766.1.1", "766.1.2", "766.1.3", "766.1.4", "766.2.1", "766.2.2", "766.3.1", "766.3.2",
    "766.3.3", "766.3.5", "766.3.6", "766.4.1", "766.4.2", "766.4.3", "766.4.4", "766.5.1",
    "766.5.2", "766.5.4",
]  # fmt: skip
NOT_SCORED_IDS = ["766.1.1", "766.1.3", "766.2.2", "766.4.3"]


def test_score_entry_shape() -> None:
    cat = next(c for c in shipped_catalogs() if c.id == "decision-766-2022")
    entries = score(cat, COUNTS)
    assert [e["id"] for e in entries] == D766_IDS
    for e in entries:
        # docs/contract.md criteria entry keys, plus the extras
        assert {"id", "name", "value", "points", "max_points"} <= set(e)
        assert {"formula", "numerator", "denominator", "rule", "applicable"} <= set(e)
        assert {"status", "grade", "group", "group_name"} <= set(e)
        assert e["catalog"] == "decision-766-2022@2022-06-23"
    by_id = {e["id"]: e for e in entries}
    # 766.2.1: (10 + 9 + 0 − 0)/(20 + 0) = 0.95 × 20 = 19
    assert by_id["766.2.1"]["points"] == 19.0
    # 766.3.3: 10/20 = 0.5 ≥ T 0.5 → 12
    assert by_id["766.3.3"]["points"] == 12.0
    # 766.3.6, 766.4.1: no fee dossiers / no paper-result dossiers → not applicable
    assert by_id["766.3.6"]["applicable"] is False and by_id["766.4.1"]["points"] is None
    assert by_id["766.3.6"]["status"] == "not applicable: no dossiers"
    # 766.4.2: 0/20 digitized → 0
    assert by_id["766.4.2"]["points"] == 0.0
    # 766.5.4: 1 − 1/20 − 1/10 = 0.85 → 0.85 × 6 / 0.9 = 5.6667
    assert by_id["766.5.4"]["points"] == 5.6667
    # 766.1.4 synced 0/20 and 766.4.4 reused 0/20: scored, 0 points
    assert (by_id["766.1.4"]["points"], by_id["766.1.4"]["status"]) == (0.0, "scored")
    assert by_id["766.4.4"]["points"] == 0.0
    # no petitions, no catalog entries: those indicators are not applicable
    for i in ("766.1.2", "766.3.1", "766.3.2", "766.3.5", "766.5.1", "766.5.2"):
        assert by_id[i]["applicable"] is False, i
    # indicators no event can feed: listed, never scored, never dropped
    for i in NOT_SCORED_IDS:
        e = by_id[i]
        assert e["status"] == "not scored: no data" and e["reason"], i
        assert (e["points"], e["value"], e["ratio"], e["applicable"]) == (None, None, None,
                                                                          False), i
    assert by_id["766.1.1"]["max_points"] == 5 and by_id["766.2.2"]["max_points"] is None
    assert {e["grade"] for e in entries} == {"S", "M"}
    assert by_id["766.5.4"]["group_name"] == "Mức độ hài lòng"
    # total: 19 + 12 + 0 + 5.6667 + 0 + 0 = 36.6667 of 20 + 12 + 4 + 6 + 5 + 6 = 53
    assert totals(entries) == {"points": 36.6667, "max_points": 53.0}


def test_group_totals_of_the_766_entries() -> None:
    cat = next(c for c in shipped_catalogs() if c.id == "decision-766-2022")
    groups = group_totals(score(cat, COUNTS))
    assert list(groups) == ["transparency", "progress", "online_services", "digitization",
                            "satisfaction"]
    got = {g: (v["points"], v["max_points"], v["total"], v["grade"]) for g, v in groups.items()}
    assert got == {
        "transparency": (0.0, 5.0, 18.0, "M"),       # 766.1.4 synced 0/20 of 5
        "progress": (19.0, 20.0, 20.0, "S"),         # 766.2.1
        "online_services": (12.0, 12.0, 22.0, "S"),  # 766.3.3 only
        "digitization": (0.0, 10.0, 22.0, "M"),      # 766.4.2 (4) + 766.4.4 (6)
        "satisfaction": (5.6667, 6.0, 18.0, "S"),    # 766.5.4 only
    }
    assert groups["transparency"]["not_scored"] == ["766.1.1", "766.1.3"]
    assert groups["transparency"]["not_applicable"] == ["766.1.2"]
    assert groups["progress"]["not_scored"] == ["766.2.2"]
    assert groups["satisfaction"]["name"] == "Mức độ hài lòng"
    assert weakest_grade(["V", "S"]) == "S" and weakest_grade([]) is None


def test_a_criterion_not_scored_has_no_gap() -> None:
    cat = next(c for c in shipped_catalogs() if c.id == "decision-766-2022")
    crit = next(c for c in cat.criteria if c.id == "766.4.3")
    assert gap(crit, COUNTS) is None


def test_criteria_for_report_district_and_commune() -> None:
    on = dt.date(2025, 4, 30)
    district = criteria_for_report(COUNTS, "district", on)
    ids = [e["id"] for e in district]
    assert ids[:18] == D766_IDS
    assert ids[18:] == [f"PAR.DO.{i}" for i in range(1, 9)]
    by_id = {e["id"]: e for e in district}
    # PAR.DO.1 on_time_resolved 19/20 = 0.95 → 0.5 (step "≥ 95%")
    assert by_id["PAR.DO.1"]["points"] == 0.5
    # PAR.DO.2 late_apology 0/1 → below the 100% step → 0
    assert by_id["PAR.DO.2"]["points"] == 0.0
    # PAR.DO.3 online 0.5 < T 0.8: 0.5 × 1 / 0.8 = 0.625
    assert by_id["PAR.DO.3"]["points"] == 0.625
    # PAR.DO.6 full_online: no eligible dossiers, no_dossiers zero → 0, applicable
    assert (by_id["PAR.DO.6"]["points"], by_id["PAR.DO.6"]["applicable"]) == (0.0, True)

    commune = criteria_for_report(COUNTS, "commune", on)
    assert [e["id"] for e in commune][18:] == [f"PAR.CM.{i}" for i in range(1, 9)]


def test_criteria_for_report_province() -> None:
    on = dt.date(2025, 4, 30)
    assert [e["id"] for e in criteria_for_report(COUNTS, "province", on)] == D766_IDS
    province: Catalog = parse_catalog({
        "id": "par-province", "version": "2025", "kind": "par_index", "issuer": "Bộ Nội vụ",
        "level": "province", "valid_from": "2025-01-01", "source": "test [M]",
        "criteria": [{
            "id": "P.1", "name": "Trực tuyến", "ratio": "online_receipt", "max_points": 2,
            "rule": "linear", "no_dossiers": "zero", "grade": "M",
        }],
    })  # fmt: skip
    entries = criteria_for_report(COUNTS, "province", on, [*shipped_catalogs(), province])
    assert [e["id"] for e in entries][18:] == ["P.1"]
    assert entries[18]["points"] == 1.0  # 10/20 × 2 = 1
    assert (entries[18]["group"], entries[18]["group_name"]) == (None, None)  # PAR: no group
    # before the province catalog's valid_from → none again
    assert len(criteria_for_report(COUNTS, "province", dt.date(2024, 12, 31),
                                   [*shipped_catalogs(), province])) == 18  # fmt: skip


def test_criteria_for_report_before_any_catalog() -> None:
    # 22/6/2022: before Decision 766 and before the example PAR catalogs (2023-01-01)
    assert criteria_for_report(COUNTS, "district", dt.date(2022, 6, 22)) == []


def test_gap_nouns_cover_every_criterion_ratio() -> None:
    # "cần thêm N <noun>": every ratio a criterion may read has its Vietnamese noun
    assert set(GAP_NOUN_VI) == set(CRITERION_RATIO_KEYS)
    assert all(noun.strip() for noun in GAP_NOUN_VI.values())


def test_the_new_indicators_on_the_hand_worked_quarter() -> None:
    # tests/unit/test_families.py works out C1's 2025-Q4 counts by hand; scored here:
    from kpi.batch import aggregate, fold_lines
    from kpi.calendar import local_instant
    from kpi.units import CalendarBook
    from tests.eventkit import families_quarter, json_line

    batch = fold_lines(json_line(d) for d in families_quarter())
    end = local_instant(dt.date(2026, 1, 1))
    counts = aggregate(batch.states(), end, CalendarBook()).counters[("C1", "2025-Q4")]
    entries = criteria_for_report(counts.to_dict(), "commune", dt.date(2025, 10, 1))
    points = {e["id"]: e["points"] for e in entries}
    assert {i: points[i] for i in (
        "766.1.2", "766.3.1", "766.3.2", "766.3.5", "766.5.1", "766.5.2", "766.5.4",
        "PAR.CM.7", "PAR.CM.8", "766.1.1", "766.1.3", "766.2.2", "766.4.3")} == {
        "766.1.2": 2.6667,   # published on time 2/3 × 4
        "766.3.1": 0.6667,   # offered online 2/3 × 1
        "766.3.2": 0.75,     # online entries used 1/2 × 1.5
        "766.3.5": 1.5,      # payment entries used 1/1 × 1.5
        "766.5.1": 4.2857,   # petitions on time (4 + 2 − 1)/(5 + 2) × 6
        "766.5.2": 3.6,      # (5 − 2)/5 × 6
        "766.5.4": 3.3333,   # 1/2 < 0.9: 0.5 × 6 / 0.9
        "PAR.CM.7": 0.5,     # full-online entries used 1/1 ≥ 80%
        "PAR.CM.8": 0.25,    # e-signed documents 2/4 × 0.5
        "766.1.1": None, "766.1.3": None, "766.2.2": None, "766.4.3": None,  # no data
    }
