"""The SQL sink's Kafka consumer on librdkafka (confluent-kafka).

librdkafka fetches in its own threads, in C, not on the sink's CPU time nor under its
interpreter lock while the sink's writer thread stores the previous flush (measured on the
sink's ~50k records: ~0.7 s of Python CPU with kafka-python, the client used before, ~0.1 s
with this consumer; docs/decisions/sink-pipeline.md).

:class:`RdConsumer` offers the operations the sink's loop (:mod:`consumers.sink`) uses and
nothing else: ``subscribe`` with a :class:`Rebalance` listener (called on the polling
thread, inside :meth:`RdConsumer.poll`; ``seek_to_beginning`` inside
``on_partitions_assigned`` starts those partitions at their beginning), ``poll`` (a list of
:class:`Record`), ``pause`` / ``resume`` / ``paused`` / ``assignment`` (sets of
:class:`runtime.kafka.Partition`), :meth:`RdConsumer.commit_offsets` (synchronous; False
when the broker refused) and ``close`` (no commit). Offsets are committed only when the
sink says so (``enable.auto.commit`` off) and a partition without a committed offset starts
at its beginning; the group timings are :data:`runtime.rdkafka.GROUP_TIMINGS`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple, Protocol

import confluent_kafka

from runtime.kafka import Partition
from runtime.rdkafka import GROUP_TIMINGS, rdkafka_client_config
from runtime.settings import Settings

log = logging.getLogger(__name__)


class Record(NamedTuple):
    """The fields of a consumed record the sink reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] | None


class Rebalance(Protocol):
    """What the sink does when the group gives it partitions or takes them away."""

    def on_partitions_assigned(self, assigned: list[Partition]) -> None: ...

    def on_partitions_revoked(self, revoked: list[Partition]) -> None: ...


class RdConsumer:
    """A confluent-kafka ``Consumer`` in group ``group_id``, at most ``max_records``
    records per :meth:`poll`."""

    def __init__(self, settings: Settings, bootstrap: str, *, group_id: str, client_id: str,
                 max_records: int) -> None:
        config = rdkafka_client_config(settings, bootstrap, **{
            "group.id": group_id,
            "client.id": client_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            **GROUP_TIMINGS,
            "queued.max.messages.kbytes": 16_384,  # prefetched records: 16 MB at most
        })
        # librdkafka's own log lines (connection failures, …) go to this module's logger
        self._consumer = confluent_kafka.Consumer(config, logger=log)
        self.max_records = max_records
        self._assigned: set[Partition] = set()
        self._paused: set[Partition] = set()
        self._rewind: set[Partition] | None = None

    # ------------------------------------------------------------------ group

    def subscribe(self, topics: list[str], listener: Rebalance) -> None:
        def on_assign(consumer: Any, partitions: list[Any]) -> None:
            tps = [Partition(p.topic, p.partition) for p in partitions]
            self._assigned = set(tps)
            self._paused.clear()
            self._rewind = rewind = set[Partition]()
            try:
                listener.on_partitions_assigned(tps)
            finally:
                self._rewind = None
            if rewind:
                for p in partitions:
                    if Partition(p.topic, p.partition) in rewind:
                        p.offset = confluent_kafka.OFFSET_BEGINNING
            consumer.assign(partitions)

        def on_revoke(consumer: Any, partitions: list[Any]) -> None:
            listener.on_partitions_revoked(
                [Partition(p.topic, p.partition) for p in partitions])
            self._assigned.clear()
            self._paused.clear()  # (confluent-kafka unassigns after this callback)

        self._consumer.subscribe(topics, on_assign=on_assign, on_revoke=on_revoke)

    def seek_to_beginning(self, *partitions: Partition) -> None:
        """Start ``partitions`` at their beginning; only inside the listener's
        ``on_partitions_assigned``."""
        if self._rewind is None:
            raise RuntimeError("seek_to_beginning outside on_partitions_assigned")
        self._rewind.update(partitions)

    def assignment(self) -> set[Partition]:
        return set(self._assigned)

    # ------------------------------------------------------------------ records

    def poll(self, timeout_ms: int) -> list[Record]:
        """The records fetched within ``timeout_ms`` (at most ``max_records``); rebalance
        callbacks run in here."""
        messages = self._consumer.consume(num_messages=self.max_records,
                                          timeout=max(timeout_ms, 0) / 1000)
        records = []
        for m in messages:
            error = m.error()
            if error is not None:
                if error.code() != confluent_kafka.KafkaError._PARTITION_EOF:
                    log.warning("consumer error (librdkafka retries): %s", error)
                continue
            records.append(Record._make((m.topic(), m.partition(), m.offset(), m.key(),
                                         m.value(), m.headers())))
        return records

    def pause(self, *partitions: Partition) -> None:
        todo = [p for p in partitions if p not in self._paused]
        if todo:
            self._consumer.pause([confluent_kafka.TopicPartition(p.topic, p.partition)
                                  for p in todo])
            self._paused.update(todo)

    def resume(self, *partitions: Partition) -> None:
        todo = [p for p in partitions if p in self._paused]
        if todo:
            self._consumer.resume([confluent_kafka.TopicPartition(p.topic, p.partition)
                                   for p in todo])
            self._paused.difference_update(todo)

    def paused(self) -> set[Partition]:
        return set(self._paused)

    # ------------------------------------------------------------------ offsets

    def commit_offsets(self, offsets: Mapping[tuple[str, int], int]) -> bool:
        """Commit ``offsets`` ((topic, partition) → next offset) synchronously; False (and
        a warning) when the broker refused any of them."""
        try:
            result = self._consumer.commit(offsets=[
                confluent_kafka.TopicPartition(t, p, o) for (t, p), o in offsets.items()
            ], asynchronous=False)
        except confluent_kafka.KafkaException as exc:
            log.warning("offset commit failed after the database commit (%s); the records "
                        "will be replayed and change nothing", exc)
            return False
        failed = [p for p in _listed(result) if p.error is not None]
        if failed:
            log.warning("offset commit refused for %s after the database commit; the "
                        "records will be replayed and change nothing",
                        ", ".join(f"{p.topic}[{p.partition}]: {p.error}" for p in failed))
            return False
        return True

    def close(self) -> None:
        """Leave the group (nothing committed)."""
        self._consumer.close()


def _listed(result: Any) -> Iterable[Any]:
    return result if isinstance(result, list) else ()


__all__ = ["RdConsumer", "Record"]
