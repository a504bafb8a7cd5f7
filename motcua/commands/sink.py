"""``motcua sink``: events, the dossier ledger, KPI snapshots and dead letters → SQL."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console

from schemas.errors import LogLost


def register(app: typer.Typer) -> None:
    app.command("sink")(sink)


@contextlib.contextmanager
def lost_log_exits(console: Console) -> Iterator[None]:
    """A sink that stopped on :class:`LogLost` (the broker lost records it had stored):
    its message in red, then exit 75 (``EX_TEMPFAIL``: recover, then restart). Used by
    every command that runs a sink (``motcua sink``, ``motcua metrics --with-sink``)."""
    try:
        yield
    except LogLost as exc:
        console.print(f"[red]sink stopped: {exc}[/red]")
        raise typer.Exit(exc.exit_code) from None


def sink(
    db: str | None = typer.Option(
        None, "--db", help="SQLAlchemy URL; default MOTCUA_DATABASE_URL or sqlite:///./motcua.db"
    ),
    bootstrap: str | None = typer.Option(
        None, help="Kafka host:port; default MOTCUA_KAFKA_BOOTSTRAP, else embedded"
    ),
    from_beginning: bool = typer.Option(
        False, "--from-beginning", help="re-read every topic from offset 0 (rebuild; idempotent)"
    ),
    metrics_port: int = typer.Option(
        0, "--metrics-port", help="serve the sink's own metrics on this port (0: off)"
    ),
) -> None:
    """Consume the events, DLQ and KPI topics into the SQL store (migrations run first).
    Offsets are committed only after the database commit; Ctrl-C stops cleanly."""
    import signal
    import threading

    from prometheus_client import CollectorRegistry, start_http_server

    from consumers.sink import run_sink
    from motcua.commands._common import service_settings
    from runtime.broker import bootstrap_for
    from runtime.topics import declared_topics, ensure_topics, sink_group

    settings = service_settings(bootstrap, db)
    console = Console(stderr=True)
    if settings.kafka_bootstrap is None:
        console.print("[yellow]No Kafka configured (--bootstrap / MOTCUA_KAFKA_BOOTSTRAP): "
                      "using an empty embedded in-memory broker.[/yellow]")
    stop = threading.Event()

    def _stop(_signum: int, _frame: object) -> None:
        console.print("stopping: finishing the current batch…")
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    registry = CollectorRegistry()
    server = None
    if metrics_port:
        server, _ = start_http_server(metrics_port, addr=settings.metrics_host, registry=registry)
    try:
        with bootstrap_for(settings) as servers:
            ensure_topics(servers, declared_topics(settings), settings)
            console.print(f"sink: group {sink_group(settings)} → "
                          f"{settings.database_url_shown()}")
            with lost_log_exits(console):
                result = run_sink(settings, servers, settings.database_url.get_secret_value(),
                                  stop, registry=registry, from_beginning=from_beginning)
            console.print(f"sink stopped after {result.batches} committed batch(es)")
    finally:
        if server is not None:
            server.shutdown()
