"""Reconciliation: live or stored KPI reports against the batch report of the same input.

One rule, used by ``motcua demo``, ``motcua soak`` and the tests: for every (unit, period)
the batch report knows, the other side must hold a report with equal ``counts`` and
``ratios``; the other side may hold more buckets only if all their counts are 0 (a bucket
whose last dossier moved elsewhere is published as zeros, the batch never creates it).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kpi.attribution import OWN, TOTAL, scoped
from kpi.batch import BatchInput, aggregate, fold_file
from kpi.contribution import DEFAULT_SYNC_WINDOW
from kpi.registry import UnitRegistry
from kpi.report import build_report
from kpi.units import CalendarBook

Bucket = tuple[str, str]
"""(counter key, period): the counter key is the unit code for its own figures and the
unit's scoped key (:func:`kpi.attribution.scoped`) for its total (see
:func:`kpi.report.report_bucket`)."""
Reports = Mapping[Bucket, Mapping[str, Any]]
"""Reports by bucket, each with at least ``counts`` and ``ratios``."""


def batch_reports(
    batch: BatchInput, horizon: float, registry: UnitRegistry | None = None,
    sync_window: float = DEFAULT_SYNC_WINDOW,
) -> dict[Bucket, dict[str, Any]]:
    """The batch report of every (unit, period) the folded input touches, as known before
    ``horizon`` (epoch seconds), view "as it was": own figures, and with a registry the
    totals of the units that have units below them."""
    agg = aggregate(batch.states(), horizon, CalendarBook(), registry=registry,
                    sync_window=sync_window)
    out: dict[Bucket, dict[str, Any]] = {}
    for scope, counters in ((OWN, agg.counters), (TOTAL, agg.totals)):
        for (unit, period), c in counters.items():
            out[(scoped(unit, scope), period)] = build_report(
                unit, period, c, horizon, level=agg.levels.get(unit), scope=scope)
    return out


def file_reports(
    path: Path, horizon: float, registry: UnitRegistry | None = None
) -> tuple[BatchInput, dict[Bucket, dict[str, Any]]]:
    """The folded input of a JSON Lines file and its batch reports at ``horizon``."""
    batch = fold_file(path)
    return batch, batch_reports(batch, horizon, registry)


def differences(got: Reports, want: Reports) -> list[str]:
    """One line per bucket that breaks the rule above, ``[]`` when they agree. A differing
    bucket names its differing counts as ``key: (got, want)``."""
    out = []
    for bucket, report in sorted(want.items()):
        have = got.get(bucket)
        if have is None:
            out.append(f"{bucket}: no report")
        elif have["counts"] != report["counts"] or have["ratios"] != report["ratios"]:
            diff = {k: (have["counts"].get(k), v) for k, v in report["counts"].items()
                    if have["counts"].get(k) != v}
            out.append(f"{bucket}: {diff or 'ratios differ'} (got, want)")
    for bucket, have in sorted(got.items()):
        if bucket not in want and any(have["counts"].values()):
            out.append(f"{bucket}: unexpected non-zero report {dict(have['counts'])}")
    return out
