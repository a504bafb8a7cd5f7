"""``motcua report``: the KPI report of a unit and period (báo cáo chỉ số)."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from kpi.attribution import (
    AS_WAS,
    OWN,
    SCOPE_LABELS_VI,
    SCOPES,
    VIEW_LABELS_VI,
    VIEWS,
)
from kpi.counters import COUNT_KEYS, COUNT_LABELS_VI
from kpi.ratios import RATIO_LABELS_VI
from kpi.registry import UnitRegistry
from motcua.reports import report_from_events, report_from_store
from runtime.settings import load_settings


def parse_as_of(text: str | None) -> float:
    """``--as-of`` as an instant with an offset (a bare date means 00:00 local)."""
    if text is None:
        return time.time()
    try:
        if len(text) == 10:
            text = text + "T00:00:00+07:00"
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 instant") from exc
    if value.tzinfo is None:
        raise typer.BadParameter("--as-of needs an offset, e.g. 2025-07-01T00:00:00+07:00")
    return value.timestamp()


def render_table(report: dict[str, Any], console: Console) -> None:
    """A readable table with the Vietnamese label beside each key; criteria (code,
    points/max and grade, under their Decision 766 group; "chưa chấm" for those not scored,
    "chưa phát sinh" for those with nothing to score) with the gap to target, the total
    points per catalog and per group, and the report's total with its delta."""
    name = f" {report['unit_name']}" if report.get("unit_name") else ""
    title = (f"Đơn vị {report['unit']}{name} — kỳ {report['period']} "
             f"(tính đến {report['as_of']})")
    view, scope = report.get("view", AS_WAS), report.get("scope", OWN)
    caption = (f"{SCOPE_LABELS_VI.get(scope, scope)} ({scope}) · "
               f"{VIEW_LABELS_VI.get(view, view)} ({view})")
    criteria = report.get("criteria") or []
    table = Table(title=title, title_justify="left", caption=caption,
                  caption_justify="left")
    table.add_column("Chỉ số")
    table.add_column("key", style="dim")
    table.add_column("Giá trị", justify="right")
    pad: tuple[str, ...] = ()
    if criteria:
        table.add_column("Khoảng cách đến mục tiêu")
        pad = ("",)
    for key in COUNT_KEYS:
        table.add_row(COUNT_LABELS_VI[key], key, f"{report['counts'][key]:,}", *pad)
    table.add_section()
    for key, value in report["ratios"].items():
        shown = "—" if value is None else f"{value:.2%}"
        table.add_row(RATIO_LABELS_VI[key], key, shown, *pad)
    if criteria:
        from kpi.scoring import group_totals

        table.add_section()
        group = catalog = None
        for c in criteria:
            if c.get("catalog") != catalog:
                catalog, group = c.get("catalog"), None
                table.add_row(f"[bold]Bộ tiêu chí {catalog or ''}[/bold]", "", "", "")
            if c.get("group") and c["group"] != group:
                group = c["group"]
                table.add_row(f"[bold]Nhóm: {c.get('group_name') or group}[/bold]", group,
                              "", "")
            table.add_row(c.get("name", c["id"]), c.get("code") or c["id"],
                          criterion_points(c), c.get("gap_text", ""))
        table.add_section()
        for label, total in criteria_totals(criteria).items():
            table.add_row(
                "Tổng điểm", label, f"{total['points']:.2f}/{total['max_points']:g}", ""
            )
        for key, g in group_totals(criteria).items():
            table.add_row(f"Tổng điểm nhóm {g['name']} ({g['total']:g} điểm)", key,
                          f"{g['points']:.2f}/{g['max_points']:g} ({g['grade'] or '—'})",
                          group_note_vi(g))
        if report.get("total_points") is not None:
            delta = report.get("delta")
            table.add_row(f"Tổng điểm {report.get('catalog') or ''}", "total_points",
                          f"{report['total_points']:.2f}/{report['total_max_points']:g}",
                          "tăng/giảm so với kỳ trước: "
                          + ("—" if delta is None else f"{delta:+.2f}"))
        table.caption = (caption + " · điểm/tối đa (mức kiểm chứng: V đã kiểm chứng, "
                         "P khớp điểm Cổng DVCQG, S bản sao của bên thứ ba, W bảng công thức "
                         "của Cổng, M chưa kiểm chứng)")
    console.print(table)


def criterion_points(c: dict[str, Any]) -> str:
    """``2.67/4 (M)``: points, maximum and grade; ``chưa chấm (M)`` when not scored."""
    from kpi.criteria import NOT_SCORED

    grade = f" ({c['grade']})" if c.get("grade") else ""
    if c.get("status") == NOT_SCORED:
        return f"chưa chấm{grade}"
    if c.get("points") is None:
        return f"{c.get('status_vi') or '—'}{grade}"
    return f"{c['points']:.2f}/{c['max_points']:g}{grade}"


def group_note_vi(g: dict[str, Any]) -> str:
    """The criteria of a group not scored (no data) or not applicable, in Vietnamese."""
    parts = []
    if g["not_scored"]:
        parts.append("chưa chấm điểm (không có dữ liệu): " + ", ".join(g["not_scored"]))
    if g["not_applicable"]:
        parts.append("chưa phát sinh: " + ", ".join(g["not_applicable"]))
    return "; ".join(parts)


