"""The demo's scorecards in 2026 (catalog portal-766-2026): six groups, and the province's
tree, lowest total first.

Hand-worked (August 2026, every other count 0): the department S1 resolves 10 dossiers on
time (progress 20) and the commune C1 resolves 10 late (progress 0); neither had petitions
(6 + 6) nor a commune below (e-certified copy 2, pre-count) — so C1's total is 20 points
below S1's and C1 comes first among the province's children.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from rich.console import Console

from kpi.attribution import AS_WAS, OWN, TOTAL
from kpi.counters import Counters
from kpi.registry import UnitRegistry, UnitVersion
from kpi.report import build_report
from motcua.scorecard import (
    group_scorecard,
    present,
    province_trees,
    scorecard,
    scorecard_title,
    tree_table,
)

AS_OF = dt.datetime(2026, 9, 1, tzinfo=dt.timezone(dt.timedelta(hours=7))).timestamp()
REGISTRY = UnitRegistry([
    UnitVersion("P", "Tỉnh Thử", "province", None, dt.date(2025, 7, 1), None),
    UnitVersion("S1", "Sở Thử", "province", "P", dt.date(2025, 7, 1), None),
    UnitVersion("C1", "Xã Thử", "commune", "P", dt.date(2025, 7, 1), None),
])


def _reports() -> list[dict[str, Any]]:
    s1 = Counters.from_mapping({"resolved": 10, "resolved_on_time": 10})
    c1 = Counters.from_mapping({"resolved": 10, "resolved_late": 10})
    return [
        build_report("S1", "2026-08", s1, AS_OF, level="province"),
        build_report("C1", "2026-08", c1, AS_OF, level="commune"),
        build_report("P", "2026-08", Counters(), AS_OF, level="province"),
        build_report("P", "2026-08", s1 + c1, AS_OF, level="province", scope=TOTAL),
    ]


def test_scorecard_shows_six_groups() -> None:
    shown = present([r for r in _reports() if r["scope"] == OWN], REGISTRY, AS_OF)
    assert all(len(r["groups"]) == 6 for r in shown)
    out = io.StringIO()
    console = Console(file=out, width=250)
    scorecard(shown, console, scorecard_title("2026-08", AS_WAS, OWN, "test"), REGISTRY)
    text = out.getvalue()
    assert "portal-766-2026@2026.1" in text
    for label in ("Công khai, minh", "Tiến độ, kết quả", "Cung cấp dịch vụ", "Thanh toán",
                  "Số hóa hồ sơ", "Mức độ hài lòng"):
        assert label in text, label
    s1 = next(line for line in text.splitlines()[-8:] if line.startswith("│ S1 "))
    assert "20.00/20" in s1


def test_group_scorecard_iterates_the_reports_groups() -> None:
    shown = present([r for r in _reports() if r["scope"] == OWN], REGISTRY, AS_OF)
    out = io.StringIO()
    group_scorecard(shown, Console(file=out, width=250), REGISTRY)
    header = out.getvalue()
    assert "(10 đ, mức P)" in header  # online payment: 10 points, graded P


def test_province_tree_lowest_first() -> None:
    shown = present(_reports(), REGISTRY, AS_OF)
    trees = province_trees(shown, REGISTRY, AS_OF)
    assert [t["unit"] for t in trees] == ["P"]
    tree = trees[0]
    assert tree["parent"]["scope"] == TOTAL
    assert [c["unit"] for c in tree["children"]] == ["C1", "S1"]
    c1, s1 = tree["children"]
    assert s1["total_points"] - c1["total_points"] == 20
    out = io.StringIO()
    tree_table(tree, Console(file=out, width=250))
    lines = out.getvalue().splitlines()
    rows = [i for code in ("P", "C1", "S1") for i, line in enumerate(lines)
            if line.startswith(f"│ {code} ")]
    assert rows == sorted(rows) and len(rows) == 3


def test_present_with_an_explicit_catalog() -> None:
    """A 2025 period scores decision-766-2022 by date; the portal's catalog when asked."""
    from kpi.catalog import find_catalog, shipped_catalogs

    report = build_report("S1", "2025-08", Counters.from_mapping(
        {"resolved": 10, "resolved_on_time": 10}), AS_OF, level="province")
    assert len(present([report], REGISTRY, AS_OF)[0]["groups"]) == 5
    portal = find_catalog(shipped_catalogs(), "portal-766-2026")
    shown = present([report], REGISTRY, AS_OF, decision_catalog=portal)
    assert shown[0]["catalog"] == "portal-766-2026@2026.1"
    assert len(shown[0]["groups"]) == 6

