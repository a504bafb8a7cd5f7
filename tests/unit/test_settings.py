"""Settings handed to a child process through the environment come back the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.settings import Settings, TopicNames


def test_as_env_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Settings(
        kafka_bootstrap="127.0.0.1:9999", topic_partitions=3, consumer_group_prefix="g1",
        database_url="sqlite:////tmp/x.db", metrics_port=19464, data_dir="/tmp/d",
        topics=TopicNames(events="e.x", dlq="d.x", contributions="c.x", kpi="k.x"),
        state_dir="/tmp/s", retire_after_days=0.5,
    )
    env = original.as_env()
    assert env["MOTCUA_TOPICS__EVENTS"] == "e.x" and env["MOTCUA_TOPIC_PARTITIONS"] == "3"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Settings() == original


def test_as_env_leaves_bootstrap_unset_for_the_embedded_broker() -> None:
    assert "MOTCUA_KAFKA_BOOTSTRAP" not in Settings(kafka_bootstrap=None).as_env()




def test_a_worker_child_gets_the_data_directories_as_absolute_paths(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The worker runs in the project's directory: a relative data dir must name the
    parent's (the demo removes stale local states there)."""
    from streams.launcher import worker_env

    monkeypatch.chdir(tmp_path)
    env = worker_env(Settings(data_dir="./data", state_dir="st"), "h:1")
    assert env["MOTCUA_DATA_DIR"] == str(tmp_path / "data")
    assert env["MOTCUA_STATE_DIR"] == str(tmp_path / "st")
    assert env["MOTCUA_KAFKA_BOOTSTRAP"] == "h:1"
    assert worker_env(Settings(), "h:1", {"MOTCUA_DATA_DIR": "x"})["MOTCUA_DATA_DIR"] == "x"