def criteria_totals(criteria: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Points and max points of the applicable criteria, per catalog label."""
    from kpi.scoring import totals

    groups: dict[str, list[dict[str, Any]]] = {}
    for c in criteria:
        groups.setdefault(c.get("catalog", ""), []).append(c)
    return {label: totals(entries) for label, entries in groups.items()}


def load_par_catalog(path: Path | None) -> Any:
    """An explicit PAR catalog file (``motcua evidence --catalog``); None when not given."""
    if path is None:
        return None
    decision, par = load_catalog_option(str(path))
    if par is None:
        raise typer.BadParameter(
            f"{path}: kind is {decision.kind!r}; --catalog takes a PAR catalog (kind "
            "par_index)", param_hint="--catalog")
    return par


def load_catalog_option(text: str | None) -> tuple[Any, Any]:
    """``--catalog``: a catalog YAML file, or the id of a shipped catalog (a former id such
    as ``decision-766`` accepted). Returns (Decision 766 catalog, PAR catalog): a
    ``decision_766`` catalog replaces the one selected by date, a ``par_index`` one the PAR
    selection; (None, None) when not given."""
    if text is None:
        return None, None
    from kpi.catalog import CatalogError, find_catalog, load_catalog, shipped_catalogs

    try:
        cat = load_catalog(text) if Path(text).is_file() else find_catalog(
            shipped_catalogs(), text)
    except CatalogError as exc:
        raise typer.BadParameter(str(exc), param_hint="--catalog") from exc
    return (cat, None) if cat.kind == "decision_766" else (None, cat)


def load_units(path: Path | None) -> tuple[UnitRegistry | None, Path | None]:
    """``--units PATH``, else the settings' ``units_file`` (``MOTCUA_UNITS_FILE``): the
    registry and the file it came from; (None, None) when neither is given. A file that
    cannot be used raises :class:`schemas.errors.RegistryError` (file:line)."""
    if path is None:
        path = load_settings().units_file
    if path is None:
        return None, None
    return UnitRegistry.load(path), path


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        events: Path | None = typer.Option(
            None, "--events", exists=True, dir_okay=False, help="JSON Lines file of v1 events"
        ),
        unit: str | None = typer.Option(None, "--unit", help="unit code; all units if omitted"),
        period: str | None = typer.Option(
            None, "--period", help="2025-04, 2025-Q2 or 2025; every period if omitted"
        ),
        as_of: str | None = typer.Option(
            None, "--as-of", help="judge as known before this instant (default: now)"
        ),
        as_json: bool = typer.Option(False, "--json", help="docs/contract.md report JSON"),
        catalog: str | None = typer.Option(
            None, "--catalog",
            help="a catalog YAML file or a shipped catalog id, scored instead of the one "
            "selected by level and date: a Decision 766 catalog (portal-766-2026, the "
            "default from 2026; decision-766-2022, the decision's five groups; "
            "decision-766 is accepted) or a PAR catalog",
        ),
        db: str | None = typer.Option(
            None, "--db", help="without --events: database URL (default MOTCUA_DATABASE_URL)"
        ),
        units: Path | None = typer.Option(
            None, "--units", exists=True, dir_okay=False,
            help="unit registry CSV (docs/contract.md; default: settings units_file, "
            "MOTCUA_UNITS_FILE): each count goes to the unit in force when it is judged",
        ),
        view: str = typer.Option(
            AS_WAS, "--view",
            help="as_was: units as they were when each count was judged; restated: every "
            "unit replaced by its unit in force at --as-of (today's structure; with --db: "
            "now, computed from the stored own figures)",
        ),
        scope: str = typer.Option(
            OWN, "--scope",
            help="own: the unit's own figures; total: plus every unit below it",
        ),
        tree: bool = typer.Option(
            False, "--tree",
            help="the portal's tree: --unit and every unit directly below it in force "
            "(registry), each with its group points, total and delta, lowest total first "
            "(scope total; needs --unit and --period)",
        ),
    ) -> None:
        """KPI report of a unit and period: from an event file (--events, batch with the same
        core as the stream) or, without it, from the KPI snapshots in the SQL store."""
        err = Console(stderr=True)
        if view not in VIEWS:
            raise typer.BadParameter(f"{view!r}: expected one of {', '.join(VIEWS)}",
                                     param_hint="--view")
        if scope not in SCOPES:
            raise typer.BadParameter(f"{scope!r}: expected one of {', '.join(SCOPES)}",
                                     param_hint="--scope")
        if tree and (unit is None or period is None):
            raise typer.BadParameter("--tree needs --unit and --period", param_hint="--tree")
        decision_catalog, par_catalog = load_catalog_option(catalog)
        registry, _ = load_units(units)
        if events is None and as_of is not None:
            err.print("[red]--as-of needs --events: the store holds the latest snapshots")
            raise typer.Exit(2)
        if tree:
            from motcua.report_tree import tree_from_events, tree_from_store

            assert unit is not None and period is not None
            if events is None:
                result = tree_from_store(db, unit, period, err, registry, view=view,
                                         par_catalog=par_catalog,
                                         decision_catalog=decision_catalog)
            else:
                result = tree_from_events(events, unit, period, parse_as_of(as_of), err,
                                          registry, view=view, par_catalog=par_catalog,
                                          decision_catalog=decision_catalog)
            if as_json:
                sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2)
                                        + b"\n")
            else:
                from motcua.scorecard import tree_table

                tree_table(result, Console())
            return
        if events is None:
            reports = report_from_store(db, unit, period, par_catalog, err, registry,
                                        view=view, scope=scope,
                                        decision_catalog=decision_catalog)
        else:
            reports = report_from_events(
                events, unit, period, parse_as_of(as_of), err, par_catalog,
                registry=registry, view=view, scope=scope, decision_catalog=decision_catalog,
            )
        if not reports:
            err.print("no dossiers found for that selection")
        if as_json:
            payload: Any = reports[0] if unit and period and len(reports) == 1 else reports
            sys.stdout.buffer.write(orjson.dumps(payload, option=orjson.OPT_INDENT_2) + b"\n")
            return
        console = Console()
        for r in reports:
            render_table(r, console)
