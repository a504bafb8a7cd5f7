"""The main job on the embedded default: simulate → Kafka → faust pipeline → SQL, /metrics
→ scorecard per unit.

Steps (each shown as it happens):

1. start the embedded broker (or use ``MOTCUA_KAFKA_BOOTSTRAP``) and create the topics;
2. start the pipeline worker (a child process, :mod:`streams.launcher`), the SQL sink and
   the Prometheus endpoint (threads of this process, :mod:`motcua.services`), and the HTTP
   ingest with a demo token (:mod:`motcua.http_service`);
3. write a simulated year of Tân Hồng dossiers (or take ``--events FILE.jsonl``) and publish
   it with ``motcua ingest``'s code (invalid lines to the DLQ);
4. wait until the pipeline has processed everything and its KPI snapshots settle;
5. check the live snapshots against the batch report of the same file (the rule of
   :mod:`kpi.reconcile`), wait for the SQL sink, and print a scorecard per unit from the
   live snapshots.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn
from rich.table import Table

from kpi.calendar import local_date
from kpi.periods import parse_period
from kpi.reconcile import differences, file_reports
from kpi.report import report_criteria
from kpi.scoring import totals
from kpi.simulate import SimulationConfig, generate_lines, write_jsonl
from motcua.http_service import http_ingest
from motcua.services import services, wait_for_pipeline, wait_for_sink
from runtime.broker import bootstrap_for
from runtime.ingest import ingest_file
from runtime.kafka import producer
from runtime.settings import Settings
from runtime.topics import declared_topics, ensure_topics
from schemas.errors import EXIT_LOG_LOST, LogLost, NotIdle, PipelineError
from streams.launcher import worker_process

SINK_TIMEOUT = 120.0
"""Seconds the demo waits for the SQL sink before it says it is still behind."""


@dataclass
class DemoResult:
    events_file: Path
    published: int
    rejected: int
    reports: list[dict[str, Any]]
    """The live KPI snapshots of the scorecard period, one per unit."""
    mismatches: list[str] = field(default_factory=list)
    """:func:`kpi.reconcile.differences` of the live snapshots against the batch report of
    the same file, one line per differing (unit, period); empty when they agree."""
    snapshots: int = 0


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


def _still_running(worker: subprocess.Popen[bytes], log: Path) -> None:
    """Raise if the worker exited: :class:`LogLost` for its status 75, else
    :class:`PipelineError`, naming its log."""
    if worker.poll() is not None:
        failure = LogLost if worker.returncode == EXIT_LOG_LOST else PipelineError
        raise failure(f"the pipeline worker exited ({worker.returncode}); see {log}")


def run_demo(
    settings: Settings,
    console: Console,
    *,
    events: Path | None = None,
    scale: float = 0.25,
    period: str = "2025",
    on_ready: Callable[[DemoResult], None] | None = None,
    serve: threading.Event | None = None,
) -> DemoResult:
    """Run the whole pipeline over the input; call ``on_ready`` with the result while
    everything still runs, then with ``serve`` keep it up until that event is set.

    ``mismatches`` of the result lists every (unit, period) whose live snapshot breaks
    the rule of :mod:`kpi.reconcile` against the batch report of the same file. A worker
    that exits meanwhile raises :class:`~schemas.errors.PipelineError` (:class:`LogLost`
    when it exited with 75); a pipeline that does not catch up
    within 600 s, :class:`schemas.errors.NotIdle`. A sink still behind after
    :data:`SINK_TIMEOUT` is reported, not fatal (the live check does not depend on it)."""
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
        worker_log = settings.data_dir / "worker.log"
        with worker_process(settings, servers, worker_log) as worker, \
                services(settings, servers, console), \
                http_ingest(settings, servers, console):
            console.print(f"pipeline worker started (pid {worker.pid}, log {worker_log})")
            prod = producer(settings, servers)
            size = events.stat().st_size
            try:
                with Progress(TextColumn("[bold]Gửi sự kiện (publish)"), BarColumn(),
                              DownloadColumn(), console=console, transient=True) as progress:
                    task = progress.add_task("publish", total=size)
                    summary = ingest_file(events, prod, settings,
                                          on_progress=lambda b: progress.advance(task, b))
            finally:
                prod.close()
            console.print(f"published {summary.published:,} events to "
                          f"{settings.topics.events}, {summary.rejected:,} invalid lines to "
                          f"{settings.topics.dlq}")
            with console.status("Đang xử lý (waiting for the pipeline to catch up)…"):
                started = time.monotonic()
                try:
                    snapshots = wait_for_pipeline(settings, servers, worker, timeout=600)
                except NotIdle:
                    _still_running(worker, worker_log)
                    raise
                took = time.monotonic() - started
            _still_running(worker, worker_log)
            console.print(f"pipeline idle after {took:.1f} s: {len(snapshots):,} KPI "
                          f"snapshots on {settings.topics.kpi}")
            # reconcile the live snapshots with the batch path over the same file
            _, want = file_reports(events, time.time())
            mismatches = differences(snapshots, want)
            with console.status("Ghi vào CSDL (waiting for the SQL sink)…"):
                try:
                    wait_for_sink(settings, servers, timeout=SINK_TIMEOUT)
                    console.print(f"SQL store up to date: {settings.database_url_shown()}")
                except NotIdle as exc:
                    console.print(f"[yellow]{exc}[/yellow]")
            # the live snapshots carry no criteria (scored where read): score them here
            on_date = local_date(parse_period(period).start)
            reports = []
            for u in sorted({unit for unit, _ in want}):
                if (u, period) in snapshots:
                    r = dict(snapshots[(u, period)])
                    r["criteria"] = report_criteria(r["counts"], r.get("level"), on_date)
                    reports.append(r)
            result = DemoResult(events, summary.published, summary.rejected, reports,
                                mismatches, len(snapshots))
            if on_ready is not None:
                on_ready(result)
            if serve is not None:
                console.print("serving (worker, sink, /metrics, HTTP ingest); Ctrl-C to stop")
                serve.wait()
            return result
