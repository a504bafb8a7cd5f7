from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from runtime.broker import bootstrap_for, embedded_broker
from runtime.kafka import admin, producer, read_topic
from runtime.settings import Settings, load_settings
from runtime.topics import TopicMismatch, TopicSpec, declared_topics, ensure_topics

pytestmark = pytest.mark.integration


def _accepts(bootstrap: str) -> bool:
    host, port = bootstrap.rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, int(port))) == 0


def test_embedded_broker_serves_kafka_and_stops() -> None:
    settings = load_settings()
    with embedded_broker() as bootstrap:
        client = admin(settings, bootstrap)
        try:
            assert client.topic_names() == set()  # a fresh in-memory broker
        finally:
            client.close()
        assert _accepts(bootstrap)
    assert not _accepts(bootstrap)


def test_bootstrap_for_uses_configured_servers_without_starting_anything() -> None:
    with bootstrap_for(load_settings(kafka_bootstrap="kafka.example:9092")) as bootstrap:
        assert bootstrap == "kafka.example:9092"


def test_topics_are_created_idempotently(
    kafka_bootstrap: str, topic_settings: Callable[..., Settings]
) -> None:
    settings = topic_settings(topic_partitions=3)
    specs = declared_topics(settings)
    names = [s.name for s in specs]
    assert sorted(ensure_topics(kafka_bootstrap, specs, settings)) == sorted(names)
    assert ensure_topics(kafka_bootstrap, specs, settings) == []
    client = admin(settings, kafka_bootstrap)
    try:
        described = {name: len(replicas or ())
                     for name, replicas in client.describe(names).items()}
    finally:
        client.close()
    assert described == {name: 3 for name in names}


def test_partition_count_mismatch_raises(
    kafka_bootstrap: str, topic_settings: Callable[..., Settings]
) -> None:
    settings = topic_settings(topic_partitions=2)
    events = settings.topics.events
    ensure_topics(kafka_bootstrap, [TopicSpec(events, 2, key="subject")], settings)
    with pytest.raises(TopicMismatch, match=rf"{events}.* has 2 partitions .* declared with 5"):
        ensure_topics(kafka_bootstrap, [TopicSpec(events, 5, key="subject")], settings)


def test_idempotent_producer_writes_once(
    kafka_bootstrap: str, topic_settings: Callable[..., Settings]
) -> None:
    settings = topic_settings(topic_partitions=1)
    ensure_topics(kafka_bootstrap, declared_topics(settings)[:1], settings)
    prod = producer(settings, kafka_bootstrap)
    try:
        for i in range(20):
            prod.send(settings.topics.events, key=b"k", value=b"%d" % i)
        prod.flush(timeout=30)
    finally:
        prod.close()
    records = read_topic(settings, kafka_bootstrap, settings.topics.events)
    assert [r.value for r in records] == [b"%d" % i for i in range(20)]
    assert [r.offset for r in records] == list(range(20))
