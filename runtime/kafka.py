"""The project's Kafka clients besides the stream worker's, on confluent-kafka (librdkafka),
built from :class:`~runtime.settings.Settings` (never at import time). The worker's client
is faust's aiokafka; nothing else is (docs/decisions/runtime-one-admin-client.md).

* :func:`producer`: an idempotent, ``acks=all`` :class:`~runtime.rdproducer.FileProducer`
  for pipeline topics (``send`` / ``flush`` / ``close``; ``send(…).get(timeout)`` waits
  for one record's acknowledgement).
* :func:`reader`: a consumer for assigned partitions only (no group, no commits).
* :class:`Admin`: topics listed, described, created, deleted; their configs; a group's
  committed offsets (:func:`committed_offsets`).
* :func:`end_offsets` (confirmed by a fetch, never short), :func:`read_range`,
  :func:`read_topic` (every record of a topic up to its end offsets at call time) and
  :func:`group_lag`.

Partitions are named by :class:`Partition` ``(topic, partition)`` tuples and consumed
records handed out as :class:`Record` tuples, whatever the client's own types.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from runtime.rdkafka import rdkafka_client_config, reader_config
from runtime.rdproducer import FileProducer
from runtime.settings import Settings

log = logging.getLogger(__name__)


class Partition(NamedTuple):
    """One partition of one topic."""

    topic: str
    partition: int


class Record(NamedTuple):
    """A consumed record (``timestamp``: the broker's or producer's, epoch milliseconds;
    ``headers``: ``[]`` when it has none)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    @classmethod
    def of(cls, message: Any) -> Record:
        """The record of a confluent-kafka ``Message`` (one without an error)."""
        return cls(message.topic(), message.partition(), message.offset(),
                   message.timestamp()[1], message.key(), message.value(),
                   message.headers() or [])


def producer(settings: Settings, bootstrap: str, **overrides: Any) -> FileProducer:
    """A producer that writes each record once per send, in order per partition
    (idempotent, ``acks=all``, the Java client's partitioner: :func:`runtime.rdkafka.
    rdkafka_config`); ``overrides`` are librdkafka settings (``{"linger.ms": 20}``)."""
    return FileProducer(settings, bootstrap, **{"client.id": "motcua-producer",
                                                "linger.ms": 5, **overrides})


def reader(settings: Settings, bootstrap: str, client_id: str = "motcua-reader",
           **overrides: Any) -> Any:
    """A confluent-kafka ``Consumer`` for partitions it is assigned
    (:func:`runtime.rdkafka.reader_config`); librdkafka's log lines go to this module's
    logger. Close it when done."""
    import confluent_kafka

    return confluent_kafka.Consumer(reader_config(settings, bootstrap, client_id,
                                                  **overrides), logger=log)


def take(consumer: Any, most: int, timeout: float) -> list[Any]:
    """At most ``most`` of the consumer's messages (records, partition ends, errors): waits
    up to ``timeout`` seconds for the first, then takes those already fetched without
    waiting (``Consumer.consume`` alone would wait the whole ``timeout`` for ``most``)."""
    first = consumer.poll(timeout)
    if first is None:
        return []
    if most <= 1:
        return [first]
    return [first, *consumer.consume(num_messages=most - 1, timeout=0)]


def partitions_of(consumer: Any, topic: str, timeout: float = 15.0) -> list[int]:
    """The partition numbers of ``topic``, ascending; ``[]`` when it does not exist."""
    meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
    if meta is None or meta.error is not None:
        return []
    return sorted(meta.partitions)


