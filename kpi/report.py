"""The KPI report of one unit and period, in the JSON shape of EVENTS.md."""

from __future__ import annotations

from typing import Any

from kpi.calendar import to_local_datetime
from kpi.counters import Counters
from kpi.ratios import compute_ratios


def build_report(
    unit: str,
    period: str,
    counters: Counters,
    as_of: float,
    criteria: list[dict[str, Any]] | None = None,
    level: str | None = None,
) -> dict[str, Any]:
    counts = counters.to_dict()
    report: dict[str, Any] = {
        "unit": unit,
        "period": period,
        "as_of": to_local_datetime(as_of).isoformat(),
        "counts": counts,
        "ratios": compute_ratios(counts),
        "criteria": criteria if criteria is not None else [],
    }
    if level is not None:
        report["level"] = level
    return report
