"""Replication settings reach every declared topic (the worker's changelogs included), and
an existing topic is judged against them (:func:`runtime.topics.mismatches`)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from runtime.settings import Settings, load_settings
from runtime.topics import TABLES, changelog_topic, declared_topics, insync_from_configs, mismatches


def _described(name: str, partitions: int, replicas: int) -> list[list[int]]:
    """A topic as :meth:`runtime.kafka.Admin.describe` returns it: the replicas (broker
    ids) of each partition."""
    return [list(range(1, replicas + 1)) for _ in range(partitions)]


def test_every_topic_and_changelog_gets_the_replication_settings() -> None:
    settings = Settings(topic_partitions=6, topic_replication_factor=3,
                        topic_min_insync_replicas=2)
    specs = declared_topics(settings)
    names = {s.name for s in specs}
    assert {changelog_topic(settings, t) for t in TABLES} <= names
    assert {settings.topics.events, settings.topics.dlq, settings.topics.contributions,
            settings.topics.kpi} <= names
    for spec in specs:
        assert (spec.partitions, spec.replication_factor, spec.min_insync_replicas) == (6, 3, 2)
        assert spec.configs()["min.insync.replicas"] == "2"


def test_one_node_defaults() -> None:
    settings = Settings()
    assert (settings.topic_replication_factor, settings.topic_min_insync_replicas) == (1, 1)
    assert all(s.replication_factor == 1 and s.configs()["min.insync.replicas"] == "1"
               for s in declared_topics(settings))


def test_min_insync_above_the_replicas_is_refused_without_showing_secrets(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTCUA_DATABASE_URL", "postgresql+psycopg://u:hunter2@h/d")
    monkeypatch.setenv("MOTCUA_TOPIC_REPLICATION_FACTOR", "2")
    monkeypatch.setenv("MOTCUA_TOPIC_MIN_INSYNC_REPLICAS", "3")
    with pytest.raises(ValidationError) as caught:
        load_settings()
    assert "MOTCUA_TOPIC_MIN_INSYNC_REPLICAS=3" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_the_settings_travel_to_child_processes() -> None:
    env = Settings(topic_replication_factor=3, topic_min_insync_replicas=2).as_env()
    assert env["MOTCUA_TOPIC_REPLICATION_FACTOR"] == "3"
    assert env["MOTCUA_TOPIC_MIN_INSYNC_REPLICAS"] == "2"


def test_existing_topics_are_checked() -> None:
    spec = declared_topics(Settings(topic_partitions=6, topic_replication_factor=3,
                                    topic_min_insync_replicas=2))[0]
    assert mismatches(spec, _described(spec.name, 6, 3), 2) == []
    assert mismatches(spec, _described(spec.name, 6, 5), 3) == []  # stricter is fine
    assert mismatches(spec, _described(spec.name, 6, 3), None) == []  # broker did not say
    (few,) = mismatches(spec, _described(spec.name, 6, 1), 2)
    assert "1 replica(s)" in few and "MOTCUA_TOPIC_REPLICATION_FACTOR=3" in few
    (low,) = mismatches(spec, _described(spec.name, 6, 3), 1)
    assert "min.insync.replicas=1" in low and "MOTCUA_TOPIC_MIN_INSYNC_REPLICAS=2" in low
    (parts,) = mismatches(spec, _described(spec.name, 4, 3), 2)
    assert "MOTCUA_TOPIC_PARTITIONS=4" in parts
    assert mismatches(spec, None, None)[0].endswith("could not be described: None")
    # one partition short of replicas is enough to be refused
    uneven = _described(spec.name, 6, 3)[:5] + [[1, 2]]
    (short,) = mismatches(spec, uneven, 2)
    assert "2 replica(s)" in short


def test_min_insync_is_read_from_describe_configs() -> None:
    answer = {"a": {"min.insync.replicas": "2", "cleanup.policy": "delete"}, "b": {}}
    assert insync_from_configs(answer) == {"a": 2}
    assert insync_from_configs({}) == {}
