"""``motcua report --tree``: the portal's tree of a unit for one period, from an event file
or from the SQL store (:mod:`kpi.tree`).

The tree is read in scope ``total`` (a unit's total where it keeps one, else its own
figures: a department or a commune), in the view asked. Its units are ``unit`` and the
units directly below it in force on the day the view names units (the period's last day,
or ``as_of`` while it runs; ``as_of`` for the restated view). A unit in the tree with no
figures in the period is scored on zero counts, as the portal lists every unit.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console

from kpi.attribution import AS_WAS, RESTATED, TOTAL
from kpi.calendar import local_date
from kpi.counters import Counters
from kpi.periods import parse_period
from kpi.registry import UnitRegistry
from kpi.report import build_report
from kpi.tree import children_in_force, portal_tree


def tree_day(registry: UnitRegistry | None, period: str, as_of: float, view: str) -> Any:
    """The day whose units in force make the tree."""
    if view == RESTATED:
        return local_date(as_of)
    if registry is not None:
        return registry.naming_day(period, as_of)
    return local_date(parse_period(period).end - 1.0)


def tree_from_events(
    events: Path, unit: str, period: str, as_of: float, err: Console,
    registry: UnitRegistry | None, *, view: str = AS_WAS, par_catalog: Any = None,
    decision_catalog: Any = None,
) -> dict[str, Any]:
    """The tree of ``unit`` for ``period`` from an event file (batch)."""
    from motcua.reports import report_from_events

    children = children_in_force(registry, unit, tree_day(registry, period, as_of, view))
    reports = report_from_events(events, [unit, *children], period, as_of, err, par_catalog,
                                 registry=registry, view=view, scope=TOTAL,
                                 decision_catalog=decision_catalog)
    return portal_tree({r["unit"]: r for r in reports}, unit, children)


def tree_from_store(
    db: str | None, unit: str, period: str, err: Console, registry: UnitRegistry | None,
    *, view: str = AS_WAS, par_catalog: Any = None, decision_catalog: Any = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The tree of ``unit`` for ``period`` from the stored KPI snapshots. A unit of the tree
    without a snapshot of the period is scored on zero counts (its delta null)."""
    from motcua.reports import report_from_store, score_reports

    at = time.time() if now is None else now
    day = tree_day(registry, period, at, view)
    children = children_in_force(registry, unit, day)
    wanted = [unit, *children]
    stored = report_from_store(db, None, period, par_catalog, err, registry, view=view,
                               scope=TOTAL, now=now, decision_catalog=decision_catalog)
    by_unit = {r["unit"]: r for r in stored if r["unit"] in wanted}
    missing = [
        build_report(u, period, Counters(), at, view=view, scope=TOTAL,
                     level=registry.level_on(u, day) if registry is not None else None,
                     unit_name=registry.name_on(u, day) if registry is not None else None)
        for u in wanted if u not in by_unit
    ]
    for r in score_reports(missing, {}, err, par_catalog, decision_catalog):
        by_unit[r["unit"]] = r
    return portal_tree(by_unit, unit, children)
