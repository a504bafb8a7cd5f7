"""KPI reports in the ``kpi_snapshots`` table: a docs/contract.md report → its row
(:func:`snapshot_row`, what the sink upserts with :func:`consumers.store.upsert_snapshots`),
and the stored rows → reports again (:func:`load_report`, :func:`load_reports`), in the
shape the KPI topic carries. The table's columns: :mod:`consumers.tables`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from consumers.store import epoch
from consumers.tables import kpi_snapshots
from kpi.attribution import AS_WAS, OWN, SCOPES
from kpi.calendar import to_local_datetime
from kpi.counters import COUNT_KEYS
from kpi.ratios import RATIO_KEYS


def snapshot_row(report: dict[str, Any]) -> dict[str, Any]:
    """The ``kpi_snapshots`` row of an docs/contract.md report (as published on the KPI topic).
    A report without ``view`` / ``scope`` (v1) is ``as_was`` / ``own``; one of another view
    or an unknown scope raises ValueError (the store holds the live "as was" view only)."""
    view = report.get("view", AS_WAS)
    scope = report.get("scope", OWN)
    if view != AS_WAS:
        raise ValueError(f"view {view!r}: the store holds snapshots of view {AS_WAS!r} only")
    if scope not in SCOPES:
        raise ValueError(f"scope {scope!r}: expected one of {', '.join(SCOPES)}")
    as_of = datetime.fromisoformat(report["as_of"]).astimezone(UTC)
    counts = report["counts"]
    ratios = report.get("ratios") or {}
    row: dict[str, Any] = {
        "unit": report["unit"],
        "period": report["period"],
        "scope": scope,
        "view": view,
        "unit_name": report.get("unit_name"),
        "level": report.get("level"),
        "as_of": as_of,
        "criteria": json.dumps(report.get("criteria") or [], ensure_ascii=False),
    }
    for key in COUNT_KEYS:
        row[key] = int(counts.get(key, 0))
    for key in RATIO_KEYS:
        value = ratios.get(key)
        row[key] = None if value is None else float(value)
    return row


def report_of_row(row: Any) -> dict[str, Any]:
    m = row._mapping
    as_of = epoch(m["as_of"])
    assert as_of is not None
    report: dict[str, Any] = {
        "unit": m["unit"],
        "period": m["period"],
        "as_of": to_local_datetime(as_of).isoformat(),
        "view": m["view"],
        "scope": m["scope"],
        "counts": {key: int(m[key]) for key in COUNT_KEYS},
        "ratios": {key: m[key] for key in RATIO_KEYS},
        "criteria": json.loads(m["criteria"]),
    }
    if m["unit_name"] is not None:
        report["unit_name"] = m["unit_name"]
    if m["level"] is not None:
        report["level"] = m["level"]
    return report


def load_report(
    engine: Engine, unit: str, period: str, scope: str = OWN
) -> dict[str, Any] | None:
    """The latest KPI report of ``unit``, ``period`` and ``scope`` from ``kpi_snapshots``
    in the docs/contract.md shape (``unit, period, as_of, view, scope, counts, ratios,
    criteria``, and ``unit_name`` / ``level`` when known), or ``None`` when the sink has
    stored no such snapshot."""
    s = kpi_snapshots.c
    with engine.connect() as conn:
        row = conn.execute(select(kpi_snapshots).where(
            s.unit == unit, s.period == period, s.scope == scope)).first()
    return None if row is None else report_of_row(row)


def load_reports(
    engine: Engine, unit: str | None = None, period: str | None = None,
    scope: str | None = None,
) -> list[dict[str, Any]]:
    """Every stored report, optionally filtered (``scope`` None: both scopes), ordered by
    unit, period, then scope."""
    s = kpi_snapshots.c
    q = select(kpi_snapshots).order_by(s.unit, s.period, s.scope)
    if unit is not None:
        q = q.where(s.unit == unit)
    if period is not None:
        q = q.where(s.period == period)
    if scope is not None:
        q = q.where(s.scope == scope)
    with engine.connect() as conn:
        return [report_of_row(r) for r in conn.execute(q)]


__all__ = ["load_report", "load_reports", "report_of_row", "snapshot_row"]
