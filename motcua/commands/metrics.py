"""``motcua metrics``: Prometheus ``/metrics`` with live KPI gauges and pipeline health."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command("metrics")(metrics)


def metrics(
    port: int | None = typer.Option(None, "--port", help="default MOTCUA_METRICS_PORT (9464)"),
    bootstrap: str | None = typer.Option(
        None, help="Kafka host:port; default MOTCUA_KAFKA_BOOTSTRAP, else embedded"
    ),
    with_sink: bool = typer.Option(
        False, "--with-sink", help="also run the SQL sink in this process (same /metrics)"
    ),
    db: str | None = typer.Option(None, "--db", help="database URL for --with-sink"),
) -> None:
    """Serve /metrics: motcua_kpi_ratio / motcua_kpi_items and the scores
    (motcua_score_*) for the current month, quarter and year, DLQ size, consumer lag and
    newest event age. Ctrl-C stops. With --with-sink,
    a sink stopped by lost broker records exits 75, as ``motcua sink`` does."""
    import signal
    import threading

    from prometheus_client import CollectorRegistry
    from rich.console import Console

    from consumers.metrics import start_metrics
    from consumers.sink import run_sink
    from motcua.commands._common import service_settings
    from motcua.commands.sink import lost_log_exits
    from runtime.broker import bootstrap_for
    from runtime.topics import declared_topics, ensure_topics

    settings = service_settings(bootstrap, db)
    console = Console(stderr=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    registry = CollectorRegistry()
    with bootstrap_for(settings) as servers:
        ensure_topics(servers, declared_topics(settings), settings)
        served = start_metrics(settings, servers, registry=registry, port=port)
        listen = port if port is not None else settings.metrics_port
        console.print(f"serving http://{settings.metrics_host}:{listen}/metrics (Ctrl-C to stop)")
        try:
            if with_sink:
                with lost_log_exits(console):
                    run_sink(settings, servers, settings.database_url.get_secret_value(),
                             stop, registry=registry)
            else:
                stop.wait()
        finally:
            served.close()