class Admin:
    """confluent-kafka's ``AdminClient`` with the operations the project uses, each
    waiting for the broker's answer (at most ``timeout`` seconds; errors raise
    ``confluent_kafka.KafkaException``)."""

    def __init__(self, settings: Settings, bootstrap: str, *, timeout: float = 15.0,
                 **overrides: Any) -> None:
        from confluent_kafka.admin import AdminClient

        self.client: Any = AdminClient(rdkafka_client_config(
            settings, bootstrap, **{"client.id": "motcua-admin", **overrides}), logger=log)
        self.timeout = timeout

    def topic_names(self) -> set[str]:
        """Every topic of the cluster."""
        return set(self.client.list_topics(timeout=self.timeout).topics)

    def describe(self, names: Iterable[str]) -> dict[str, list[list[int]] | None]:
        """Topic → the replicas (broker ids) of each of its partitions, in partition order;
        ``None`` for a topic the broker does not know."""
        topics = self.client.list_topics(timeout=self.timeout).topics
        out: dict[str, list[list[int]] | None] = {}
        for name in names:
            meta = topics.get(name)
            out[name] = (None if meta is None or meta.error is not None else
                         [list(meta.partitions[p].replicas) for p in sorted(meta.partitions)])
        return out

    def create_topic(self, name: str, partitions: int, replication_factor: int,
                     configs: Mapping[str, str] | None = None) -> bool:
        """Create one topic; False when it exists already."""
        import confluent_kafka
        from confluent_kafka.admin import NewTopic

        topic = NewTopic(name, partitions, replication_factor, config=dict(configs or {}))
        future = self.client.create_topics([topic], request_timeout=self.timeout)[name]
        try:
            future.result(timeout=self.timeout)
        except confluent_kafka.KafkaException as exc:
            if exc.args[0].code() == confluent_kafka.KafkaError.TOPIC_ALREADY_EXISTS:
                return False
            raise
        return True

    def delete_topics(self, names: Iterable[str]) -> None:
        for future in self.client.delete_topics(list(names),
                                                request_timeout=self.timeout).values():
            future.result(timeout=self.timeout)

    def topic_configs(self, names: Iterable[str]) -> dict[str, dict[str, str]]:
        """Topic → its configs (name → value) as the broker describes them."""
        from confluent_kafka.admin import ConfigResource, ResourceType

        resources = [ConfigResource(ResourceType.TOPIC, name) for name in names]
        if not resources:
            return {}
        answers = self.client.describe_configs(resources, request_timeout=self.timeout)
        return {resource.name: {k: entry.value for k, entry in
                                future.result(timeout=self.timeout).items()}
                for resource, future in answers.items()}

    def close(self) -> None:
        """Drop the client (librdkafka's threads end with it)."""
        self.client = None


def admin(settings: Settings, bootstrap: str, **overrides: Any) -> Admin:
    """An :class:`Admin` for ``bootstrap`` (``overrides``: librdkafka settings)."""
    return Admin(settings, bootstrap, **overrides)


def committed_offsets(admin_client: Admin, group: str) -> dict[Partition, int]:
    """Partition → committed offset of ``group`` (absent: nothing committed)."""
    from confluent_kafka import ConsumerGroupTopicPartitions

    futures = admin_client.client.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group)], request_timeout=admin_client.timeout)
    answer = futures[group].result(timeout=admin_client.timeout)
    return {Partition(tp.topic, tp.partition): tp.offset
            for tp in answer.topic_partitions or () if tp.error is None and tp.offset >= 0}


def end_offsets(consumer: Any, topic: str, timeout: float = 15.0) -> dict[Partition, int]:
    """Partition → end offset (next offset to be written) of ``topic``.

    ``consumer`` must be a :func:`reader` (it is re-assigned here, and unassigned after).
    The listed end offsets are confirmed by the high watermark of a fetch at the last
    listed record (a broker may list them short: docs/decisions/runtime-end-offsets.md):
    a partition counts as confirmed once that fetch delivered a record at or past it, or
    its end. If that cannot be done within ``timeout``, :class:`TimeoutError` is raised,
    never a short answer."""
    import confluent_kafka

    ends: dict[Partition, int] = {}
    for p in partitions_of(consumer, topic, timeout):
        ends[Partition(topic, p)] = consumer.get_watermark_offsets(
            confluent_kafka.TopicPartition(topic, p), timeout=timeout, cached=False)[1]
    probe = {tp: end for tp, end in ends.items() if end > 0}
    if not probe:
        return ends
    consumer.assign([confluent_kafka.TopicPartition(t, p, end - 1)
                     for (t, p), end in probe.items()])
    pending = set(probe)
    deadline = time.monotonic() + timeout
    try:
        while pending and time.monotonic() < deadline:
            for m in take(consumer, 1_000, 0.2):
                tp = Partition(m.topic(), m.partition())
                error = m.error()
                if tp not in pending or (
                        error is not None
                        and error.code() != confluent_kafka.KafkaError._PARTITION_EOF):
                    continue
                high = consumer.get_watermark_offsets(
                    confluent_kafka.TopicPartition(*tp), cached=True)[1]
                ends[tp] = max(ends[tp], high, m.offset() if error is not None else 0)
                pending.discard(tp)
    finally:
        consumer.unassign()
    if pending:
        raise TimeoutError(
            f"end offsets of {sorted(tp.partition for tp in pending)} in {topic!r} not "
            f"confirmed by a fetch within {timeout:.0f}s (the listed ones can be short)")
    return ends


