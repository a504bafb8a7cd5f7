"""The demo's scorecard pieces without Kafka (:mod:`motcua.scorecard`,
:func:`motcua.demo.period_reports`): the demo's simulated world as run on 2026-12-07
(:func:`motcua.demo.demo_range`: 1/1/2025 to 30/11/2026, across the 1/7/2025
reorganisation, with the families and the v1.2 fields), its batch reports standing in for
the live snapshots (same buckets, same shape).

Checked by hand-countable rules, not by the code under test: the reports of the period are
split by scope, named from the registry, province first; the restated own figures of a
unit in force today are the sum of the own figures of every unit whose chain of successors
ends at it; the province's total is the same as it was and restated; every table names
its scope; 2025 is scored with the five groups of ``decision-766-2022`` and the demo's
period, 2026 to date, with the six of ``portal-766-2026``, each cell the sum of the
report's own entries of that group."""

from __future__ import annotations

import datetime as dt
import io
import re
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from kpi.attribution import AS_WAS, OWN, RESTATED, TOTAL
from kpi.calendar import local_date
from kpi.counters import CATALOG_DISTINCT_KEYS
from kpi.reconcile import file_reports
from kpi.registry import UnitRegistry
from kpi.simulate import SimulationConfig, generate_lines, write_jsonl, write_registry
from motcua.demo import demo_period, demo_range, period_reports
from motcua.scorecard import (
    criteria_legend,
    present,
    restated_reports,
    scorecard,
    scorecard_title,
)

RUN_ON = dt.date(2026, 12, 7)
START, END = demo_range(RUN_ON)
CONFIG = SimulationConfig(seed=14, scale=0.03, reorganisation=True, families=True,
                          start=START, end=END)
OLD_COMMUNES = [f"DT.TANHONG.X{i:02d}" for i in range(1, 10)]
NEW_COMMUNES = ["DT.M01", "DT.M02", "DT.M03"]
Report = dict[str, Any]


def test_the_demo_runs_to_the_last_complete_month() -> None:
    assert (START, END) == (dt.date(2025, 1, 1), dt.date(2026, 11, 30))
    assert demo_period(RUN_ON) == "2026"
    assert demo_range(dt.date(2027, 1, 1)) == (START, dt.date(2026, 12, 31))
    assert demo_period(dt.date(2027, 1, 31)) == "2026"
    assert demo_period(dt.date(2027, 2, 1)) == "2027"
    # run early: the world still reaches into 2026's catalog... never before 2025's end
    assert demo_range(dt.date(2025, 8, 15))[1] == dt.date(2025, 12, 31)


def _setup(tmp_path: Path, period: str = "2025"
           ) -> tuple[UnitRegistry, float, list[Report], list[Report]]:
    events, units = tmp_path / "events.jsonl", tmp_path / "units.csv"
    write_jsonl(events, generate_lines(CONFIG))
    write_registry(units, CONFIG.registry_rows())
    registry = UnitRegistry.load(units)
    as_of = time.time()
    _, want = file_reports(events, as_of, registry)
    own, total = period_reports(want, want, period)
    return registry, as_of, own, total


def test_period_reports_split_by_scope_named_and_ordered(tmp_path: Path) -> None:
    registry, as_of, own, total = _setup(tmp_path)
    shown = present(own, registry, as_of)
    assert [r["unit"] for r in shown] == ["DT", "DT.TANHONG", *OLD_COMMUNES, *NEW_COMMUNES]
    assert {r["scope"] for r in shown} == {OWN}
    assert {r["period"] for r in shown} == {"2025"}
    # as it was: named as on the period's last day (the live snapshots' rule,
    # UnitRegistry.naming_day); a unit that ceased before it by its last name
    assert shown[0]["unit_name"] == "UBND tỉnh Đồng Tháp (hợp nhất với Tiền Giang)"
    assert shown[1]["unit_name"] == "UBND huyện Tân Hồng"
    assert shown[-3]["unit_name"] == "UBND xã Tân Hồng [M]"
    assert all(r["criteria"] for r in shown)
    # totals: the units that have units below them, before or after the cutover
    assert [r["unit"] for r in present(total, registry, as_of)] == ["DT", "DT.TANHONG"]
    assert {r["scope"] for r in total} == {TOTAL}


