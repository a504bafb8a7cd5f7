"""Settings handed to a child process through the environment come back the same."""

from __future__ import annotations

import pytest

from runtime.settings import Settings, TopicNames


def test_as_env_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Settings(
        kafka_bootstrap="127.0.0.1:9999", topic_partitions=3, consumer_group_prefix="g1",
        database_url="sqlite:////tmp/x.db", metrics_port=19464, data_dir="/tmp/d",
        topics=TopicNames(events="e.x", dlq="d.x", contributions="c.x", kpi="k.x"),
    )
    env = original.as_env()
    assert env["MOTCUA_TOPICS__EVENTS"] == "e.x" and env["MOTCUA_TOPIC_PARTITIONS"] == "3"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Settings() == original


def test_as_env_leaves_bootstrap_unset_for_the_embedded_broker() -> None:
    assert "MOTCUA_KAFKA_BOOTSTRAP" not in Settings(kafka_bootstrap=None).as_env()
