"""``motcua worker``: one faust worker of the live pipeline (streams/).

Run as many as there are partitions (``MOTCUA_TOPIC_PARTITIONS``); workers with the same
``MOTCUA_CONSUMER_GROUP_PREFIX`` share the partitions and take over each other's on a
rebalance. Without ``--bootstrap`` / ``MOTCUA_KAFKA_BOOTSTRAP`` an embedded in-memory
broker is started for the worker's lifetime and its address printed, so that
``motcua ingest`` and friends can be pointed at it (``MOTCUA_KAFKA_BOOTSTRAP=<address>``);
everything is lost when the worker stops.

Exit status (:func:`streams.run.run_worker`): 0 after SIGTERM / Ctrl-C; 75 when the broker
lost records the worker had written (``LogLost``: recover by replay, then restart); 70
when a batch failed otherwise (its input was not committed; a restart processes it again).
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)


def worker(
    bootstrap: str | None = typer.Option(
        None, help="Kafka host:port; default MOTCUA_KAFKA_BOOTSTRAP, else an embedded broker"
    ),
    loglevel: str = typer.Option("warn", "--loglevel", help="crit, error, warn, info, debug"),
) -> None:
    """Run the streaming pipeline (events → dossiers → contributions → KPI snapshots)
    until SIGTERM / Ctrl-C."""
    from rich.console import Console

    from runtime.broker import bootstrap_for
    from runtime.settings import load_settings
    from streams.localstate import forget
    from streams.run import run_worker

    settings = load_settings(**({"kafka_bootstrap": bootstrap} if bootstrap else {}))
    console = Console(stderr=True)
    with bootstrap_for(settings) as servers:
        if settings.kafka_bootstrap is None:
            console.print(f"[yellow]No Kafka configured: embedded in-memory broker at "
                          f"{servers} (MOTCUA_KAFKA_BOOTSTRAP={servers} for other commands)"
                          f"[/yellow]")
            forget(settings.worker_state_dir)  # states of earlier brokers' logs
        console.print(f"worker: {settings.topics.events} → {settings.topics.kpi} on {servers}")
        run_worker(settings, servers, loglevel=loglevel)
