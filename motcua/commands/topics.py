"""``motcua topics create``: create every declared topic on a real Kafka cluster (one-shot).

Run it once before any producer or worker starts (docker-compose runs it as the ``topics``
service): a topic auto-created by a producer gets the broker's default partition count and
a faust table over it then crashes its agent. Safe to repeat; an existing topic with
another partition count is an error (exit 1), never silently accepted.
"""

from __future__ import annotations

import time

import typer

topics_app = typer.Typer(help="Kafka topics of the pipeline (declared once in code).",
                         no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(topics_app, name="topics")


@topics_app.command("create")
def create(
    bootstrap: str | None = typer.Option(
        None, "--bootstrap", help="Kafka host:port; default MOTCUA_KAFKA_BOOTSTRAP (required)"
    ),
    wait: float = typer.Option(
        60.0, "--wait", min=0.0,
        help="seconds to keep retrying while the broker does not answer yet",
    ),
) -> None:
    """Create the events, DLQ, contributions and KPI topics (MOTCUA_TOPICS__*) with
    MOTCUA_TOPIC_PARTITIONS partitions each; existing topics are checked, not changed."""
    from kafka.errors import KafkaError
    from rich.console import Console

    from runtime.settings import load_settings
    from runtime.topics import TopicMismatch, declared_topics, ensure_topics

    console = Console(stderr=True)
    settings = load_settings(**({"kafka_bootstrap": bootstrap} if bootstrap else {}))
    if not settings.kafka_bootstrap:
        console.print(
            "[red]motcua topics create needs a real broker: set MOTCUA_KAFKA_BOOTSTRAP "
            "(e.g. kafka:9092) or pass --bootstrap. (An embedded broker would lose the "
            "topics when this command ends.)[/red]"
        )
        raise typer.Exit(2)
    specs = declared_topics(settings)
    deadline = time.monotonic() + wait
    while True:
        try:
            created = ensure_topics(settings.kafka_bootstrap, specs, settings)
            break
        except TopicMismatch as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
        except (KafkaError, OSError) as exc:
            if time.monotonic() >= deadline:
                console.print(f"[red]broker {settings.kafka_bootstrap} not reachable: "
                              f"{exc!r}[/red]")
                raise typer.Exit(1) from exc
            console.print(f"broker not ready ({type(exc).__name__}); retrying…")
            time.sleep(2.0)  # bounded retry against a real broker, not a readiness guess
    for spec in specs:
        state = "created" if spec.name in created else "exists"
        console.print(f"{spec.name}: {spec.partitions} partitions, "
                      f"{spec.configs()['cleanup.policy']}, key = {spec.key} ({state})")
