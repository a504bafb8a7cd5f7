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
    RESTATED,
    SCOPE_LABELS_VI,
    SCOPES,
    TOTAL,
    VIEW_LABELS_VI,
    VIEWS,
)
from kpi.counters import COUNT_KEYS, COUNT_LABELS_VI, Counters
from kpi.ratios import RATIO_LABELS_VI
from kpi.registry import UnitRegistry
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
    """A readable table with the Vietnamese label beside each key; criteria (points/max and
    grade, under their Decision 766 group; "chưa chấm" for those not scored) with the gap to
    target, the total points per catalog and per group."""
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
            table.add_row(c.get("name", c["id"]), c["id"], criterion_points(c),
                          c.get("gap_text", ""))
        table.add_section()
        for label, total in criteria_totals(criteria).items():
            table.add_row(
                "Tổng điểm", label, f"{total['points']:.2f}/{total['max_points']:g}", ""
            )
        for key, g in group_totals(criteria).items():
            table.add_row(f"Tổng điểm nhóm {g['name']} ({g['total']:g} điểm)", key,
                          f"{g['points']:.2f}/{g['max_points']:g} ({g['grade'] or '—'})",
                          group_note_vi(g))
        table.caption = (caption + " · điểm/tối đa (mức kiểm chứng: V đã kiểm chứng, "
                         "S bản sao của bên thứ ba, M chưa kiểm chứng)")
    console.print(table)


def criterion_points(c: dict[str, Any]) -> str:
    """``2.67/4 (M)``: points, maximum and grade; ``chưa chấm (M)`` when not scored."""
    from kpi.catalog import NOT_SCORED

    grade = f" ({c['grade']})" if c.get("grade") else ""
    if c.get("status") == NOT_SCORED:
        return f"chưa chấm{grade}"
    if c.get("points") is None:
        return f"—{grade}"
    return f"{c['points']:.2f}/{c['max_points']:g}{grade}"


def group_note_vi(g: dict[str, Any]) -> str:
    """The criteria of a group not scored (no data) or not applicable, in Vietnamese."""
    parts = []
    if g["not_scored"]:
        parts.append("chưa chấm điểm (không có dữ liệu): " + ", ".join(g["not_scored"]))
    if g["not_applicable"]:
        parts.append("không áp dụng: " + ", ".join(g["not_applicable"]))
    return "; ".join(parts)


