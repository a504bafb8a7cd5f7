"""Client compatibility of the embedded broker (Tansu, what tests and the demo run on): the
three Python Kafka clients one-stop software is likely to use — kafka-python, aiokafka and
confluent-kafka (librdkafka, the wheel) — each produce records (key, headers, value) and
each read all of them back in a consumer group of its own, committing its offsets.

What does not work is asserted too, so that this file and docs/operations.md's "Kafka clients" text
go stale together: aiokafka's idempotent producer cannot start (InitProducerId answered
``UnknownError``); kafka-python's and librdkafka's idempotent producers can.

The consumers use a 6 s session timeout (as :data:`runtime.rdkafka.GROUP_TIMINGS`): Tansu
answers a group's first join after about half the session timeout, so librdkafka's default
(45 s) makes a new group wait ~23 s before its first record (aiokafka's 10 s: ~5 s).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from runtime.kafka import admin as admin_for
from runtime.kafka import committed_offsets
from runtime.settings import Settings
from runtime.waiting import wait_for

pytestmark = pytest.mark.integration

Record = tuple[bytes, bytes, tuple[tuple[str, bytes], ...]]
"""(key, value, headers) as a client reads them back."""

CLIENTS = ("kafka-python", "aiokafka", "confluent-kafka")
PER_CLIENT = 3
TIMEOUT = 60.0
SESSION_MS = 6000


def _records(client: str) -> list[Record]:
    """What ``client`` produces: binary-mode CloudEvents headers, a key, a JSON value."""
    return [(f"HS-{client}-{n}".encode(), b'{"n": %d}' % n,
             (("ce_specversion", b"1.0"), ("ce_id", f"{client}-{n}".encode()),
              ("content-type", b"application/json")))
            for n in range(PER_CLIENT)]


# -- producers ---------------------------------------------------------------------------

def _produce_kafka_python(bootstrap: str, topic: str, records: list[Record],
                          idempotent: bool) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all",
                             enable_idempotence=idempotent)
    try:
        for key, value, headers in records:
            producer.send(topic, value=value, key=key, headers=list(headers)).get(TIMEOUT)
    finally:
        producer.close()


def _produce_aiokafka(bootstrap: str, topic: str, records: list[Record],
                      idempotent: bool) -> None:
    from aiokafka import AIOKafkaProducer

    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                    enable_idempotence=idempotent, request_timeout_ms=10_000)
        try:
            await asyncio.wait_for(producer.start(), TIMEOUT)
            for key, value, headers in records:
                await producer.send_and_wait(topic, value, key=key, headers=list(headers))
        finally:
            await producer.stop()

    asyncio.run(run())


def _produce_confluent(bootstrap: str, topic: str, records: list[Record],
                       idempotent: bool) -> None:
    import confluent_kafka

    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                         "enable.idempotence": idempotent})
    failures: list[object] = []
    for key, value, headers in records:
        producer.produce(topic, value=value, key=key, headers=list(headers),
                         on_delivery=lambda err, _msg: failures.append(err) if err else None)
    assert producer.flush(TIMEOUT) == 0 and not failures, failures


PRODUCE: dict[str, Callable[[str, str, list[Record], bool], None]] = {
    "kafka-python": _produce_kafka_python,
    "aiokafka": _produce_aiokafka,
    "confluent-kafka": _produce_confluent,
}


# -- consumers (a group each, offsets committed) -----------------------------------------

def _consume_kafka_python(bootstrap: str, topic: str, group: str, want: int) -> list[Record]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             session_timeout_ms=SESSION_MS, heartbeat_interval_ms=1000)
    got: list[Record] = []
    try:
        deadline = time.monotonic() + TIMEOUT
        while len(got) < want and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                got += [(m.key, m.value, tuple(m.headers)) for m in batch]
        consumer.commit()
    finally:
        consumer.close()
    return got


def _consume_aiokafka(bootstrap: str, topic: str, group: str, want: int) -> list[Record]:
    from aiokafka import AIOKafkaConsumer

    async def run() -> list[Record]:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    session_timeout_ms=SESSION_MS, heartbeat_interval_ms=1000)
        got: list[Record] = []
        await consumer.start()
        try:
            deadline = time.monotonic() + TIMEOUT
            while len(got) < want and time.monotonic() < deadline:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    got += [(m.key, m.value, tuple(m.headers)) for m in batch]
            await consumer.commit()
        finally:
            await consumer.stop()
        return got

    return asyncio.run(run())


def _consume_confluent(bootstrap: str, topic: str, group: str, want: int) -> list[Record]:
    import confluent_kafka

    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                                         "auto.offset.reset": "earliest",
                                         "enable.auto.commit": False,
                                         "session.timeout.ms": SESSION_MS,
                                         "heartbeat.interval.ms": 1000})
    got: list[Record] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + TIMEOUT
        while len(got) < want and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            got.append((message.key(), message.value(), tuple(message.headers() or ())))
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return got


CONSUME: dict[str, Callable[[str, str, str, int], list[Record]]] = {
    "kafka-python": _consume_kafka_python,
    "aiokafka": _consume_aiokafka,
    "confluent-kafka": _consume_confluent,
}


def test_each_client_produces_and_consumes(topic_settings: Callable[..., Settings]) -> None:
    settings = topic_settings()
    bootstrap = str(settings.kafka_bootstrap)
    topic = settings.topics.events
    admin = admin_for(settings, bootstrap)
    try:
        assert admin.create_topic(topic, 3, 1)
        sent: list[Record] = []
        for client in CLIENTS:  # plain producers
            PRODUCE[client](bootstrap, topic, _records(client), False)
            sent += _records(client)
        for client in CLIENTS:
            group = f"compat-{client}-{uuid.uuid4().hex[:6]}"
            got = CONSUME[client](bootstrap, topic, group, len(sent))
            assert sorted(got) == sorted(sent), client  # keys, values, headers intact
            committed = wait_for(lambda g=group: committed_offsets(admin, g), timeout=10,
                                 what=f"{client}'s committed offsets")
            assert sum(committed.values()) == len(sent), (client, committed)
    finally:
        admin.close()


def test_idempotent_producers(topic_settings: Callable[..., Settings]) -> None:
    settings = topic_settings()
    bootstrap = str(settings.kafka_bootstrap)
    topic = settings.topics.events
    admin = admin_for(settings, bootstrap)
    try:
        assert admin.create_topic(topic, 1, 1)
    finally:
        admin.close()
    _produce_kafka_python(bootstrap, topic, _records("kafka-python"), True)
    _produce_confluent(bootstrap, topic, _records("confluent-kafka"), True)
    # aiokafka 0.14: "Unexpected error during InitProducerIdRequest: UnknownError" — if
    # this starts to pass, update docs/operations.md "Kafka clients" and
    # docs/decisions/http-ingest-producer.md
    from aiokafka.errors import KafkaError

    with pytest.raises(KafkaError, match="UnknownError"):
        _produce_aiokafka(bootstrap, topic, _records("aiokafka"), True)
    got = _consume_kafka_python(bootstrap, topic, f"idem-{uuid.uuid4().hex[:6]}",
                                2 * PER_CLIENT)
    assert sorted(got) == sorted(_records("kafka-python") + _records("confluent-kafka"))


def test_one_subject_one_partition_whichever_client_sends(
        topic_settings: Callable[..., Settings]) -> None:
    """The HTTP ingest's librdkafka producer (runtime.rdkafka) hashes keys as kafka-python
    does (the Java client's murmur2): a dossier's events sent over HTTP and over Kafka land
    on one partition, so one worker holds the whole dossier (and its links)."""
    import confluent_kafka
    from kafka import KafkaProducer

    from runtime.rdkafka import rdkafka_config

    settings = topic_settings()
    bootstrap = str(settings.kafka_bootstrap)
    topic = f"test.partitioning.{uuid.uuid4().hex[:8]}"
    admin_client = admin_for(settings, bootstrap)
    assert admin_client.create_topic(topic, 6, 1)
    admin_client.close()
    keys = [f"H29.01-2511{i:02d}-{i * 7919:05d}".encode() for i in range(60)]
    java = KafkaProducer(bootstrap_servers=bootstrap)
    by_java = {k: java.send(topic, b"{}", key=k).get(timeout=30).partition for k in keys}
    java.close()
    rd = confluent_kafka.Producer(rdkafka_config(settings, bootstrap))
    by_rd: dict[bytes, int] = {}

    def delivered(err: Any, msg: Any) -> None:
        assert err is None, err
        by_rd[msg.key()] = msg.partition()

    for k in keys:
        rd.produce(topic, b"{}", key=k, on_delivery=delivered)
    assert rd.flush(30) == 0
    assert len(set(by_java.values())) > 1  # the keys do spread over partitions
    assert by_rd == by_java
