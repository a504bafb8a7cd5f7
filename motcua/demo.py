"""The main job on the embedded default: simulate → Kafka → faust pipeline → SQL, /metrics
→ scorecard per unit, own figures and totals.

Steps (each shown as it happens):

1. write simulated Tân Hồng dossiers from 1/1/2025 to the end of the last complete month
   (:func:`demo_range`; or take ``--events FILE.jsonl``), by default with petitions,
   procedure catalogs, documents and the v1.2 fields (:mod:`kpi.simulate.families`) so
   that every Decision 766 group is scored — five (``decision-766-2022``) in 2025, six
   (``portal-766-2026``) from 2026 (:func:`demo_period`). By default
   the run crosses the 1/7/2025 reorganisation (:mod:`kpi.simulate.reorg`: district gone,
   communes merged into new ones under the province) and the unit registry the run used is
   written to ``<data_dir>/units.csv`` (:data:`UNITS_FILE`); the pipeline and the check
   attribute with it unless ``MOTCUA_UNITS_FILE`` names another registry. Without the
   reorganisation no registry is written (every code stands for itself, as in v1);
2. start the embedded broker (or use ``MOTCUA_KAFKA_BOOTSTRAP``) and create the topics; a
   new embedded broker gets a fresh SQL store (:func:`motcua.demostore.fresh_store`), and
   the broker's address is written to ``<data_dir>/broker.addr`` while the demo runs
   (:func:`motcua.demostore.published_broker`), for every other command;
3. start the pipeline worker (a child process, :mod:`streams.launcher`), the SQL sink and
   the Prometheus endpoint (threads of this process, :mod:`motcua.services`), all with the
   same settings, the registry included, and the HTTP ingest with a demo token
   (:mod:`motcua.http_service`);
4. publish the file with ``motcua ingest``'s code (invalid lines to the DLQ);
5. wait until the pipeline has processed everything and its KPI snapshots settle;
6. check every live snapshot — own figures and totals, by report bucket — against the batch
   report of the same file with the same registry (the rule of :mod:`kpi.reconcile`), wait
   for the SQL sink, and give the scorecard period's reports (:mod:`motcua.scorecard`):
   own and total as it was, from the live snapshots, and restated from their own figures.

Throughout, :class:`motcua.watch.Watch` looks at the broker, the worker, the sink and the
HTTP ingest: the first that stops ends the demo, named (docs/operations-shutdown.md).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

from kpi.attribution import OWN, TOTAL, split_scoped
from kpi.calendar import local_date
from kpi.reconcile import differences, file_reports
from kpi.registry import UnitRegistry
from kpi.simulate import SimulationConfig, generate_lines, write_jsonl, write_registry
from motcua.demostore import fresh_store, published_broker
from motcua.http_service import http_ingest
from motcua.scorecard import present, restated_reports
from motcua.services import Snapshots, services, wait_for_pipeline, wait_for_sink
from motcua.watch import Watch
from motcua.web.serve import web_service
from runtime.broker import bootstrap_for
from runtime.children import Child
from runtime.ingest import ingest_file
from runtime.rdproducer import FileProducer
from runtime.settings import Settings
from runtime.topics import declared_topics, ensure_topics
from schemas.errors import EXIT_LOG_LOST, LogLost, NotIdle
from streams.launcher import worker_process
from streams.localstate import forget

SINK_TIMEOUT = 120.0
"""Seconds the demo waits for the SQL sink before it says it is still behind."""

UNITS_FILE = "units.csv"
"""Name of the registry the simulated run used, in the settings' ``data_dir``."""

DEMO_START = dt.date(2025, 1, 1)
"""First day of the simulated world: before the 1/7/2025 reorganisation."""


def demo_range(today: dt.date) -> tuple[dt.date, dt.date]:
    """The simulated world's first and last day: :data:`DEMO_START` to the last day of the
    last complete month before ``today`` (2026-12-07 → 2026-11-30); never before the end
    of 2025, so that the world always crosses the reorganisation into 2026."""
    last = today.replace(day=1) - dt.timedelta(days=1)
    return DEMO_START, max(last, dt.date(2025, 12, 31))


def demo_period(today: dt.date) -> str:
    """The demo's scorecard period: the year of :func:`demo_range`'s last day, to date
    (2026-12-07 → ``2026``, January to November), scored with the catalog in force on its
    first day (``portal-766-2026`` from 2026)."""
    return str(demo_range(today)[1].year)


def today() -> dt.date:
    """The local (Vietnam) date now."""
    return local_date(time.time())


@dataclass
class DemoResult:
    events_file: Path
    published: int
    rejected: int
    reports: list[dict[str, Any]]
    """The live KPI snapshots of the scorecard period, own figures, one per unit
    (:func:`motcua.scorecard.present`: named, scored, sorted)."""
    mismatches: list[str] = field(default_factory=list)
    """:func:`kpi.reconcile.differences` of the live snapshots against the batch report of
    the same file (with the same registry), one line per differing bucket; empty when they
    agree."""
    snapshots: int = 0
    """Live snapshots compared, own and total."""
    totals: list[dict[str, Any]] = field(default_factory=list)
    """The live totals (tổng hợp) of the scorecard period, for units with units below."""
    restated: list[dict[str, Any]] = field(default_factory=list)
    """The scorecard period restated to the units in force now, own then total."""
    scopes: dict[str, int] = field(default_factory=dict)
    """Live snapshots per scope (``own``, ``total``)."""
    registry_file: Path | None = None
    """The unit registry the pipeline and the check used (None: none)."""