def test_restated_own_figures_are_the_successors_sums(tmp_path: Path) -> None:
    registry, as_of, own, total = _setup(tmp_path)
    restated = restated_reports(own, registry, as_of)
    today = local_date(as_of)
    by = {(r["unit"], r["scope"]): r for r in restated}
    assert set(by) == {("DT", OWN), ("DT", TOTAL), *((u, OWN) for u in NEW_COMMUNES)}
    assert {r["view"] for r in restated} == {RESTATED}
    received = {r["unit"]: r["counts"]["received"] for r in own}
    for unit in NEW_COMMUNES:
        # the unit itself and the old communes the registry hands over to it
        mine = [u for u in received if registry.in_force_on(u, today) == unit]
        assert set(mine) - {unit} <= set(OLD_COMMUNES) and len(mine) > 1
        assert by[(unit, OWN)]["counts"]["received"] == sum(received[u] for u in mine)
    assert by[("DT", OWN)]["counts"]["received"] == received["DT"] + received["DT.TANHONG"]
    # at the top nothing moves: the province's total is the same either way, but for the
    # catalog counts, which a total counts once per code as it was and restated sums from
    # the own figures (docs/decisions/kpi-portal-766-2026-counts.md, rule 12)
    as_was_total = next(r for r in total if r["unit"] == "DT")
    restated_total = by[("DT", TOTAL)]["counts"]
    assert set(restated_total) == set(as_was_total["counts"])
    for key, value in as_was_total["counts"].items():
        if key in CATALOG_DISTINCT_KEYS:
            assert restated_total[key] == sum(r["counts"][key] for r in own), key
            assert restated_total[key] >= value, key
        else:
            assert restated_total[key] == value, key
    assert as_was_total["counts"]["received"] == sum(received.values())
    # restated: named as today
    named = present(restated, registry, as_of)
    assert named[0]["unit_name"] == "UBND tỉnh Đồng Tháp (hợp nhất với Tiền Giang)"


def test_the_scorecard_names_units_scopes_and_dates(tmp_path: Path) -> None:
    registry, as_of, own, _total = _setup(tmp_path)
    out = io.StringIO()
    console = Console(file=out, width=150)
    shown = present(own, registry, as_of)
    scorecard(shown, console, scorecard_title("2025", AS_WAS, OWN, "batch"), registry)
    restated = present(restated_reports(own, registry, as_of), registry, as_of)
    scorecard([r for r in restated if r["scope"] == TOTAL], console,
              scorecard_title("2025", RESTATED, TOTAL, "batch"), registry)
    text = out.getvalue()
    lines = text.splitlines()
    for r in shown:
        row = next(line for line in lines if f" {r['unit']} " in line)
        assert f" {r['counts']['received']:,} " in row, (r["unit"], row)
    assert "(đến 30/06/2025)" in text and "(từ 01/07/2025)" in text
    assert "từ 01/01" not in text  # a unit in force since always shows no start
    # every table names its view and scope, in Vietnamese and by key
    assert "Số liệu của đơn vị (own), Theo thời điểm phát sinh (as_was)" in text
    assert "Tổng hợp (total), Quy đổi theo đơn vị hiện nay (restated)" in text
    assert max(len(line) for line in lines) <= 150


