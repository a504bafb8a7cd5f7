"""Reports for ``motcua report`` (and ``--tree``): built from an event file (batch, the
same fold as the stream) or from the SQL store's snapshots, in a view and scope, and scored
(:func:`score_reports`: criteria, the catalog's groups, total and delta)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from kpi.attribution import AS_WAS, OWN, RESTATED, TOTAL
from kpi.counters import Counters
from kpi.registry import UnitRegistry
from runtime.settings import load_settings


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


def score_reports(
    reports: list[dict[str, Any]],
    previous: dict[tuple[str, str], Any],
    err: Console,
    par_catalog: Any = None,
    decision_catalog: Any = None,
    *,
    rescore: bool = True,
) -> list[dict[str, Any]]:
    """Give each report its ``criteria`` (scored by the catalogs valid on the period's first
    day, or those chosen; kept when ``rescore`` is False and it has some) and their scores,
    ``delta`` included: ``previous`` maps (unit, period) to the counts of every period
    known (a mapping, or :class:`kpi.counters.Counters`)."""
    from kpi.catalog import shipped_catalogs
    from kpi.periods import parse_period, previous_period
    from kpi.report import add_scores, report_criteria, with_delta

    pool = shipped_catalogs() + [c for c in (decision_catalog, par_catalog) if c is not None]
    warned: set[str] = set()
    for r in reports:
        on_date = parse_period(r["period"]).first_day
        for chosen in (decision_catalog, par_catalog):
            if (chosen is not None and not chosen.valid_on(on_date)
                    and r["period"] not in warned):
                warned.add(r["period"])
                err.print(f"[yellow]--catalog {chosen.label} is not valid on {on_date} "
                          f"(period {r['period']}); scored anyway as asked[/]")
        if rescore or not r.get("criteria"):
            r["criteria"] = report_criteria(r["counts"], r.get("level"), on_date, pool,
                                            par_catalog=par_catalog,
                                            decision_catalog=decision_catalog)
        add_scores(r)
        before = previous.get((r["unit"], previous_period(r["period"])))
        if before is not None and not isinstance(before, dict):
            before = before.to_dict()
        with_delta(r, before, pool)
    return reports


def report_from_events(
    events: Path,
    unit: str | list[str] | None,
    period: str | None,
    as_of: float,
    err: Console,
    par_catalog: Any = None,
    *,
    registry: UnitRegistry | None = None,
    view: str = AS_WAS,
    scope: str = OWN,
    decision_catalog: Any = None,
) -> list[dict[str, Any]]:
    """Reports of every (unit, period) selected, in ``view`` and ``scope`` (units
    attributed with ``registry``), scored by :func:`score_reports` (``delta`` from the
    previous period's figures in the same file). ``unit`` is a code or a list of codes;
    without it, every unit with figures of that view and scope."""
    from rich.progress import BarColumn, Progress, TextColumn, TransferSpeedColumn

    from kpi.batch import aggregate, fold_lines
    from kpi.calendar import local_date
    from kpi.periods import BadPeriod, parse_period
    from kpi.report import build_report
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
    units = ([unit] if isinstance(unit, str) else list(unit) if unit
             else sorted({u for u, _ in figures}))
    reports = []
    for u in units:
        periods = [period] if period else sorted(p for (uu, p) in figures if uu == u)
        for p in periods:
            counters = figures.get((u, p), Counters())
            on_date = parse_period(p).first_day
            level = agg.levels.get(u) or (registry.level_on(u, on_date) if registry else None)
            # restated: today's unit, so today's name; as it was: the period's last day
            named_on = (local_date(as_of) if view == RESTATED
                        else registry.naming_day(p, as_of) if registry is not None else on_date)
            name = registry.name_on(u, named_on) if registry is not None else None
            reports.append(build_report(u, p, counters, as_of, level=level, view=view,
                                        scope=scope, unit_name=name))
    return score_reports(reports, dict(figures), err, par_catalog, decision_catalog)


def _stored_reports(
    db: str | None, unit: str | None, period: str | None, err: Console,
    registry: UnitRegistry | None, view: str, scope: str, now: float | None,
) -> list[dict[str, Any]]:
    """The stored reports of ``view`` and ``scope`` (see :func:`report_from_store`), named,
    not yet scored."""
    from consumers.snapshots import load_reports
    from kpi.calendar import local_date
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
    if registry is not None:
        for r in reports:
            day = (local_date(time.time() if now is None else now) if view == RESTATED
                   else registry.naming_day(r["period"], time.time() if now is None else now))
            name = registry.name_on(r["unit"], day)
            if name is not None:
                r.setdefault("unit_name", name)
    return reports


def report_from_store(
    db: str | None, unit: str | None, period: str | None, par_catalog: Any, err: Console,
    registry: UnitRegistry | None = None, *, view: str = AS_WAS, scope: str = OWN,
    now: float | None = None, decision_catalog: Any = None,
) -> list[dict[str, Any]]:
    """Reports of ``view`` and ``scope`` from the stored KPI snapshots (written by ``motcua
    sink``: the live "as it was" view, own figures and totals), scored like the batch path
    (:func:`score_reports`; stored criteria kept unless a catalog is chosen; ``delta``
    from the stored snapshots of the previous period).

    * ``as_was``: the stored snapshots; ``total`` is a unit's stored total, else (a unit
      with no units below it) its own figures;
    * ``restated``: computed when read from the stored *own* snapshots of every unit
      (:func:`kpi.attribution.restate` with ``registry``): each unit replaced by its unit
      in force at ``now`` (default: the wall clock), totals over the hierarchy in force
      then; ``as_of`` is the newest ``as_of`` of the snapshots summed, the name today's.

    ``unit_name`` is the stored one, else from ``registry`` (as on the period's last day
    for as_was — :meth:`kpi.registry.UnitRegistry.naming_day` —, on ``now`` for
    restated)."""
    from kpi.periods import previous_period

    reports = _stored_reports(db, unit, period, err, registry, view, scope, now)
    known = {(r["unit"], r["period"]): r["counts"] for r in reports}
    if period is not None and reports:
        earlier = _stored_reports(db, unit, previous_period(period), err, registry, view,
                                  scope, now)
        known.update({(r["unit"], r["period"]): r["counts"] for r in earlier})
    chosen = par_catalog is not None or decision_catalog is not None
    return score_reports(reports, known, err, par_catalog, decision_catalog, rescore=chosen)


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
            level = registry.level_on(u, parse_period(p).first_day)
        name = registry.name_on(u, today) if registry is not None else None
        out.append(build_report(u, p, counters, as_of, level=level, view=RESTATED,
                                scope=scope, unit_name=name))
    return out