def criteria_totals(criteria: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Points and max points of the applicable criteria, per catalog label."""
    from kpi.scoring import totals

    groups: dict[str, list[dict[str, Any]]] = {}
    for c in criteria:
        groups.setdefault(c.get("catalog", ""), []).append(c)
    return {label: totals(entries) for label, entries in groups.items()}


def load_par_catalog(path: Path | None) -> Any:
    """``--catalog PATH``: an explicit PAR catalog file (None when not given)."""
    if path is None:
        return None
    from kpi.catalog import CatalogError, load_catalog

    try:
        cat = load_catalog(path)
    except CatalogError as exc:
        raise typer.BadParameter(str(exc), param_hint="--catalog") from exc
    if cat.kind != "par_index":
        raise typer.BadParameter(
            f"{path}: kind is {cat.kind!r}; --catalog takes a PAR catalog (kind par_index)",
            param_hint="--catalog",
        )
    return cat


def load_units(path: Path | None) -> tuple[UnitRegistry | None, Path | None]:
    """``--units PATH``, else the settings' ``units_file`` (``MOTCUA_UNITS_FILE``): the
    registry and the file it came from; (None, None) when neither is given. A file that
    cannot be used raises :class:`schemas.errors.RegistryError` (file:line)."""
    if path is None:
        path = load_settings().units_file
    if path is None:
        return None, None
    return UnitRegistry.load(path), path


def choose_figures(
    own: dict[tuple[str, str], Counters],
    totals: dict[tuple[str, str], Counters],
    registry: UnitRegistry | None,
    as_of: float,
    view: str,
    scope: str,
) -> dict[tuple[str, str], Counters]:
    """(unit, period) → the counters of ``view`` and ``scope`` from the batch's own figures
    and totals (view as_was). ``restated`` replaces every unit by its unit in force at
    ``as_of`` (:func:`kpi.attribution.restate`); ``total`` is the unit's total where it
    keeps one (it has units below it in the registry), else its own figures."""
    from kpi.attribution import restate

    if view == RESTATED:
        own, totals = restate(own, registry, as_of)
    return {**own, **totals} if scope == TOTAL else own


def report_from_events(
    events: Path,
    unit: str | None,
    period: str | None,
    as_of: float,
    err: Console,
    par_catalog: Any = None,
    *,
    registry: UnitRegistry | None = None,
    view: str = AS_WAS,
    scope: str = OWN,
) -> list[dict[str, Any]]:
    """Reports of every (unit, period) selected, in ``view`` and ``scope`` (units
    attributed with ``registry``), with ``criteria`` scored by the catalogs valid on the
    period's first day (``par_catalog`` replaces the PAR selection). Without ``unit``,
    every unit with figures of that view and scope."""
    from rich.progress import BarColumn, Progress, TextColumn, TransferSpeedColumn

    from kpi.batch import aggregate, fold_lines
    from kpi.calendar import local_date
    from kpi.catalog import shipped_catalogs
    from kpi.periods import BadPeriod, parse_period
    from kpi.report import build_report, report_criteria
    from kpi.units import CalendarBook

    if period is not None:
        try:
            parse_period(period)
        except BadPeriod as exc:
            raise typer.BadParameter(str(exc), param_hint="--period") from exc
    size = events.stat().st_size
    with (
        events.open("rb") as fh,
        Progress(
            TextColumn("[bold]Đọc sự kiện"), BarColumn(), TransferSpeedColumn(),
            console=err, transient=True, disable=size < 5_000_000,
        ) as progress,
    ):
        task = progress.add_task("read", total=size)
        batch = fold_lines(fh, progress=lambda _n: progress.update(task, completed=fh.tell()))
    for line, reason in batch.errors:
        err.print(f"[yellow]line {line}[/]: {reason}", highlight=False)
    if batch.invalid:
        more = batch.invalid - len(batch.errors)
        tail = f" ({more} more not shown)" if more > 0 else ""
        err.print(f"skipped {batch.invalid} invalid line(s) of {batch.lines}{tail}")
    agg = aggregate(batch.states(), as_of, CalendarBook(), registry=registry,
                    sync_window=load_settings().sync_window_hours * 3600)
    figures = choose_figures(agg.counters, agg.totals, registry, as_of, view, scope)
    units = [unit] if unit else sorted({u for u, _ in figures})
    catalogs = shipped_catalogs()
    reports = []
    for u in units:
        periods = [period] if period else sorted(p for (uu, p) in figures if uu == u)
        for p in periods:
            counters = figures.get((u, p), Counters())
            on_date = local_date(parse_period(p).start)
            level = agg.levels.get(u) or (registry.level_on(u, on_date) if registry else None)
            # restated: today's unit, so today's name; as it was: the period's last day
            named_on = (local_date(as_of) if view == RESTATED
                        else registry.naming_day(p, as_of) if registry is not None else on_date)
            name = registry.name_on(u, named_on) if registry is not None else None
            if par_catalog is not None and not par_catalog.valid_on(on_date):
                err.print(
                    f"[yellow]--catalog {par_catalog.label} is not valid on {on_date} "
                    f"(period {p}); scored anyway as asked[/]"
                )
            criteria = report_criteria(
                counters.to_dict(), level, on_date, catalogs, par_catalog=par_catalog
            )
            reports.append(build_report(u, p, counters, as_of, criteria=criteria, level=level,
                                        view=view, scope=scope, unit_name=name))
    return reports


def report_from_store(
    db: str | None, unit: str | None, period: str | None, par_catalog: Any, err: Console,
    registry: UnitRegistry | None = None, *, view: str = AS_WAS, scope: str = OWN,
    now: float | None = None,
) -> list[dict[str, Any]]:
    """Reports of ``view`` and ``scope`` from the stored KPI snapshots (written by ``motcua
    sink``: the live "as it was" view, own figures and totals), scored like the batch path.

    * ``as_was``: the stored snapshots; ``total`` is a unit's stored total, else (a unit
      with no units below it) its own figures;
    * ``restated``: computed when read from the stored *own* snapshots of every unit
      (:func:`kpi.attribution.restate` with ``registry``): each unit replaced by its unit
      in force at ``now`` (default: the wall clock), totals over the hierarchy in force
      then; ``as_of`` is the newest ``as_of`` of the snapshots summed, the name today's.

    ``unit_name`` is the stored one, else from ``registry`` (as on the period's last day
    for as_was — :meth:`kpi.registry.UnitRegistry.naming_day` —, on ``now`` for
    restated)."""
    from consumers.store import load_reports
    from kpi.calendar import local_date
    from kpi.periods import parse_period
    from kpi.report import report_criteria
    from motcua.commands._common import read_store

    if view == RESTATED:
        stored, _ = read_store(db, lambda engine: load_reports(engine, None, period, OWN),
                               err)
        at = time.time() if now is None else now
        reports = [r for r in restated_reports(stored, registry, at, scope)
                   if unit is None or r["unit"] == unit]
    else:
        wanted = None if scope == TOTAL else OWN
        stored, _ = read_store(db, lambda engine: load_reports(engine, unit, period, wanted),
                               err)
        reports = totals_or_own(stored) if scope == TOTAL else stored
    for r in reports:
        on_date = local_date(parse_period(r["period"]).start)
        if not r.get("criteria") or par_catalog is not None:
            r["criteria"] = report_criteria(r["counts"], r.get("level"), on_date,
                                            par_catalog=par_catalog)
        if registry is not None:
            day = (local_date(time.time() if now is None else now) if view == RESTATED
                   else registry.naming_day(r["period"], time.time() if now is None else now))
            name = registry.name_on(r["unit"], day)
            if name is not None:
                r.setdefault("unit_name", name)
    return reports


def totals_or_own(stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Scope ``total`` from stored snapshots of both scopes: each (unit, period)'s total,
    or its own figures (relabelled ``total``) when it keeps no total."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for r in stored:
        key = (r["unit"], r["period"])
        if r["scope"] == TOTAL or key not in best:
            best[key] = {**r, "scope": TOTAL}
    return [best[k] for k in sorted(best)]


def restated_reports(
    stored: list[dict[str, Any]], registry: UnitRegistry | None, at: float, scope: str
) -> list[dict[str, Any]]:
    """The restated view, at ``at``, of the stored own snapshots ``stored`` (every unit's,
    for the periods wanted): reports of ``scope`` ordered by (unit, period), without
    criteria. A unit's level is the one its stored snapshots carry, else the registry's.
    The figures come from :func:`choose_figures`, as on the ``--events`` path."""
    from kpi.calendar import local_date
    from kpi.periods import parse_period
    from kpi.report import build_report

    own = {(r["unit"], r["period"]): Counters.from_mapping(r["counts"]) for r in stored}
    levels = {r["unit"]: r["level"] for r in stored if r.get("level")}
    as_of = max((datetime.fromisoformat(r["as_of"]).timestamp() for r in stored),
                default=at)
    figures = choose_figures(own, {}, registry, at, RESTATED, scope)
    today = local_date(at)
    out = []
    for (u, p), counters in sorted(figures.items()):
        level = levels.get(u)
        if level is None and registry is not None:
            level = registry.level_on(u, local_date(parse_period(p).start))
        name = registry.name_on(u, today) if registry is not None else None
        out.append(build_report(u, p, counters, as_of, level=level, view=RESTATED,
                                scope=scope, unit_name=name))
    return out


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
        as_json: bool = typer.Option(False, "--json", help="EVENTS.md report JSON"),
        catalog: Path | None = typer.Option(
            None, "--catalog", exists=True, dir_okay=False,
            help="PAR catalog YAML scored instead of the shipped one selected by level and "
            "date (Decision 766 is always scored)",
        ),
        db: str | None = typer.Option(
            None, "--db", help="without --events: database URL (default MOTCUA_DATABASE_URL)"
        ),
        units: Path | None = typer.Option(
            None, "--units", exists=True, dir_okay=False,
            help="unit registry CSV (EVENTS.md v1.1; default: settings units_file, "
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
        par_catalog = load_par_catalog(catalog)
        registry, _ = load_units(units)
        if events is None:
            if as_of is not None:
                err.print("[red]--as-of needs --events: the store holds the latest snapshots")
                raise typer.Exit(2)
            reports = report_from_store(db, unit, period, par_catalog, err, registry,
                                        view=view, scope=scope)
        else:
            reports = report_from_events(
                events, unit, period, parse_as_of(as_of), err, par_catalog,
                registry=registry, view=view, scope=scope,
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