def read_range(consumer: Any, topic: str, begin: Mapping[int, int], ends: Mapping[int, int],
               *, batch: int = 10_000) -> Iterator[list[Any]]:
    """Read the partitions ``ends`` names, each from ``begin[p]`` (0 when it does not
    name it) until its position reaches ``ends[p]``. Yields the records of each
    :func:`take` of at most ``batch`` (confluent-kafka ``Message``\\ s, none with an
    error), an empty list when none came within half a second: the caller decides how long
    to wait. ``consumer`` must be a :func:`reader`; it is unassigned after."""
    import confluent_kafka

    position = {p: begin.get(p, 0) for p in ends}
    todo = {p for p, end in ends.items() if position[p] < end}
    if not todo:
        return
    consumer.assign([confluent_kafka.TopicPartition(
        topic, p, position[p] or confluent_kafka.OFFSET_BEGINNING) for p in sorted(todo)])
    eof = confluent_kafka.KafkaError._PARTITION_EOF
    try:
        while todo:
            records = []
            for m in take(consumer, batch, 0.5):
                error = m.error()
                p = m.partition()
                if error is None:
                    records.append(m)
                    position[p] = max(position[p], m.offset() + 1)
                elif error.code() == eof:
                    position[p] = max(position[p], m.offset())
                else:
                    log.warning("reading %s[%d]: %s (librdkafka retries)", topic, p, error)
                    continue
                if p in todo and position[p] >= ends[p]:
                    todo.discard(p)
            yield records
    finally:
        consumer.unassign()


def read_topic(
    settings: Settings, bootstrap: str, topic: str, *, timeout: float = 30.0
) -> list[Record]:
    """Every record of ``topic`` from offset 0 to the end offsets at call time, in
    partition then offset order. Raises ``LookupError`` if the topic does not exist,
    ``TimeoutError`` if it cannot be read in time."""
    consumer = reader(settings, bootstrap)
    try:
        if not partitions_of(consumer, topic):
            raise LookupError(f"topic {topic!r} does not exist")
        end = {tp.partition: n for tp, n in end_offsets(consumer, topic).items()}
        records: list[Record] = []
        deadline = time.monotonic() + timeout
        for batch in read_range(consumer, topic, {}, end):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic!r} to its end offsets {end}")
            records.extend(Record.of(m) for m in batch)
        records.sort(key=lambda r: (r.partition, r.offset))
        return records
    finally:
        consumer.close()


def group_lag(
    settings: Settings, bootstrap: str, group: str, topics: Iterable[str],
    *, consumer: Any = None, admin_client: Admin | None = None,
) -> dict[str, int]:
    """topic → (end offsets − committed offsets) of ``group``; a partition without a
    committed offset counts from 0. ``consumer`` (a :func:`reader`) and ``admin_client``
    are made (and closed) here when not given."""
    own_consumer = consumer is None
    own_admin = admin_client is None
    consumer = consumer or reader(settings, bootstrap, "motcua-lag")
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


__all__ = ["Admin", "Partition", "Record", "admin", "committed_offsets", "end_offsets",
           "group_lag", "partitions_of", "producer", "read_range", "read_topic", "reader", "take"]
