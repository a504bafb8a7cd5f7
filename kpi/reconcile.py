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

from kpi.batch import BatchInput, aggregate, fold_file
from kpi.report import build_report
from kpi.units import CalendarBook

Bucket = tuple[str, str]
"""(unit, period)."""
Reports = Mapping[Bucket, Mapping[str, Any]]
"""Reports by bucket, each with at least ``counts`` and ``ratios``."""


def batch_reports(batch: BatchInput, horizon: float) -> dict[Bucket, dict[str, Any]]:
    """The batch report of every (unit, period) the folded input touches, as known before
    ``horizon`` (epoch seconds)."""
    agg = aggregate(batch.states(), horizon, CalendarBook())
    return {b: build_report(b[0], b[1], c, horizon, level=agg.levels.get(b[0]))
            for b, c in agg.counters.items()}


def file_reports(path: Path, horizon: float) -> tuple[BatchInput, dict[Bucket, dict[str, Any]]]:
    """The folded input of a JSON Lines file and its batch reports at ``horizon``."""
    batch = fold_file(path)
    return batch, batch_reports(batch, horizon)


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
