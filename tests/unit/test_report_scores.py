"""The report's scores (docs/scoring.md): ``catalog``, ``groups``, ``total_points``,
``total_max_points`` and ``delta`` against the previous period of the same length, and the
portal's tree. Hand-worked before the code; every count not given is 0.

AUGUST (a department, no commune, no petitions, no catalog entry), catalog portal-766-2026:
  transparency: nothing published, updated or due to sync → not scored, 0 / 0
  progress: 10 resolved on time → 20
  online services: no eligible dossier → 0 / 12; online payment: nothing → 0 / 10
  digitization: 10 handled, none e-result/digitized/reused/stored/citizen data → 0 each;
    no commune → e-certified copy 2; no procedure → connected procedures 0 → 2 / 22
  satisfaction: no petitions → 6 + 6; 9 of 10 handled satisfied = 90% → 6 → 18 / 18
  total 40 / 82
JULY: 5 early + 5 late of 10 → 20 × 0.5 = 10; 5 of 10 satisfied → 6 × 0.5 / 0.9 = 3.3333;
  no petitions 12; digitization 2 → total 27.3333 → delta 40 − 27.3333 = 12.6667
Q2: 10 on time → 20; 9 of 10 satisfied → 6; petitions: 2 of 4 on time → 3, none
  unsatisfied → 6; digitization 2 → total 37 → Q3 (= AUGUST's counts) delta 40 − 37 = 3
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kpi.catalog import find_catalog, shipped_catalogs
from kpi.counters import Counters
from kpi.periods import previous_period
from kpi.registry import UnitRegistry, UnitVersion
from kpi.report import build_report, report_criteria, with_delta
from kpi.tree import children_in_force, portal_tree

AUGUST = {"resolved": 10, "resolved_on_time": 10, "handled": 10, "dossiers_unsatisfied": 1}
JULY = {"resolved": 10, "resolved_early": 5, "resolved_late": 5, "handled": 10,
        "dossiers_unsatisfied": 5}
Q2 = {"resolved": 10, "resolved_on_time": 10, "handled": 10, "dossiers_unsatisfied": 1,
      "petitions_answered": 4, "petitions_answered_on_time": 2}


def _known(counts: dict[str, int]) -> Counters:
    """Counters of the keys this branch's COUNT_KEYS hold (the rest are read as 0)."""
    return Counters.from_mapping({k: v for k, v in counts.items()
                                  if k in Counters().to_dict()})


def _report(period: str, counts: dict[str, int], unit: str = "S1") -> dict[str, Any]:
    criteria = report_criteria(counts, "province", dt.date(2026, 8, 1))
    return build_report(unit, period, _known(counts), 0.0, criteria=criteria,
                        level="province")


def test_previous_period() -> None:
    assert previous_period("2026-08") == "2026-07"
    assert previous_period("2026-01") == "2025-12"
    assert previous_period("2026-Q3") == "2026-Q2"
    assert previous_period("2026-Q1") == "2025-Q4"
    assert previous_period("2026") == "2025"


def test_report_scores() -> None:
    r = _report("2026-08", AUGUST)
    assert r["catalog"] == "portal-766-2026@2026.1"
    assert [(g["id"], g["points"], g["max_points"]) for g in r["groups"]] == [
        ("transparency", 0, 0), ("progress", 20, 20), ("online_services", 0, 12),
        ("online_payment", 0, 10), ("digitization", 2, 22), ("satisfaction", 18, 18),
    ]
    assert (r["total_points"], r["total_max_points"]) == (40, 82)
    assert r["delta"] is None
    assert {e["code"] for e in r["criteria"] if e.get("group")} >= {
        "DOSSIER_ON_TIME", "ONLINE_PAYMENT", "DOSSIER_RECEIVING_SATISFACTION"}


def test_delta_against_previous_month() -> None:
    r = with_delta(_report("2026-08", AUGUST), JULY)
    assert r["delta"] == pytest.approx(12.6667, abs=1e-9)


def test_delta_against_previous_quarter() -> None:
    r = with_delta(_report("2026-Q3", AUGUST), Q2)
    assert r["delta"] == 3


def test_delta_null_without_previous_data() -> None:
    assert with_delta(_report("2026-08", AUGUST), None)["delta"] is None
    assert with_delta(_report("2026-08", AUGUST), {"received": 0})["delta"] is None


def test_delta_scores_the_previous_period_with_the_same_catalog() -> None:
    """January 2026 against December 2025: December's counts are scored by the portal's
    catalog too (decision-766-2022 would give another total out of another maximum), so
    the same counts give a delta of 0."""
    r = with_delta(_report("2026-01", AUGUST), AUGUST)
    assert r["delta"] == 0


def test_explicit_decision_catalog_and_alias() -> None:
    old = find_catalog(shipped_catalogs(), "decision-766")
    assert old.label == "decision-766-2022@2022-06-23"
    criteria = report_criteria(AUGUST, "province", dt.date(2026, 8, 1), decision_catalog=old)
    r = build_report("S1", "2026-08", _known(AUGUST), 0.0, criteria=criteria)
    assert r["catalog"] == "decision-766-2022@2022-06-23"
    assert [g["id"] for g in r["groups"]] == [
        "transparency", "progress", "online_services", "digitization", "satisfaction"]


def test_tree_children_lowest_first() -> None:
    day = dt.date(2026, 8, 31)
    registry = UnitRegistry([
        UnitVersion("P", "Tỉnh", "province", None, dt.date(2025, 7, 1), None),
        UnitVersion("S1", "Sở A", "province", "P", dt.date(2025, 7, 1), None),
        UnitVersion("C1", "Xã B", "commune", "P", dt.date(2025, 7, 1), None),
        UnitVersion("C2", "Xã C", "commune", "P", dt.date(2025, 7, 1), None),
        UnitVersion("C0", "Xã cũ", "commune", "P", dt.date(2025, 7, 1), dt.date(2026, 7, 31)),
    ])
    assert children_in_force(registry, "P", day) == ["C1", "C2", "S1"]
    reports = {"P": _report("2026-08", AUGUST, "P"), "S1": _report("2026-08", AUGUST, "S1"),
               "C1": _report("2026-08", JULY, "C1"), "C2": _report("2026-08", Q2, "C2")}
    tree = portal_tree(reports, "P", children_in_force(registry, "P", day))
    assert tree["parent"]["unit"] == "P"
    # C1 27.3333, C2 37, S1 40
    assert [(r["unit"], r["total_points"]) for r in tree["children"]] == [
        ("C1", 27.3333), ("C2", 37), ("S1", 40)]
    assert len(tree["children"][0]["groups"]) == 6
