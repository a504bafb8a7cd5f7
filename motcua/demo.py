"""The main job on the embedded default: simulate → Kafka → KPIs → scorecard per unit.

Steps (each shown with progress):

1. start the embedded broker (or use ``MOTCUA_KAFKA_BOOTSTRAP``) and create the topics;
2. write a simulated year of Tân Hồng dossiers (or take ``--events FILE.jsonl``);
3. publish it to the events topic (invalid lines to the DLQ) with ``motcua ingest``'s code;
4. read the events topic back and compute the KPIs with the same core as the stream layer;
5. print a scorecard per unit with the Decision 766 points.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from kpi.batch import aggregate, fold_lines
from kpi.calendar import local_date
from kpi.counters import Counters
from kpi.periods import parse_period
from kpi.report import build_report
from kpi.scoring import criteria_for_report, totals
from kpi.simulate import SimulationConfig, generate_lines, write_jsonl
from kpi.units import CalendarBook
from motcua.settings import Settings


@dataclass
class DemoResult:
    events_file: Path
    published: int
    rejected: int
    reports: list[dict[str, Any]]


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def scorecard(reports: list[dict[str, Any]], console: Console, title: str) -> None:
    """One row per unit: the figures a leader reads first, with Vietnamese headers."""
    table = Table(title=title, title_justify="left")
    for header in ("Đơn vị", "Cấp", "Tiếp nhận", "Trực tuyến", "Đúng hạn",
                   "Đúng hạn 766", "TT trực tuyến", "Số hóa", "Hài lòng", "Điểm 766"):
        left = header in ("Đơn vị", "Cấp")
        table.add_column(header, justify="left" if left else "right", no_wrap=True)
    for r in reports:
        c, q = r["counts"], r["ratios"]
        t = totals([e for e in r["criteria"] if e["id"].startswith("766.")])
        table.add_row(
            r["unit"], r.get("level") or "", f"{c['received']:,}", _pct(q["online_receipt"]),
            _pct(q["on_time_resolved"]), _pct(q["on_time_766"]), _pct(q["online_payment"]),
            _pct(q["digitization"]), _pct(q["satisfaction"]),
            f"{t['points']:.2f}/{t['max_points']:g}",
        )
    console.print(table)


def run_demo(
    settings: Settings,
    console: Console,
    *,
    events: Path | None = None,
    scale: float = 0.25,
    period: str = "2025",
) -> DemoResult:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from motcua.broker import bootstrap_for
    from motcua.ingest import ingest_file
    from motcua.kafka import producer, read_topic
    from motcua.topics import declared_topics, ensure_topics

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if events is None:
        events = settings.data_dir / "demo-events.jsonl"
        config = SimulationConfig(scale=scale, shuffle=True, duplicates=0.005, invalid=0.001)
        with console.status("Sinh dữ liệu mô phỏng (simulating a year of Tân Hồng dossiers)…"):
            n = write_jsonl(events, generate_lines(config))
        console.print(f"simulated {n:,} events → {events}")
    if settings.kafka_bootstrap is None:
        console.print("starting the embedded Kafka-protocol broker (Tansu, in memory)…")
    with bootstrap_for(settings) as servers:
        created = ensure_topics(servers, declared_topics(settings), settings)
        console.print(f"broker {servers}; topics created: {', '.join(created) or 'none (exist)'}")
        prod = producer(settings, servers)
        size = events.stat().st_size
        try:
            with Progress(TextColumn("[bold]Gửi sự kiện (publish)"), BarColumn(),
                          MofNCompleteColumn(), console=console, transient=True) as progress:
                task = progress.add_task("publish", total=size)
                summary = ingest_file(events, prod, settings,
                                      on_progress=lambda b: progress.advance(task, b))
        finally:
            prod.close()
        console.print(f"published {summary.published:,} events to {settings.topics.events}, "
                      f"{summary.rejected:,} invalid lines to {settings.topics.dlq}")
        with console.status("Đọc lại và tính chỉ số (reading the topic back, computing KPIs)…"):
            records = read_topic(settings, servers, settings.topics.events, timeout=120)
            batch = fold_lines(r.value for r in records)
    horizon = time.time()
    agg = aggregate(batch.states(), horizon, CalendarBook())
    on_date = local_date(parse_period(period).start)
    reports = []
    for unit in sorted(agg.levels):
        counters = agg.counters.get((unit, period), Counters())
        level = agg.levels[unit]
        report = build_report(unit, period, counters, horizon, level=level)
        report["criteria"] = criteria_for_report(report["counts"], level, on_date)
        reports.append(report)
    return DemoResult(events, summary.published, summary.rejected, reports)
