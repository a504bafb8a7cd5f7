"""``motcua topics create``: create every declared topic on a real Kafka cluster (one-shot).

Run it once before any producer or worker starts (docker-compose runs it as the ``topics``
service): a topic auto-created by a producer gets the broker's default partition count and
a faust table over it then crashes its agent. Safe to repeat; an existing topic with
another partition count is an error (:class:`~schemas.errors.TopicMismatch`, exit 1), never
silently accepted; so is a broker that does not answer within ``--wait`` seconds
(:class:`~schemas.errors.NotIdle`, exit 1).
"""

from __future__ import annotations

import typer

topics_app = typer.Typer(help="Kafka topics of the pipeline (declared once in code).",
                         no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(topics_app, name="topics")


@topics_app.command("create")
def create(
    bootstrap: str | None = typer.Option(
        None, "--bootstrap", help="Kafka host:port; default MOTCUA_KAFKA_BOOTSTRAP, else the "
        "broker of a running motcua demo (<data dir>/broker.addr)"
    ),
    wait: float = typer.Option(
        60.0, "--wait", min=0.0,
        help="seconds to keep retrying while the broker does not answer yet",
    ),
) -> None:
    """Create the events, DLQ, contributions and KPI topics (MOTCUA_TOPICS__*) with
    MOTCUA_TOPIC_PARTITIONS partitions each; existing topics are checked, not changed."""
    from confluent_kafka import KafkaException
    from rich.console import Console

    from runtime.broker import demo_broker
    from runtime.settings import load_settings
    from runtime.topics import declared_topics, ensure_topics
    from runtime.waiting import wait_for

    console = Console(stderr=True)
    settings = load_settings(**({"kafka_bootstrap": bootstrap} if bootstrap else {}))
    servers = settings.kafka_bootstrap or demo_broker(settings)
    if not servers:
        console.print(
            "[red]motcua topics create needs a real broker: set MOTCUA_KAFKA_BOOTSTRAP "
            "(e.g. kafka:9092) or pass --bootstrap. (An embedded broker would lose the "
            "topics when this command ends.)[/red]"
        )
        raise typer.Exit(2)
    specs = declared_topics(settings)

    def attempt() -> tuple[list[str]]:
        """The names created, in a tuple (none created is a success too); a broker that
        does not answer yet raises (retried until ``--wait`` runs out)."""
        try:
            return (ensure_topics(servers, specs, settings),)
        except (KafkaException, OSError) as exc:
            console.print(f"broker not ready ({type(exc).__name__}); retrying…")
            raise

    # bounded retry against a real broker, not a readiness guess; TopicMismatch ends it
    (created,) = wait_for(attempt, timeout=wait, poll=2.0, errors=(KafkaException, OSError),
                          what=f"broker {servers} to answer")
    for spec in specs:
        state = "created" if spec.name in created else "exists"
        console.print(f"{spec.name}: {spec.partitions} partitions, "
                      f"{spec.configs()['cleanup.policy']}, key = {spec.key} ({state})")
