"""One soak run: start the embedded stack, warm up, produce, drain, check, stop."""

from __future__ import annotations

import math
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from rich.console import Console

from kpi.calendar import local_date
from kpi.periods import period_keys
from motcua.services import services, wait_for_pipeline, wait_for_sink
from motcua.soak.check import check
from motcua.soak.figures import SoakOptions, SoakResult
from motcua.soak.markers import Markers, marker_line, scrape_gauges, watch_snapshots
from motcua.soak.monitor import Monitor, broker_pid
from motcua.soak.pacing import produce
from motcua.soak.stream import generate_in_child
from runtime.broker import embedded_broker, free_port
from runtime.dlq import recover_subject
from runtime.kafka import producer
from runtime.settings import Settings, load_settings
from runtime.topics import declared_topics, ensure_topics
from runtime.waiting import wait_for
from schemas.errors import NotIdle
from streams.launcher import worker_process
from streams.localstate import forget

MARKERS_SETTLE = 30.0
"""Seconds the last markers may still take once the pipeline is idle."""


def run_soak(options: SoakOptions, workdir: Path,
             echo: Callable[[str], None] = print) -> SoakResult:
    """Start the embedded stack, produce for ``options.seconds``, check, stop; the result's
    ``problems`` lists every loss, duplication or mismatch found (empty: a clean run)."""
    workdir.mkdir(parents=True, exist_ok=True)
    result = SoakResult(options, workdir)
    stream_file = workdir / "stream.jsonl"
    produced_file = workdir / "produced.jsonl"
    need = math.ceil(options.rate * options.seconds) + 1000
    started = time.monotonic()
    written = generate_in_child(stream_file, need, options.seed, local_date(time.time()))
    echo(f"[soak] simulated {written:,} lines → {stream_file} "
         f"({time.monotonic() - started:.1f} s, in a child process)")
    db_url = options.db_url or f"sqlite:///{workdir / 'soak.db'}"
    with embedded_broker() as bootstrap:
        overrides: dict[str, object] = {
            "kafka_bootstrap": bootstrap, "database_url": db_url,
            "metrics_port": free_port(), "data_dir": workdir,
            "consumer_group_prefix": "soak",
        }
        if options.partitions:
            overrides["topic_partitions"] = options.partitions
        settings = load_settings(**overrides)
        forget(settings.worker_state_dir)  # a new broker: states of earlier ones go
        ensure_topics(bootstrap, declared_topics(settings), settings)
        pids: dict[str, int | None] = {"broker": broker_pid(bootstrap)}
        echo(f"[soak] broker {bootstrap} (pid {pids['broker']}), "
             f"{settings.topic_partitions} partitions; SQL {settings.database_url_shown()}; "
             f"/metrics on port {settings.metrics_port}; worker log {workdir / 'worker.log'}")
        with worker_process(settings, bootstrap, workdir / "worker.log") as worker, \
                services(settings, bootstrap, Console(quiet=True)):
            pids["worker"] = worker.pid
            pids["host"] = os.getpid()
            _run_stack(settings, bootstrap, options, result, pids, stream_file,
                       produced_file, echo, worker)
            if worker.poll() is not None:
                result.problems.append(f"the worker exited ({worker.returncode}); see "
                                       f"{workdir / 'worker.log'}")
            if result.problems:
                return result
            check(settings, bootstrap, db_url, produced_file, result, echo)
    return result