def test_the_scorecard_shows_the_five_766_groups_with_grades(tmp_path: Path) -> None:
    registry, as_of, own, _total = _setup(tmp_path)
    out = io.StringIO()
    console = Console(file=out, width=150)
    shown = present(own, registry, as_of)
    scorecard(shown, console, scorecard_title("2025", AS_WAS, OWN, "batch"), registry)
    criteria_legend(shown, console)
    text = out.getvalue()
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "Điểm Quyết định 766 theo nhóm" in line)
    groups = lines[start:]
    assert "(own, as_was)" in groups[0]
    for label in ("Công khai, minh", "Tiến độ, kết quả", "Cung cấp dịch vụ", "Số hóa hồ sơ",
                  "Mức độ hài lòng"):
        assert label in "\n".join(groups[:8]), label
    # each group's total in the catalog and its weakest grade head its column
    for head in ("(18 đ, mức M)", "(20 đ, mức S)", "(22 đ, mức M)"):
        assert head in text, head
    # each cell: the points / max of the applicable indicators 766.N.x of group N, added up
    # here from the report's entries by their ids (entries show points to 2 decimals, so
    # their sum may differ from the group's by half a hundredth per entry)
    for r in shown:
        row = next(line for line in groups if f" {r['unit']} " in line)
        cells = re.findall(r" (\d+\.\d\d)/(\d+) ", row)
        for n in range(1, 6):
            mine = [e for e in r["criteria"] if e["id"].startswith(f"766.{n}.")
                    and e["applicable"]]
            if mine:
                pts = sum(e["points"] for e in mine)
                mx = sum(e["max_points"] for e in mine)
                assert any(abs(float(p) - pts) <= 0.005 * len(mine) + 1e-9 and m == f"{mx:g}"
                           for p, m in cells), (r["unit"], n, pts, mx, row)
    # the legend: every indicator by group, the four no event can feed listed as such
    legend = text[text.index("Các chỉ tiêu Quyết định 766"):]
    assert "Chưa chấm điểm: không có dữ liệu" in legend
    for i in ("766.1.1 (5, M)", "766.1.3 (4, M)", "766.4.3 (6, M)", "766.2.2 (điểm chưa rõ",
              "766.2.1 (20, S)", "766.5.4 (6, S)"):
        assert i in legend, i
    assert max(len(line) for line in lines) <= 150


def test_the_demo_period_shows_the_six_portal_groups(tmp_path: Path) -> None:
    registry, as_of, own, total = _setup(tmp_path, "2026")
    shown = present(own, registry, as_of)
    # 2026: only the units in force since 1/7/2025 receive, the province first
    assert [r["unit"] for r in shown] == ["DT", *NEW_COMMUNES]
    assert [r["unit"] for r in present(total, registry, as_of)] == ["DT"]
    assert {r["catalog"] for r in shown} == {"portal-766-2026@2026.1"}
    out = io.StringIO()
    console = Console(file=out, width=150)
    scorecard(shown, console, scorecard_title("2026", AS_WAS, OWN, "batch"), registry)
    criteria_legend(shown, console)
    text = out.getvalue()
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "Điểm Quyết định 766 theo nhóm" in line)
    groups = lines[start:]
    assert "portal-766-2026@2026.1" in groups[0]
    head = "\n".join(groups[:10])
    # six columns (headers wrap): each group's name and its total in the catalog, 100 in all
    for label in ("Công khai", "Tiến độ", "Cung cấp", "Thanh toán", "Số hóa", "Mức độ"):
        assert label in head, label
    assert [int(n) for n in re.findall(r"\((\d+) đ, mức", head)] == [18, 20, 12, 10, 22, 18]
    for r in shown:
        assert [g["id"] for g in r["groups"]] == [
            "transparency", "progress", "online_services", "online_payment",
            "digitization", "satisfaction"]
        row = next(line for line in groups if f" {r['unit']} " in line)
        for g in r["groups"]:
            mine = [e for e in r["criteria"] if e.get("group") == g["id"] and e["applicable"]
                    and e["max_points"]]
            if mine:
                pts = sum(e["points"] for e in mine)
                mx = sum(e["max_points"] for e in mine)
                assert abs(g["points"] - pts) <= 0.005 * len(mine) + 1e-9, (r["unit"], g)
                assert g["max_points"] == mx, (r["unit"], g)
                assert f" {g['points']:.2f}/{mx:g} " in row, (r["unit"], g["id"], row)
    assert max(len(line) for line in lines) <= 150