def simulate(settings: Settings, console: Console, scale: float, reorganisation: bool,
             families: bool = True) -> tuple[Path, Path | None, dict[str, str]]:
    """Write the simulated events (and, crossing the reorganisation, the registry the run
    used) to ``settings.data_dir``: (events file, registry file or None, unit names).
    ``families`` adds petitions, procedure catalogs, documents and the portal sync
    (:mod:`kpi.simulate.families`), so that every Decision 766 group is scored."""
    events = settings.data_dir / "demo-events.jsonl"
    start, end = demo_range(today())
    config = SimulationConfig(start=start, end=end, scale=scale, shuffle=True,
                              duplicates=0.005, invalid=0.001,
                              reorganisation=reorganisation, families=families)
    rows = config.registry_rows()
    what = "across the 1/7/2025 reorganisation" if reorganisation else "no reorganisation"
    if families:
        what += "; petitions, procedure catalogs, documents, v1.2 fields"
    span = f"{start:%d/%m/%Y}–{end:%d/%m/%Y}"
    with console.status(f"Sinh dữ liệu mô phỏng (simulating Tân Hồng {span}, {what})…"):
        n = write_jsonl(events, generate_lines(config))
    console.print(f"simulated {n:,} events, {span} ({what}) → {events}")
    names = {row[0]: row[1] for row in rows if not row[5]}  # the name in force last
    names.update({row[0]: row[1] for row in rows if row[0] not in names})
    if not reorganisation:
        return events, None, names
    units = settings.data_dir / UNITS_FILE
    versions = write_registry(units, rows)
    console.print(f"unit registry the run used ({versions} unit versions; new structure "
                  f"from {config.cutover:%d/%m/%Y}) → {units}")
    return events, units.resolve(), names


WORKER_STOP_TIMEOUT = 3.0
"""Seconds the worker gets after SIGTERM before SIGKILL when the demo stops (the whole
shutdown stays within 10 s: docs/operations-shutdown.md)."""

SERVE_POLL = 0.5
"""Seconds between two checks of the services while the demo serves."""


def _check(watch: Watch, worker: Child) -> None:
    """Raise if a service stopped: :class:`LogLost` when the worker exited with 75 (its
    reason), else :class:`motcua.watch.ServiceDied` naming every one that stopped."""
    if worker.proc.poll() == EXIT_LOG_LOST:
        raise LogLost(worker.failure() or "the pipeline worker lost its log")
    watch.check()


