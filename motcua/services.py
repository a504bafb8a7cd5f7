"""The SQL sink and the Prometheus endpoint as threads of this process (``motcua demo`` and
``motcua soak`` run them next to the worker child process), and the wait for the sink.

Contract:

* :func:`services` starts the metrics endpoint on ``settings.metrics_port`` (port taken:
  on a free port, and says so) and the sink thread, and yields a probe (None while the
  sink runs, else what stopped it: for :class:`motcua.watch.Watch`); on exit it stops the
  sink (joins up to ``stop_timeout`` s, :data:`SINK_STOP_TIMEOUT`: a flush still running
  then is abandoned — its transaction is never committed, nor are its offsets, so its
  records are read again by the next sink on the same broker) and closes the endpoint.
  The metrics feed also watches the pipeline's group lag.
* :func:`live_snapshots` reads the latest KPI snapshot of every report bucket on the kpi
  topic, keyed by :func:`kpi.report.report_bucket` — ``(unit, period)`` for a unit's own
  figures, ``(scoped total key, period)`` for its total — the bucket keys of
  :mod:`kpi.reconcile`, so own and total snapshots of one (unit, period) never collide.
* :func:`wait_for_pipeline` returns those snapshots once the pipeline is idle
  (:func:`streams.idle.wait_until_idle`), and raises :class:`schemas.errors.NotIdle` at
  once when the worker process exits meanwhile, else at the deadline.
* :func:`wait_for_sink` returns once the sink's group has committed every record of the
  events, DLQ and kpi topics. The sink commits offsets only after its database
  transaction, so the store then answers for everything published. Raises
  :class:`schemas.errors.NotIdle` naming the lag left.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

from prometheus_client import CollectorRegistry
from rich.console import Console

from consumers.metrics import default_groups, start_metrics
from consumers.sink import run_sink
from kpi.report import report_bucket
from runtime.kafka import group_lag
from runtime.settings import Settings
from runtime.topics import pipeline_group, sink_group
from runtime.waiting import wait_for
from schemas.errors import NotIdle
from streams.idle import read_snapshots, wait_until_idle

IDLE_SLICE = 15.0
"""Seconds of one idleness probe: how soon a dead worker is noticed."""

SINK_STOP_TIMEOUT = 3.0
"""Seconds :func:`services` waits for the sink thread to stop (the demo's shutdown budget
is 10 s in all, docs/operations-shutdown.md)."""


class SinkThread(threading.Thread):
    """:func:`consumers.sink.run_sink` in a daemon thread that keeps what ended it."""

    def __init__(self, settings: Settings, bootstrap: str, db_url: str,
                 stop: threading.Event, registry: CollectorRegistry) -> None:
        super().__init__(name="motcua-sink", daemon=True)
        self.args_ = (settings, bootstrap, db_url, stop)
        self.registry = registry
        self.stop = stop
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            run_sink(*self.args_, registry=self.registry)
        except BaseException as exc:  # kept for failure(); the thread ends either way
            self.error = exc
            raise

    def failure(self) -> str | None:
        """None while the sink runs (or was asked to stop); else why it stopped."""
        if self.is_alive() or self.stop.is_set() or self.ident is None:
            return None
        why = (f"{type(self.error).__name__}: {self.error}" if self.error is not None
               else "it returned")
        return f"the SQL sink (thread {self.name}) stopped: {why}"


@contextmanager
def services(settings: Settings, bootstrap: str, console: Console, *,
             stop_timeout: float = SINK_STOP_TIMEOUT) -> Iterator[Callable[[], str | None]]:
    """The SQL sink and the metrics endpoint, as threads of this process; yields the sink's
    failure probe."""
    registry = CollectorRegistry()
    groups = {**default_groups(settings),
              pipeline_group(settings): [settings.topics.events, settings.topics.links,
                                         settings.topics.contributions]}
    try:
        metrics = start_metrics(settings, bootstrap, registry=registry, groups=groups)
        console.print(f"metrics: http://127.0.0.1:{settings.metrics_port}/metrics")
    except OSError as exc:  # port taken: run without the configured port
        console.print(f"[yellow]metrics port {settings.metrics_port} unavailable ({exc}); "
                      "set MOTCUA_METRICS_PORT[/yellow]")
        metrics = start_metrics(settings, bootstrap, registry=registry, groups=groups, port=0)
    stop = threading.Event()
    db_url = settings.database_url.get_secret_value()  # handed to the engine only
    sink = SinkThread(settings, bootstrap, db_url, stop, registry)
    sink.start()
    console.print(f"SQL sink → {settings.database_url_shown()}")
    try:
        yield sink.failure
    finally:
        stop.set()
        sink.join(timeout=stop_timeout)
        with suppress(Exception):
            metrics.close()


Snapshots = dict[tuple[str, str], dict[str, Any]]
"""KPI snapshots by report bucket (:func:`kpi.report.report_bucket`)."""


def by_bucket(reports: Iterable[Mapping[str, Any]]) -> Snapshots:
    """``reports`` keyed by :func:`kpi.report.report_bucket` (the last one of a bucket wins)."""
    return {report_bucket(r): dict(r) for r in reports}


def live_snapshots(settings: Settings, bootstrap: str) -> Snapshots:
    """The latest snapshot of every report bucket on the kpi topic (already keyed by
    :func:`kpi.report.report_bucket`)."""
    return read_snapshots(settings, bootstrap)


def wait_for_pipeline(settings: Settings, bootstrap: str, worker: subprocess.Popen[bytes],
                      *, timeout: float, alive: Callable[[], None] | None = None
                      ) -> Snapshots:
    """The latest snapshot per report bucket once the pipeline has caught up. ``alive``
    is called before each idleness probe (every :data:`IDLE_SLICE` s at most): what it
    raises (a dead service) ends the wait."""

    def idle() -> tuple[Snapshots]:
        if alive is not None:
            alive()
        return (wait_until_idle(settings, bootstrap, timeout=IDLE_SLICE),)

    (snapshots,) = wait_for(idle, timeout=timeout, poll=0.0, errors=(NotIdle,),
                            process=worker, what="the pipeline to catch up")
    return snapshots


def wait_for_sink(settings: Settings, bootstrap: str, *, timeout: float,
                  alive: Callable[[], None] | None = None) -> None:
    """Until the SQL sink's group has no lag on the events, DLQ and kpi topics. ``alive``
    is called before each probe: what it raises (a dead sink) ends the wait at once."""
    t = settings.topics
    lag: dict[str, int] = {}

    def caught_up() -> bool:
        if alive is not None:
            alive()
        lag.clear()
        lag.update(group_lag(settings, bootstrap, sink_group(settings),
                             [t.events, t.dlq, t.kpi]))
        return not any(lag.values())

    try:
        wait_for(caught_up, timeout=timeout, poll=0.5, what="the SQL sink")
    except NotIdle as exc:
        raise NotIdle(f"the SQL sink is still behind after {timeout:.0f} s: {lag}") from exc