def _run_stack(settings: Settings, bootstrap: str, options: SoakOptions, result: SoakResult,
               pids: dict[str, int | None], stream_file: Path, produced_file: Path,
               echo: Callable[[str], None], worker: subprocess.Popen[bytes]) -> None:
    markers = Markers(options.marker_units)
    url = f"http://127.0.0.1:{settings.metrics_port}/metrics"
    scrape_errors: list[str] = []
    prod = producer(settings, bootstrap)
    send_errors: list[str] = []
    monitor = Monitor(settings, bootstrap, pids, markers, echo, options.report_every)
    with _thread(watch_snapshots, settings, bootstrap, markers, name="soak-kpi-watch"), \
            _thread(scrape_gauges, url, markers, options.scrape_every, result.scrape_ms,
                    scrape_errors, name="soak-scrape"), \
            produced_file.open("wb", buffering=1 << 20) as out, \
            stream_file.open("rb") as source:

        def send(line: bytes) -> None:
            subject = recover_subject(line)
            future = prod.send(settings.topics.events, line,
                               key=subject.encode() if subject else None)
            future.add_errback(lambda exc: send_errors.append(repr(exc)))
            out.write(line)
            out.write(b"\n")

        # warm-up: one marker through worker, kpi topic, metrics feed and scrape
        now = time.time()
        warm = markers.add(markers.units[0], period_keys(now)[0], now, warmup=True)
        send(marker_line(warm.n, warm.unit, now))
        prod.flush()
        try:
            wait_for(lambda: not markers.pending(), timeout=options.warmup_timeout,
                     poll=0.05, what="the warm-up marker")
        except NotIdle:
            result.problems.append(
                f"warm-up marker not seen within {options.warmup_timeout:.0f} s (snapshot "
                f"{warm.snapshot}, gauge {warm.gauge}; scrape errors {scrape_errors[-3:]})")
            prod.close()
            return
        assert warm.snapshot is not None and warm.gauge is not None
        echo(f"[soak] warm-up marker seen after {warm.snapshot - warm.produced:.2f} s "
             f"(snapshot) / {warm.gauge - warm.produced:.2f} s (gauge); producing "
             f"{options.rate:,.0f}/s for {options.seconds:.0f} s")

        monitor.started = time.monotonic()
        monitor.sample()
        with _thread(monitor.run, name="soak-monitor"):
            sent = produce(options, markers, monitor, source, send, result)
            prod.flush()
            result.produced = sent
            monitor.phase = "draining"
            last_send = time.monotonic()
            echo(f"[soak] produced {sent:,} in {result.produce_seconds:.1f} s "
                 f"({result.rate:,.1f}/s); waiting for the pipeline and the sink")
            _drain(settings, bootstrap, options, markers, result, last_send, worker)
        monitor.sample()
        monitor.close()
    prod.close()
    if send_errors:
        result.problems.append(f"{len(send_errors)} send(s) failed: {send_errors[:3]}")
    if scrape_errors:
        echo(f"[soak] {len(scrape_errors)} scrape(s) failed, last: {scrape_errors[-1]}")
    result.samples = monitor.samples
    result.markers = len(markers.measured())
    never = [m for m in markers.all if m.snapshot is None or m.gauge is None]
    if never:
        result.problems.append(
            f"{len(never)} marker(s) never seen at both stages, e.g. "
            f"{[(m.unit, m.nth, m.snapshot, m.gauge) for m in never[:3]]}")
    for m in markers.measured():
        if m.snapshot is not None:
            result.fresh_snapshot.append(m.snapshot - m.produced)
        if m.gauge is not None:
            result.fresh_gauge.append(m.gauge - m.produced)


def _drain(settings: Settings, bootstrap: str, options: SoakOptions, markers: Markers,
           result: SoakResult, last_send: float, worker: subprocess.Popen[bytes]) -> None:
    """Until the pipeline is idle, the last markers are seen and the sink has caught up;
    what does not happen in time becomes a problem (a marker never seen is one later)."""
    try:
        snapshots = wait_for_pipeline(settings, bootstrap, worker,
                                      timeout=options.idle_timeout)
        result.idle_seconds = time.monotonic() - last_send
        result.snapshots = len(snapshots)
    except NotIdle as exc:
        result.problems.append(str(exc))
        return
    with suppress(NotIdle):
        wait_for(lambda: not markers.pending(), timeout=MARKERS_SETTLE, poll=0.1,
                 what="the last markers")
    try:
        wait_for_sink(settings, bootstrap, timeout=options.idle_timeout)
    except NotIdle as exc:
        result.problems.append(str(exc))


@contextmanager
def _thread(target: Callable[..., None], *args: Any, name: str) -> Iterator[threading.Event]:
    """``target(*args, stop)`` in a daemon thread for the ``with`` block; ``stop`` is set
    and the thread joined (up to 15 s) at its end."""
    stop = threading.Event()
    thread = threading.Thread(target=target, args=(*args, stop), name=name, daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=15)
