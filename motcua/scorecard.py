"""The demo's scorecard: KPI reports of one period as the tables a leader reads first
(Vietnamese headers), every table naming its view and scope (docs/contract.md, "The KPI
report (JSON)").

Contract:

* :func:`present` completes reports for showing: ``unit_name`` (the report's own, else the
  registry's name of the unit on the day its view names it — the period's first day for
  ``as_was``, ``as_of``'s day for ``restated``, as ``motcua report`` does — else
  ``names``), ``level`` (the report's, else the registry's on that day) and ``criteria``
  (:func:`kpi.report.report_criteria`, scored on the period's first day); sorted province
  first, then by level, by first day in force and by code.
* :func:`restated_reports` is the restated view ("as it is now") of a period's own reports:
  :func:`kpi.attribution.restate` of their counts at ``as_of``, own and total reports of
  the units in force then. Restating only re-labels own figures, so it needs nothing
  else.
* :func:`scorecard` prints one table of reports of one view and scope, named in its title
  (:func:`scorecard_title`): code, name (with "từ"/"đến" dates for a unit that began or
  ceased) and the leading figures; then the same reports' Decision 766 points per group
  (:func:`group_scorecard`: the groups of the reports' catalog — six for
  ``portal-766-2026``, five for ``decision-766-2022`` —, points / maximum of the metrics
  scored, each group's total and grade in its header).
* :func:`criteria_legend` lists the Decision 766 metrics of the reports by group: the
  scored ones with their code, maximum and grade, and those not scored (no data).
* :func:`province_trees` and :func:`tree_table`: the portal's tree of each province (a
  unit with units below it in force), from reports of one period.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from kpi.attribution import (
    AS_WAS,
    OWN,
    RESTATED,
    SCOPE_LABELS_VI,
    TOTAL,
    VIEW_LABELS_VI,
    restate,
)
from kpi.calendar import local_date
from kpi.catalog import Catalog
from kpi.counters import Counters
from kpi.criteria import GROUP_LABELS_VI, GROUPS, NOT_SCORED
from kpi.periods import parse_period
from kpi.registry import LEVELS, UnitRegistry
from kpi.report import add_scores, build_report, report_criteria
from kpi.scoring import group_totals, weakest_grade
from kpi.tree import children_in_force, portal_tree

FIGURES = ("Tiếp nhận", "Trực tuyến", "Đúng hạn", "Đúng hạn 766", "TT trực tuyến", "Số hóa",
           "Hài lòng", "Điểm 766")


def _named_on(report: Mapping[str, Any], as_of: float) -> dt.date:
    """As the live snapshots: restated → ``as_of``; as it was → the period's last day (or
    ``as_of`` while it runs, :meth:`kpi.registry.UnitRegistry.naming_day`)."""
    if report.get("view", AS_WAS) == RESTATED:
        return local_date(as_of)
    p = parse_period(report["period"])
    return local_date(as_of) if as_of < p.end else local_date(p.end - 1.0)


def present(
    reports: Iterable[Mapping[str, Any]],
    registry: UnitRegistry | None,
    as_of: float,
    names: Mapping[str, str] | None = None,
    decision_catalog: Catalog | None = None,
) -> list[dict[str, Any]]:
    """Copies of ``reports`` with ``unit_name``, ``level``, ``criteria`` and their scores
    (:func:`kpi.report.add_scores`), sorted. ``decision_catalog`` scores Decision 766 with
    that catalog instead of the one valid on the period's first day (e.g.
    ``portal-766-2026`` for a 2025 period)."""
    out = []
    for r in reports:
        r = dict(r)
        day = _named_on(r, as_of)
        unit = r["unit"]
        if not r.get("unit_name"):
            name = registry.name_on(unit, day) if registry is not None else None
            name = name or (names or {}).get(unit)
            if name:
                r["unit_name"] = name
        if not r.get("level") and registry is not None:
            r["level"] = registry.level_on(unit, day)
        r["criteria"] = report_criteria(r["counts"], r.get("level"),
                                        parse_period(r["period"]).first_day,
                                        decision_catalog=decision_catalog)
        add_scores(r)
        out.append(r)
    return sorted(out, key=lambda r: _order(r, registry))


def _order(report: Mapping[str, Any], registry: UnitRegistry | None) -> tuple[Any, ...]:
    level = report.get("level")
    rank = LEVELS.index(level) if level in LEVELS else len(LEVELS)
    versions = registry.versions(report["unit"]) if registry is not None else []
    first = versions[0].valid_from if versions else dt.date.min
    return rank, first, report["unit"], report.get("scope", OWN) == TOTAL


def restated_reports(
    own: Iterable[Mapping[str, Any]], registry: UnitRegistry, as_of: float
) -> list[dict[str, Any]]:
    """The restated own and total reports of the units in force at ``as_of`` for the
    periods of ``own`` (reports of view ``as_was``, scope ``own``)."""
    by_bucket = {(r["unit"], r["period"]): Counters.from_mapping(r["counts"]) for r in own}
    own_now, total_now = restate(by_bucket, registry, as_of)
    today = local_date(as_of)
    return [
        build_report(unit, period, counters, as_of, level=registry.level_on(unit, today),
                     view=RESTATED, scope=scope)
        for scope, figures in ((OWN, own_now), (TOTAL, total_now))
        for (unit, period), counters in sorted(figures.items())
    ]


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _span(unit: str, registry: UnitRegistry | None) -> str:
    """A second line "(đến 30/06/2025)" for a unit that ceased, "(từ 01/07/2025)" for one
    that began."""
    versions = registry.versions(unit) if registry is not None else []
    if not versions:
        return ""
    began, ceased = versions[0].valid_from, versions[-1].valid_to
    parts = ([f"từ {began:%d/%m/%Y}"] if began != dt.date.min else []) + (
        [f"đến {ceased:%d/%m/%Y}"] if ceased else [])
    return f"\n({', '.join(parts)})" if parts else ""


def scorecard_title(period: str, view: str, scope: str, source: str) -> str:
    """The title of a table of ``period``'s reports of one view and scope, in Vietnamese
    (:data:`kpi.attribution.VIEW_LABELS_VI`, :data:`~kpi.attribution.SCOPE_LABELS_VI`) with
    the English keys, and where the figures come from."""
    return (f"Bảng điểm kỳ {period} — {SCOPE_LABELS_VI[scope]} ({scope}), "
            f"{VIEW_LABELS_VI[view]} ({view}); {source}")


def scorecard(reports: list[dict[str, Any]], console: Console, title: str,
              registry: UnitRegistry | None = None) -> None:
    """One row per report (see :func:`present`), all of the view and scope ``title``
    names (:func:`scorecard_title`): the figures a leader reads first."""
    table = Table(title=title, title_justify="left")
    table.add_column("Mã", no_wrap=True)
    table.add_column("Đơn vị", min_width=24, max_width=34)
    for header in FIGURES:
        table.add_column(header, justify="right", no_wrap=True)
    for r in reports:
        c, q = r["counts"], r["ratios"]
        table.add_row(
            r["unit"], (r.get("unit_name") or "") + _span(r["unit"], registry),
            f"{c['received']:,}", _pct(q["online_receipt"]), _pct(q["on_time_resolved"]),
            _pct(q["on_time_766"]), _pct(q["online_payment"]), _pct(q["digitization"]),
            _pct(q["satisfaction"]), _total(r),
        )
    console.print(table)
    if any(_decision_766(r) for r in reports):
        group_scorecard(reports, console, registry)


def _decision_766(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The report's Decision 766 criteria entries (those with a group)."""
    return [e for e in report.get("criteria") or () if e.get("group")]


