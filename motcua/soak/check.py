"""The soak run's final checks: live snapshots, SQL store, raw events and DLQ against the
batch report of ``produced.jsonl`` (the rule of :mod:`kpi.reconcile`).

With a unit registry in the settings (``MOTCUA_UNITS_FILE``, which the worker gets too) the
batch report attributes with it and includes the totals; snapshots and stored reports are
compared by report bucket (:func:`kpi.report.report_bucket`), own and total apart."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from consumers import snapshots, store, tables
from kpi.batch import fold_file
from kpi.reconcile import batch_reports, differences
from kpi.registry import UnitRegistry
from motcua.services import by_bucket, live_snapshots
from motcua.soak.figures import SoakResult
from runtime.kafka import end_offsets, reader
from runtime.settings import Settings
from runtime.waiting import wait_for
from schemas.errors import NotIdle

SETTLE_SECONDS = 10.0
"""How long the live snapshots may take to agree: a due instant passing between the
worker's sweep (every second) and the batch's horizon can differ for a moment."""


def check(settings: Settings, bootstrap: str, db_url: str, produced_file: Path,
          result: SoakResult, echo: Callable[[str], None]) -> None:
    """Append to ``result.problems`` every way the stack differs from the batch report."""
    started = time.monotonic()
    batch = fold_file(produced_file)
    registry = UnitRegistry.load(settings.units_file) if settings.units_file else None
    want = batch_reports(batch, time.time(), registry)
    result.lines_total, result.valid, result.invalid = batch.lines, batch.valid, batch.invalid
    result.distinct_events = batch.distinct_events()
    echo(f"[soak] batch report of {produced_file.name}: {len(want):,} report buckets, "
         f"{time.monotonic() - started:.1f} s")
    diffs: list[str] = []
    probes = 0

    def live_agrees() -> bool:
        nonlocal want, diffs, probes
        if probes:
            want = batch_reports(batch, time.time(), registry)
        probes += 1
        diffs = differences(live_snapshots(settings, bootstrap), want)
        return not diffs

    try:
        wait_for(live_agrees, timeout=SETTLE_SECONDS, poll=2.0,
                 what="the live snapshots to equal the batch report")
    except NotIdle:
        result.problems.append(f"{len(diffs)} live snapshot(s) differ from the batch report: "
                               f"{diffs[:5]}")
    _check_store(db_url, want, result)
    _check_dlq(settings, bootstrap, result)


def _check_store(db_url: str, want: dict[tuple[str, str], dict[str, Any]],
                 result: SoakResult) -> None:
    result.problems.extend(store_problems(db_url, want, result.distinct_events))


def store_problems(db_url: str, want: dict[tuple[str, str], dict[str, Any]],
                   distinct_events: int) -> list[str]:
    """How the SQL store differs from the batch report ``want`` and from the
    ``distinct_events`` it must hold (empty: it does not)."""
    engine = store.make_engine(db_url)
    try:
        stored = by_bucket(snapshots.load_reports(engine))
        with engine.connect() as conn:
            events = conn.execute(select(func.count()).select_from(tables.raw_events)).scalar()
    finally:
        engine.dispose()
    problems = []
    sql_diffs = differences(stored, want)
    if sql_diffs:
        problems.append(f"{len(sql_diffs)} SQL report(s) differ from the batch report: "
                        f"{sql_diffs[:5]}")
    if events != distinct_events:
        problems.append(f"the SQL store holds {events:,} events; "
                        f"{distinct_events:,} distinct valid ones were produced")
    return problems


def _check_dlq(settings: Settings, bootstrap: str, result: SoakResult) -> None:
    consumer = reader(settings, bootstrap, "motcua-soak-check")
    try:
        dead = sum(end_offsets(consumer, settings.topics.dlq).values())
    finally:
        consumer.close()
    if dead != result.invalid:
        result.problems.append(f"{dead:,} dead letters on {settings.topics.dlq}; "
                               f"{result.invalid:,} invalid lines were produced")
