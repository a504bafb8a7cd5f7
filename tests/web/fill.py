"""Fill a SQL store for the web tests and the benchmark through the real sink path:
events and the batch reports (as the live pipeline publishes them on the KPI topic) go as
Kafka-like records through :func:`consumers.rows.build_batch` and
:func:`consumers.writer.write_batch` — the sink's own writer."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
from sqlalchemy import Engine

from consumers.rows import build_batch
from consumers.writer import write_batch
from kpi.report import snapshot_key
from kpi.units import CalendarBook
from runtime.settings import Settings


def batch_reports(events: Path, registry_path: Path | None, as_of: float,
                  scopes: Sequence[str] = ("own", "total")) -> list[dict[str, Any]]:
    """The reports ``motcua report --events`` gives for every unit and period, per scope
    (as_was: what the live pipeline publishes)."""
    from rich.console import Console

    from kpi.registry import UnitRegistry
    from motcua.commands.report import report_from_events

    registry = UnitRegistry.load(registry_path) if registry_path else None
    out: list[dict[str, Any]] = []
    for scope in scopes:
        out += report_from_events(events, None, None, as_of, Console(stderr=True),
                                  registry=registry, scope=scope)
    return out


def write_store(engine: Engine, lines: Iterable[bytes], reports: Iterable[dict[str, Any]],
                horizon: float, chunk: int = 20_000) -> None:
    """Store ``lines`` (events) and ``reports`` (KPI snapshots) with the sink's writer,
    judging the ledger at ``horizon``."""
    settings = Settings()
    topics = settings.topics
    records: list[Any] = [SimpleNamespace(topic=topics.events, partition=0, offset=i, key=None,
                                          value=raw) for i, raw in enumerate(lines)]
    for i, r in enumerate(reports):
        records.append(SimpleNamespace(
            topic=topics.kpi, partition=0, offset=i,
            key=snapshot_key(r["unit"], r["period"], r.get("scope", "own")).encode(),
            value=orjson.dumps(r)))
    book = CalendarBook()
    for i in range(0, len(records), chunk):
        write_batch(engine, build_batch(records[i:i + chunk], settings), group_id="web-test",
                    horizon=horizon, calendar_for=book)
