"""The main job on the embedded default: simulate → Kafka → faust pipeline → SQL, /metrics
→ scorecard per unit.

Steps (each shown as it happens):

1. start the embedded broker (or use ``MOTCUA_KAFKA_BOOTSTRAP``) and create the topics;
2. start the pipeline worker (``python -m streams.run``, a subprocess), the SQL sink and the
   Prometheus endpoint (threads of this process);
3. write a simulated year of Tân Hồng dossiers (or take ``--events FILE.jsonl``) and publish
   it with ``motcua ingest``'s code (invalid lines to the DLQ);
4. wait until the pipeline has processed everything and its KPI snapshots settle;
5. print a scorecard per unit from the live snapshots, and check them against the batch
   report computed from the same file (they must be identical).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from kpi.batch import aggregate, fold_file
from kpi.counters import Counters
from kpi.scoring import totals
from kpi.simulate import SimulationConfig, generate_lines, write_jsonl
from kpi.units import CalendarBook
from runtime.broker import stop_process
from runtime.settings import Settings


@dataclass
class DemoResult:
    events_file: Path
    published: int
    rejected: int
    reports: list[dict[str, Any]]
    """The live KPI snapshots of the scorecard period, one per unit."""
    mismatches: list[str] = field(default_factory=list)
    """(unit, period) whose live snapshot differs from the batch report of the same file."""
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


@contextmanager
def worker_process(
    settings: Settings, bootstrap: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """The pipeline worker as a child process (faust owns its event loop and signals)."""
    env = {**os.environ, **settings.as_env(), "MOTCUA_KAFKA_BOOTSTRAP": bootstrap}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streams.run"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            stop_process(proc, timeout=20)


@contextmanager
def services(settings: Settings, bootstrap: str, console: Console) -> Iterator[None]:
    """The SQL sink and the metrics endpoint, as threads of this process."""
    from prometheus_client import CollectorRegistry

    from consumers.metrics import default_groups, start_metrics
    from consumers.sink import run_sink
    from runtime.topics import pipeline_group

    registry = CollectorRegistry()
    groups = {**default_groups(settings),
              pipeline_group(settings): [settings.topics.events, settings.topics.contributions]}
    try:
        metrics = start_metrics(settings, bootstrap, registry=registry, groups=groups)
        console.print(f"metrics: http://127.0.0.1:{settings.metrics_port}/metrics")
    except OSError as exc:  # port taken: run without the HTTP endpoint
        console.print(f"[yellow]metrics port {settings.metrics_port} unavailable ({exc}); "
                      "set MOTCUA_METRICS_PORT[/yellow]")
        metrics = start_metrics(settings, bootstrap, registry=registry, groups=groups, port=0)
    stop = threading.Event()
    db_url = settings.database_url.get_secret_value()  # handed to the engine only
    sink = threading.Thread(target=run_sink, name="motcua-sink",
                            args=(settings, bootstrap, db_url, stop),
                            kwargs={"registry": registry}, daemon=True)
    sink.start()
    console.print(f"SQL sink → {settings.database_url_shown()}")
    try:
        yield
    finally:
        stop.set()
        sink.join(timeout=30)
        with suppress(Exception):
            metrics.close()


def _wait_for_sink(settings: Settings, bootstrap: str, console: Console,
                   timeout: float = 120.0) -> None:
    """Until the SQL sink has committed every event, dead letter and snapshot (it commits
    its offsets only after the database transaction), so the store answers
    ``motcua report --unit U --period P`` when the demo ends."""
    from runtime.kafka import group_lag
    from runtime.topics import sink_group

    t = settings.topics
    deadline = time.monotonic() + timeout
    with console.status("Ghi vào CSDL (waiting for the SQL sink)…"):
        while time.monotonic() < deadline:
            lag = group_lag(settings, bootstrap, sink_group(settings), [t.events, t.dlq, t.kpi])
            if not any(lag.values()):
                console.print(f"SQL store up to date: {settings.database_url_shown()}")
                return
            time.sleep(0.5)
    console.print(f"[yellow]the SQL sink is still behind after {timeout:.0f} s: {lag}[/yellow]")


def _same(live: dict[str, Any], batch: dict[str, Any]) -> bool:
    return live["counts"] == batch["counts"] and live["ratios"] == batch["ratios"]


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
    everything still runs, then with ``serve`` keep it up until that event is set."""
    from kpi.calendar import local_date
    from kpi.periods import parse_period
    from kpi.report import build_report, report_criteria
    from runtime.broker import bootstrap_for
    from runtime.ingest import ingest_file
    from runtime.kafka import producer
    from runtime.topics import declared_topics, ensure_topics
    from streams.idle import wait_until_idle

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
                services(settings, servers, console):
            console.print(f"pipeline worker started (pid {worker.pid}, log {worker_log})")
            prod = producer(settings, servers)
            size = events.stat().st_size
            try:
                from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

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
                snapshots = wait_until_idle(settings, servers, timeout=600)
                took = time.monotonic() - started
            if worker.poll() is not None:
                raise RuntimeError(f"the pipeline worker exited ({worker.returncode}); "
                                   f"see {worker_log}")
            console.print(f"pipeline idle after {took:.1f} s: {len(snapshots):,} KPI "
                          f"snapshots on {settings.topics.kpi}")
            # reconcile the live snapshots with the batch path over the same file
            batch = aggregate(fold_file(events).states(), time.time(), CalendarBook())
            mismatches = []
            for unit, p in sorted(set(batch.counters) | set(snapshots)):
                expected = build_report(unit, p, batch.counters.get((unit, p), Counters()), 0)
                live = snapshots.get((unit, p)) or build_report(unit, p, Counters(), 0)
                if not _same(live, expected):
                    mismatches.append(f"{unit} {p}")
            _wait_for_sink(settings, servers, console)
            # the live snapshots carry no criteria (scored where read): score them here
            on_date = local_date(parse_period(period).start)
            reports = []
            for u in sorted(batch.levels):
                if (u, period) in snapshots:
                    r = dict(snapshots[(u, period)])
                    r["criteria"] = report_criteria(r["counts"], r.get("level"), on_date)
                    reports.append(r)
            result = DemoResult(events, summary.published, summary.rejected, reports,
                                mismatches, len(snapshots))
            if on_ready is not None:
                on_ready(result)
            if serve is not None:
                console.print("serving (worker, sink, /metrics); Ctrl-C to stop")
                serve.wait()
            return result