def _total(report: Mapping[str, Any]) -> str:
    """``67.08/100``: the report's total points (two decimals) and maximum."""
    if report.get("total_points") is None:
        return "—"
    return f"{report['total_points']:.2f}/{report['total_max_points']:g}"


def _catalog_groups(reports: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per group, from the first report with Decision 766 criteria: its total points and
    the weakest grade of its indicators that can be scored (the catalog's, whatever the
    unit)."""
    entries = next((e for r in reports if (e := _decision_766(r))), [])
    out: dict[str, dict[str, Any]] = {}
    for g, v in group_totals(entries).items():
        mine = [e for e in entries if e.get("group") == g and e["status"] != NOT_SCORED]
        out[g] = {"total": v["total"], "grade": weakest_grade(e["grade"] for e in mine)}
    return out


def group_scorecard(reports: list[dict[str, Any]], console: Console,
                    registry: UnitRegistry | None = None) -> None:
    """The reports' Decision 766 points per group, one row per report: each cell is the
    points / maximum of the group's applicable indicators ("—" when none applies), each
    header names the group, its total in the catalog and its weakest grade."""
    first = reports[0]
    title = (f"Điểm Quyết định 766 theo nhóm — kỳ {first['period']} "
             f"({first.get('scope', OWN)}, {first.get('view', AS_WAS)}), bộ chỉ số "
             f"{first.get('catalog') or '—'}: điểm / tối đa của các chỉ tiêu được chấm; "
             "mức kiểm chứng V, P, S, W, M")
    groups = _catalog_groups(reports)
    table = Table(title=title, title_justify="left")
    table.add_column("Mã", no_wrap=True)
    table.add_column("Đơn vị", min_width=20, max_width=30)
    for g in groups:
        head = groups[g]
        table.add_column(f"{GROUP_LABELS_VI.get(g, g)}\n({head['total']:g} đ, mức "
                         f"{head['grade'] or '—'})", justify="right", max_width=16)
    table.add_column("Tổng QĐ 766", justify="right", no_wrap=True)
    for r in reports:
        mine = {g["id"]: g for g in r.get("groups") or ()}
        cells = [_group_cell(mine.get(g)) for g in groups]
        table.add_row(r["unit"], (r.get("unit_name") or "") + _span(r["unit"], registry),
                      *cells, _total(r))
    console.print(table)


def criteria_legend(reports: list[dict[str, Any]], console: Console) -> None:
    """The Decision 766 indicators of ``reports`` (their first report with any) by group:
    those scored (id, maximum, grade) and those not scored for lack of data."""
    entries = next((e for r in reports if (e := _decision_766(r))), [])
    if not entries:
        return
    catalog = entries[0].get("catalog") or ""
    table = Table(title=f"Các chỉ tiêu Quyết định 766 — {catalog} (mã (tối đa, mức kiểm "
                  "chứng)): V đã kiểm chứng, P khớp điểm Cổng DVCQG công bố, S bản sao của "
                  "bên thứ ba, W bảng công thức của Cổng, M chưa kiểm chứng (cấu hình)",
                  title_justify="left")
    table.add_column("Nhóm (điểm)", max_width=30)
    table.add_column("Được chấm điểm")
    table.add_column("Chưa chấm điểm: không có dữ liệu")
    by_group = {g: [e for e in entries if e.get("group") == g] for g in GROUPS}
    for g, mine in by_group.items():
        if not mine:
            continue

        def show(e: Mapping[str, Any]) -> str:
            mx = "điểm chưa rõ" if e["max_points"] is None else f"{e['max_points']:g}"
            return f"{e.get('code') or e['id']} ({mx}, {e['grade']})"

        total = sum(e["max_points"] or 0 for e in mine)
        table.add_row(f"{GROUP_LABELS_VI[g]} ({total:g})",
                      " · ".join(show(e) for e in mine if e["status"] != NOT_SCORED),
                      " · ".join(show(e) for e in mine if e["status"] == NOT_SCORED) or "—")
    console.print(table)


def _group_cell(g: Mapping[str, Any] | None) -> str:
    """``12.34/18`` (two decimals, as the portal shows points); ``—`` when no metric of the
    group was scored (chưa phát sinh)."""
    if g is None or not g.get("max_points"):
        return "—"
    return f"{g['points']:.2f}/{g['max_points']:g}"


def _delta_cell(delta: float | None) -> str:
    return "—" if delta is None else f"{delta:+.2f}"


def tree_table(tree: Mapping[str, Any], console: Console) -> None:
    """The portal's tree (:func:`kpi.tree.portal_tree`): the unit, then the units directly
    below it, lowest total first; one column per group of the parent's report (its
    ``groups``, whatever their number), the total and the change since the previous
    period of the same length."""
    parent = tree["parent"]
    groups = parent.get("groups") or []
    title = (f"Cây đơn vị — {parent.get('unit_name') or parent['unit']} ({parent['unit']}), "
             f"kỳ {tree.get('period')}; bộ chỉ số {tree.get('catalog') or '—'}; "
             "tổng hợp (total), đơn vị trực thuộc xếp từ điểm thấp nhất")
    table = Table(title=title, title_justify="left")
    table.add_column("Mã", no_wrap=True)
    table.add_column("Đơn vị", min_width=18, max_width=30)
    for g in groups:
        table.add_column(f"{g['name']}\n({g['id']})", justify="right", max_width=16)
    table.add_column("Tổng điểm", justify="right", no_wrap=True)
    table.add_column("Tăng/giảm", justify="right", no_wrap=True)

    def row(r: Mapping[str, Any], style: str | None = None) -> None:
        mine = {g["id"]: g for g in r.get("groups") or []}
        total = ("—" if r.get("total_points") is None
                 else f"{r['total_points']:.2f}/{r['total_max_points']:g}")
        table.add_row(r["unit"], r.get("unit_name") or "",
                      *(_group_cell(mine.get(g["id"])) for g in groups), total,
                      _delta_cell(r.get("delta")), style=style)

    row(parent, "bold")
    table.add_section()
    for child in tree["children"]:
        row(child)
    console.print(table)


def province_trees(
    reports: Iterable[Mapping[str, Any]], registry: UnitRegistry | None, as_of: float
) -> list[dict[str, Any]]:
    """The tree (:func:`kpi.tree.portal_tree`) of every province-level unit with units
    below it in force, from scored reports of one period and view (:func:`present`): a
    unit's total where given, else its own figures; units without a report left out."""
    if registry is None:
        return []
    by_unit: dict[str, Mapping[str, Any]] = {}
    for r in reports:
        if r.get("scope", OWN) == TOTAL or r["unit"] not in by_unit:
            by_unit[r["unit"]] = r
    trees = []
    for unit in sorted(by_unit):
        r = by_unit[unit]
        if r.get("level") != "province":
            continue
        children = [c for c in children_in_force(registry, unit, _named_on(r, as_of))
                    if c in by_unit]
        if children:
            trees.append(portal_tree(by_unit, unit, children))
    return trees
