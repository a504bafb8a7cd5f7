"""The portal's unit tree (cây đơn vị): a unit and every unit directly below it in force,
each with its group points, total and delta, lowest total first (docs/scoring.md).

Contract:

* :func:`children_in_force`: the codes whose version in force on a day has ``unit`` as its
  parent, sorted by code (none without a registry).
* :func:`tree_row`: the part of a scored report (:func:`kpi.report.add_scores`) the tree
  shows: ``unit``, ``unit_name``, ``level``, ``scope``, ``groups``, ``total_points``,
  ``total_max_points`` and ``delta``.
* :func:`portal_tree`: ``{"unit", "period", "catalog", "parent": row, "children": [row …]}``
  from reports keyed by unit; children sorted by total points, lowest first (a child with
  no total last), then by code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from kpi.registry import UnitRegistry

ROW_KEYS: tuple[str, ...] = (
    "unit", "unit_name", "level", "scope", "groups", "total_points", "total_max_points",
    "delta",
)


def children_in_force(registry: UnitRegistry | None, unit: str, day: dt.date) -> list[str]:
    """Codes of the units directly below ``unit`` in force on ``day``."""
    if registry is None:
        return []
    return sorted(v.code for v in registry.in_force_units(day) if v.parent == unit)


def tree_row(report: Mapping[str, Any]) -> dict[str, Any]:
    """The tree's row of one scored report (missing keys null; ``groups`` empty)."""
    row = {key: report.get(key) for key in ROW_KEYS}
    row["groups"] = list(report.get("groups") or [])
    return row


def _lowest_first(row: Mapping[str, Any]) -> tuple[bool, float, str]:
    total = row.get("total_points")
    return total is None, total if total is not None else 0.0, str(row["unit"])


def portal_tree(
    reports: Mapping[str, Mapping[str, Any]], parent: str, children: Iterable[str]
) -> dict[str, Any]:
    """The tree of ``parent`` and ``children`` from their reports of one period (keyed by
    unit; every unit named must have one)."""
    top = reports[parent]
    rows = sorted((tree_row(reports[c]) for c in children), key=_lowest_first)
    return {
        "unit": parent,
        "period": top.get("period"),
        "catalog": top.get("catalog"),
        "parent": tree_row(top),
        "children": rows,
    }
