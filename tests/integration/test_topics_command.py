"""``motcua topics create`` against a real broker: creates every declared topic, is safe
to repeat, and refuses a topic whose partition count differs from its declaration."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from motcua.cli import app
from runtime.kafka import admin
from runtime.settings import Settings
from runtime.topics import declared_topics

pytestmark = pytest.mark.integration


def _env(settings: Settings) -> dict[str, str]:
    t = settings.topics
    return {"MOTCUA_KAFKA_BOOTSTRAP": str(settings.kafka_bootstrap),
            "MOTCUA_TOPIC_PARTITIONS": str(settings.topic_partitions),
            "MOTCUA_CONSUMER_GROUP_PREFIX": settings.consumer_group_prefix,  # changelogs
            "MOTCUA_TOPICS__EVENTS": t.events, "MOTCUA_TOPICS__DLQ": t.dlq,
            "MOTCUA_TOPICS__CONTRIBUTIONS": t.contributions, "MOTCUA_TOPICS__KPI": t.kpi}


def _partitions(settings: Settings) -> dict[str, int]:
    client = admin(settings, str(settings.kafka_bootstrap))
    try:
        names = [s.name for s in declared_topics(settings)]
        return {name: len(replicas or ()) for name, replicas in client.describe(names).items()}
    finally:
        client.close()


def test_creates_every_declared_topic_and_repeats(
    topic_settings: Callable[..., Settings],
) -> None:
    settings = topic_settings(topic_partitions=3)
    runner = CliRunner()
    first = runner.invoke(app, ["topics", "create", "--wait", "10"], env=_env(settings))
    assert first.exit_code == 0, first.output
    assert _partitions(settings) == {s.name: 3 for s in declared_topics(settings)}
    again = runner.invoke(app, ["topics", "create", "--wait", "10"], env=_env(settings))
    assert again.exit_code == 0, again.output
    assert "exists" in again.output

    other = settings.model_copy(update={"topic_partitions": 5})
    mismatch = runner.invoke(app, ["topics", "create", "--wait", "10"], env=_env(other))
    assert mismatch.exit_code == 1
    assert "MOTCUA_TOPIC_PARTITIONS=3" in mismatch.output


def test_refuses_existing_topics_with_fewer_replicas_than_declared(
    topic_settings: Callable[..., Settings],
) -> None:
    """Topics made on one broker, then the settings of a three-broker cluster: the check
    names the setting instead of running under-replicated."""
    settings = topic_settings(topic_partitions=2)
    runner = CliRunner()
    first = runner.invoke(app, ["topics", "create", "--wait", "10"], env=_env(settings))
    assert first.exit_code == 0, first.output
    env = _env(settings) | {"MOTCUA_TOPIC_REPLICATION_FACTOR": "3",
                            "MOTCUA_TOPIC_MIN_INSYNC_REPLICAS": "2"}
    refused = runner.invoke(app, ["topics", "create", "--wait", "10"], env=env)
    assert refused.exit_code == 1
    assert "MOTCUA_TOPIC_REPLICATION_FACTOR=3" in refused.output
