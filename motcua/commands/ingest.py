"""``motcua ingest FILE.jsonl``: publish events to Kafka, invalid lines to the DLQ."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)


def ingest(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="JSON Lines")
    ],
    bootstrap: Annotated[
        str | None,
        typer.Option(help="Kafka host:port; default MOTCUA_KAFKA_BOOTSTRAP, else embedded"),
    ] = None,
) -> None:
    """Publish each valid event of FILE (one JSON object a line) to the events topic; send
    each invalid line, with its reason, to the dead-letter topic. Blank lines are skipped."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from runtime.broker import bootstrap_for
    from runtime.ingest import ingest_file
    from runtime.rdproducer import FileProducer
    from runtime.settings import load_settings
    from runtime.topics import ensure_topics, spec_for

    console = Console(stderr=True)
    settings = load_settings(**({"kafka_bootstrap": bootstrap} if bootstrap else {}))
    if settings.kafka_bootstrap is None:
        console.print(
            "[yellow]No Kafka configured (--bootstrap / MOTCUA_KAFKA_BOOTSTRAP): using an "
            "embedded in-memory broker that stops when this command ends.[/yellow]"
        )
    size = file.stat().st_size
    with bootstrap_for(settings) as servers:
        ensure_topics(
            servers,
            [spec_for(settings, settings.topics.events), spec_for(settings, settings.topics.dlq)],
            settings,
        )
        prod = FileProducer(settings, servers)
        try:
            progress = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
                disable=not console.is_terminal or size < 1_000_000,
            )
            with progress:
                task = progress.add_task(f"ingest {file.name}", total=size)
                summary = ingest_file(
                    file, prod, settings, on_progress=lambda n: progress.advance(task, n)
                )
        finally:
            prod.close()
    console.print(
        f"{file.name}: read {summary.read}, published {summary.published} to "
        f"{settings.topics.events}, rejected {summary.rejected} "
        f"({summary.dead_lettered} on {settings.topics.dlq}), blank lines skipped "
        f"{summary.blank}"
        + (f", [red]failed sends {summary.failed}[/red]" if summary.failed else "")
    )
    for error in summary.errors:
        console.print(f"[red]  {error}[/red]")
    if not summary.ok or summary.failed:
        raise typer.Exit(1)

