"""kafka-python clients built from :class:`~runtime.settings.Settings` (never at import time).

* :func:`producer`: idempotent, ``acks='all'`` producer for pipeline topics.
* :func:`consumer_options`: options for kafka-python consumers, with group timings short
  enough that a join on the embedded Tansu broker takes seconds, not minutes.
* :func:`admin`: an admin client; :func:`read_topic`: every record of a topic, from the
  beginning up to the end offsets seen at call time (no consumer group, no sleeps).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from runtime.settings import Settings

if TYPE_CHECKING:
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.consumer.fetcher import ConsumerRecord

GROUP_TIMINGS: dict[str, int] = {
    "max_poll_interval_ms": 10_000,
    "session_timeout_ms": 6_000,
    "heartbeat_interval_ms": 1_000,
}
"""Consumer-group timings of every kafka-python consumer: a member that stops polling or
heart-beating leaves the group within seconds (docs/decisions/runtime-group-timings.md)."""


def consumer_options(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for ``kafka.KafkaConsumer``: security, short group timings, and
    manual commits (sinks commit offsets only after their own write succeeded)."""
    opts: dict[str, Any] = {
        **settings.kafka_client_options(),
        **GROUP_TIMINGS,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
    }
    opts.update(overrides)
    return opts


def producer(settings: Settings, bootstrap: str, **overrides: Any) -> KafkaProducer:
    """A producer that writes each record once per send, in order per partition.

    Tansu 0.6 grants producer ids (InitProducerId), so the idempotent producer works there
    and on any Kafka >= 0.11; ``acks='all'`` is implied by idempotence and spelt out.
    """
    from kafka import KafkaProducer

    opts: dict[str, Any] = {
        **settings.kafka_client_options(),
        "bootstrap_servers": bootstrap,
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 5,
        "client_id": "motcua-producer",
    }
    opts.update(overrides)
    return KafkaProducer(**opts)


def admin(settings: Settings, bootstrap: str, **overrides: Any) -> KafkaAdminClient:
    from kafka import KafkaAdminClient

    opts: dict[str, Any] = {
        **settings.kafka_client_options(),
        "bootstrap_servers": bootstrap,
        "client_id": "motcua-admin",
    }
    opts.update(overrides)
    return KafkaAdminClient(**opts)


def end_offsets(consumer: Any, topic: str, timeout: float = 15.0) -> dict[Any, int]:
    """TopicPartition → end offset (next offset to be written) of ``topic``.

    ``consumer`` must be a group-less consumer (it is re-assigned here). The listed end
    offsets are confirmed by the high watermark of a fetch at the last listed record (a
    broker may list them short: docs/decisions/runtime-end-offsets.md); if that cannot be
    done within ``timeout``, :class:`TimeoutError` is raised, never a short answer.
    """
    from kafka import TopicPartition

    partitions = consumer.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    if not tps:
        return {}
    ends: dict[Any, int] = dict(consumer.end_offsets(tps))
    probe = [tp for tp, end in ends.items() if end > 0]
    if probe:
        consumer.assign(probe)
        for tp in probe:
            consumer.seek(tp, ends[tp] - 1)
        pending = set(probe)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            consumer.poll(timeout_ms=200)
            for tp in list(pending):
                hw = consumer.highwater(tp)
                if hw is not None:
                    ends[tp] = max(ends[tp], hw)
                    pending.discard(tp)
        consumer.unsubscribe()
        if pending:
            raise TimeoutError(
                f"end offsets of {sorted(tp.partition for tp in pending)} in {topic!r} not "
                f"confirmed by a fetch within {timeout:.0f}s (the listed ones can be short)")
    return ends


def read_topic(
    settings: Settings, bootstrap: str, topic: str, *, timeout: float = 30.0
) -> list[ConsumerRecord]:
    """Every record of ``topic`` from offset 0 to the end offsets at call time, in
    partition then offset order. Raises ``TimeoutError`` if they cannot be read in time."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        client_id="motcua-reader",
        **settings.kafka_client_options(),
    )
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise LookupError(f"topic {topic!r} does not exist")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        end = end_offsets(consumer, topic)
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic!r} to its end offsets {end}")
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        records.sort(key=lambda r: (r.partition, r.offset))
        return records
    finally:
        consumer.close()


def group_lag(
    settings: Settings, bootstrap: str, group: str, topics: Iterable[str],
    *, consumer: Any = None, admin_client: Any = None,
) -> dict[str, int]:
    """topic → (end offsets − committed offsets) of ``group``; a partition without a
    committed offset counts from 0."""
    from kafka import KafkaConsumer

    own_consumer = consumer is None
    own_admin = admin_client is None
    consumer = consumer or KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="motcua-lag",
        **settings.kafka_client_options(),
    )
    admin_client = admin_client or admin(settings, bootstrap)
    try:
        committed = committed_offsets(admin_client, group)
        out: dict[str, int] = {}
        for topic in topics:
            ends = end_offsets(consumer, topic)
            out[topic] = sum(max(0, end - committed.get(tp, 0)) for tp, end in ends.items())
        return out
    finally:
        if own_consumer:
            consumer.close()
        if own_admin:
            admin_client.close()


def committed_offsets(admin_client: Any, group: str) -> dict[Any, int]:
    """TopicPartition → committed offset of ``group`` (absent: nothing committed)."""
    answer = admin_client.list_group_offsets({group: None})
    offsets = answer.get(group, {}) if isinstance(answer, dict) else {}
    return {tp: om.offset for tp, om in offsets.items() if om.offset is not None
            and om.offset >= 0}