def run_demo(
    settings: Settings,
    console: Console,
    *,
    events: Path | None = None,
    scale: float = 0.25,
    period: str | None = None,
    reorganisation: bool = True,
    families: bool = True,
    on_ready: Callable[[DemoResult], None] | None = None,
    serve: threading.Event | None = None,
) -> DemoResult:
    """Run the whole pipeline over the input; call ``on_ready`` with the result while
    everything still runs, then with ``serve`` keep it up until that event is set.

    ``reorganisation`` and ``families`` choose the simulated world (ignored with
    ``events``); ``period`` is the scorecard's (None: :func:`demo_period`). The registry
    is ``settings.units_file`` when set, else the one the simulation wrote (if any).
    ``mismatches`` of the result lists every bucket (unit and scope, period) whose live
    snapshot breaks the rule of :mod:`kpi.reconcile` against the batch report of the same
    file with that registry. A service that stops meanwhile — the embedded broker, the
    worker, the SQL sink, the HTTP ingest, also while serving — raises
    :class:`motcua.watch.ServiceDied` naming it, its exit code and its log's last lines
    (:class:`LogLost` when the worker exited with 75); a
    pipeline that does not catch up within 600 s, :class:`schemas.errors.NotIdle`; a
    registry that cannot be used, :class:`schemas.errors.RegistryError`. A sink still
    behind after :data:`SINK_TIMEOUT` is reported, not fatal (the live check does not
    depend on it)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    period = period or demo_period(today())
    names: dict[str, str] = {}
    if events is None:
        events, written, names = simulate(settings, console, scale, reorganisation,
                                          families)
        if written is not None and settings.units_file is None:
            settings = settings.model_copy(update={"units_file": written})
        elif written is not None:
            console.print(f"[yellow]MOTCUA_UNITS_FILE is set: the pipeline and the check "
                          f"use {settings.units_file}, not {written}[/yellow]")
    registry = UnitRegistry.load(settings.units_file) if settings.units_file else None
    if registry is not None:
        console.print(f"units: {settings.units_file} — counts go to the unit in force when "
                      "judged (view as_was), totals to the units above it then")
    watch = Watch()
    if settings.kafka_bootstrap is None:
        fresh_store(settings, console)  # a new broker: a store of an earlier one goes aside
        console.print("starting the embedded Kafka-protocol broker (Tansu, in memory)…")
    with bootstrap_for(settings, on_start=watch.child, reuse_demo=False) as servers, \
            published_broker(settings, servers) as addr:
        created = ensure_topics(servers, declared_topics(settings), settings)
        console.print(f"broker {servers} (written to {addr}, read by every motcua command); "
                      f"topics created: {', '.join(created) or 'none (exist)'}")
        worker_log = settings.data_dir / "worker.log"
        if settings.kafka_bootstrap is None:  # a new broker: states of earlier ones go
            forget(settings.worker_state_dir)
        with worker_process(settings, servers, worker_log,
                            stop_timeout=WORKER_STOP_TIMEOUT) as proc, \
                services(settings, servers, console) as sink_failure, \
                http_ingest(settings, servers, console) as ingest, \
                web_service(settings, console, period=period):  # staff pages (motcua.web)
            worker = Child("the pipeline worker", proc, worker_log)
            watch.child(worker)
            watch.add(sink_failure)
            watch.add(ingest.failure)
            try:
                console.print(f"pipeline worker started (pid {proc.pid}, log {worker_log})")
                return _run(settings, console, servers, events, registry, names, period,
                            watch, worker, on_ready, serve)
            finally:
                if proc.poll() is None:  # stops while the sink and the server stop
                    proc.terminate()


def _run(settings: Settings, console: Console, servers: str, events: Path,
         registry: UnitRegistry | None, names: dict[str, str], period: str, watch: Watch,
         worker: Child, on_ready: Callable[[DemoResult], None] | None,
         serve: threading.Event | None) -> DemoResult:
    """Steps 4 to 6 of the module's docstring, with every service running; then serve."""
    published, rejected = _publish(settings, servers, events, console)
    _check(watch, worker)
    with console.status("Đang xử lý (waiting for the pipeline to catch up)…"):
        started = time.monotonic()
        try:
            snapshots = wait_for_pipeline(settings, servers, worker.proc, timeout=600,
                                          alive=lambda: _check(watch, worker))
        except NotIdle:
            _check(watch, worker)
            raise
        took = time.monotonic() - started
    _check(watch, worker)
    console.print(f"pipeline idle after {took:.1f} s: {len(snapshots):,} KPI "
                  f"snapshots on {settings.topics.kpi}")
    # reconcile the live snapshots with the batch path over the same file
    as_of = time.time()
    _, want = file_reports(events, as_of, registry)
    mismatches = differences(snapshots, want)
    with console.status("Ghi vào CSDL (waiting for the SQL sink)…"):
        try:
            wait_for_sink(settings, servers, timeout=SINK_TIMEOUT,
                          alive=lambda: _check(watch, worker))
            console.print(f"SQL store up to date: {settings.database_url_shown()}")
        except NotIdle as exc:
            console.print(f"[yellow]{exc}[/yellow]")
    _check(watch, worker)
    own, total = period_reports(snapshots, want, period)
    result = DemoResult(
        events, published, rejected, present(own, registry, as_of, names),
        mismatches, len(snapshots),
        totals=present(total, registry, as_of, names),
        restated=(present(restated_reports(own, registry, as_of), registry, as_of,
                          names) if registry is not None else []),
        scopes=_scopes(snapshots), registry_file=settings.units_file)
    if on_ready is not None:
        on_ready(result)
    if serve is not None:
        console.print("serving (worker, sink, /metrics, HTTP ingest, web pages); "
                      "Ctrl-C to stop")
        while not serve.wait(SERVE_POLL):
            _check(watch, worker)  # a dead service: said at once, and the demo stops
    return result


def _publish(settings: Settings, servers: str, events: Path, console: Console
             ) -> tuple[int, int]:
    """Publish ``events`` as ``motcua ingest`` does: (published, rejected to the DLQ)."""
    prod = FileProducer(settings, servers)
    size = events.stat().st_size
    try:
        with Progress(TextColumn("[bold]Gửi sự kiện (publish)"), BarColumn(),
                      DownloadColumn(), console=console, transient=True) as progress:
            task = progress.add_task("publish", total=size)
            summary = ingest_file(events, prod, settings,
                                  on_progress=lambda b: progress.advance(task, b))
    finally:
        prod.close()
    console.print(f"published {summary.published:,} events to {settings.topics.events}, "
                  f"{summary.rejected:,} invalid lines to {settings.topics.dlq}")
    return summary.published, summary.rejected


def period_reports(snapshots: Snapshots, want: Snapshots, period: str
                    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The live snapshots of ``period`` for every unit the batch report knows: (own
    figures, totals)."""
    own: list[dict[str, Any]] = []
    total: list[dict[str, Any]] = []
    for key in sorted({key for key, _ in want}):
        report = snapshots.get((key, period))
        if report is not None:
            (total if split_scoped(key)[1] == TOTAL else own).append(report)
    return own, total


def _scopes(snapshots: Snapshots) -> dict[str, int]:
    out = {OWN: 0, TOTAL: 0}
    for key, _ in snapshots:
        out[split_scoped(key)[1]] += 1
    return out
