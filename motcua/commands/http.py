"""``motcua http``: the HTTP ingest for one-stop software that cannot reach Kafka
(docs/contract.md, "Transport bindings"; :mod:`consumers.http_ingest`)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command("http")(http)


def http(
    host: str | None = typer.Option(None, "--host", help="default MOTCUA_HTTP_HOST (127.0.0.1)"),
    port: int | None = typer.Option(None, "--port", help="default MOTCUA_HTTP_PORT (8088)"),
    bootstrap: str | None = typer.Option(
        None, help="Kafka host:port; default MOTCUA_KAFKA_BOOTSTRAP, else embedded"),
) -> None:
    """Serve POST /v1/events (structured, binary and batch CloudEvents; bearer tokens from
    ``motcua token add``), /healthz, /readyz and /openapi.json until Ctrl-C."""
    from rich.console import Console

    from consumers.http_ingest.server import make_server, url_of
    from motcua.commands._common import service_settings
    from runtime.broker import bootstrap_for
    from runtime.topics import declared_topics, ensure_topics

    settings = service_settings(bootstrap, None)
    with bootstrap_for(settings) as servers:
        ensure_topics(servers, declared_topics(settings), settings)
        server = make_server(settings, servers, host=host, port=port)
        Console(stderr=True).print(f"HTTP ingest on {url_of(server)}/v1/events (tokens: "
                                   f"{settings.tokens_file}; Ctrl-C to stop)")
        server.run()
