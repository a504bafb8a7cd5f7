"""The ``/metrics`` service: live KPI gauges and pipeline health over HTTP.

What is served is :func:`exposition`: the registry's metrics (the health gauges of
:mod:`consumers.health`, and the sink's own :class:`consumers.flush.SinkMetrics` when a sink
runs in the same process) followed by the KPI gauges of the current month, quarter and year
(:meth:`consumers.kpi_board.KpiBoard.exposition`, the one KPI renderer), in the Prometheus
text format 0.0.4; gzip-compressed when the client accepts it, as Prometheus does.

:func:`start_metrics` runs the whole service in this process (KPI feed thread, health
probe, HTTP server); :func:`serve_metrics` is the HTTP server alone. Everything takes a
``registry``; nothing is registered on the global default registry.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from consumers.health import HealthCollector, KafkaHealth, default_groups
from consumers.kpi_board import KpiBoard, KpiFeed, current_periods
from runtime.settings import Settings


def exposition(registry: CollectorRegistry, board: KpiBoard, now: float) -> bytes:
    """The body of ``GET /metrics`` at ``now``: the registry's metrics, then the board's
    KPI gauges for the periods holding ``now``."""
    return generate_latest(registry) + board.exposition(current_periods(now))


def serve_metrics(
    registry: CollectorRegistry, board: KpiBoard, port: int, addr: str = "0.0.0.0",
    clock: Callable[[], float] = time.time,
) -> ThreadingHTTPServer:
    """An HTTP server (own thread) answering ``/metrics`` (and ``/``) with
    :func:`exposition` at ``clock()``; any other path is 404. ``port`` 0 picks a free port
    (``server.server_address[1]``). Stop it with ``shutdown()`` then ``server_close()``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path.split("?")[0] not in ("/metrics", "/"):
                self.send_error(404)
                return
            body = exposition(registry, board, clock())
            self.send_response(200)
            if "gzip" in self.headers.get("Accept-Encoding", ""):  # Prometheus asks for it
                body = gzip.compress(body, compresslevel=1)
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer((addr, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="motcua-metrics-http",
                     daemon=True).start()
    return server


@dataclass
class MetricsServer:
    """What :func:`start_metrics` started; ``close()`` stops it."""

    board: KpiBoard
    registry: CollectorRegistry
    stop: threading.Event
    threads: list[threading.Thread]
    server: ThreadingHTTPServer | None
    health: KafkaHealth | None

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        for t in self.threads:
            t.join(timeout)
        if self.health is not None:
            self.health.close()


def start_metrics(
    settings: Settings,
    bootstrap: str,
    *,
    registry: CollectorRegistry | None = None,
    port: int | None = None,
    addr: str | None = None,
    groups: dict[str, list[str]] | None = None,
) -> MetricsServer:
    """Start the KPI feed thread and the HTTP server (``port`` 0 = no server; default the
    settings' ``metrics_port``, bound to ``addr``, default the settings' ``metrics_host``,
    127.0.0.1 unless widened) in this process; returns at once. The registry may be shared
    with an in-process sink. ``groups`` (group id → topics) whose lag is reported default to
    :func:`consumers.health.default_groups`."""
    registry = registry if registry is not None else CollectorRegistry()
    board = KpiBoard()
    health = KafkaHealth(settings, bootstrap, groups or default_groups(settings))
    HealthCollector(health, registry=registry)
    stop = threading.Event()
    feed = threading.Thread(target=KpiFeed(settings, bootstrap, board).run, args=(stop,),
                            name="motcua-kpi-feed", daemon=True)
    feed.start()
    port = settings.metrics_port if port is None else port
    addr = settings.metrics_host if addr is None else addr
    server = serve_metrics(registry, board, port, addr) if port else None
    return MetricsServer(board, registry, stop, [feed], server, health)


__all__ = ["MetricsServer", "default_groups", "exposition", "serve_metrics", "start_metrics"]
