"""``motcua ingest``'s librdkafka producer (runtime.rdproducer) on the embedded broker:
the records, keys and headers sent, on the Java client's partitions (murmur2), every
acknowledgement counted, and a failed delivery reaching the errback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka.partitioner import murmur2

from runtime.broker import free_port
from runtime.ingest import ingest_file
from runtime.kafka import read_topic
from runtime.rdproducer import Delivery, DeliveryTimeout, FileProducer
from runtime.settings import Settings
from runtime.topics import ensure_topics, spec_for

EVENT = ('{"specversion":"1.0","id":"e%d","source":"urn:test","type":'
         '"vn.gov.motcua.dossier.received","time":"2025-03-0%dT08:00:00+07:00",'
         '"subject":"H29.01-250301-%05d","data":{"unit_code":"H29.01","unit_level":"commune",'
         '"procedure_code":"1.0001","channel":"online","processing_days":3,'
         '"fee_required":false}}')


def test_ingest_through_librdkafka(topic_settings: Callable[..., Settings],
                                   tmp_path: Path) -> None:
    settings = topic_settings(topic_partitions=6)
    bootstrap = str(settings.kafka_bootstrap)
    ensure_topics(bootstrap, [spec_for(settings, settings.topics.events),
                              spec_for(settings, settings.topics.dlq)], settings)
    lines = [EVENT % (i, 1 + i % 9, i) for i in range(3_000)]
    lines.insert(1_500, '{"specversion":"1.0","id":"broken"}')
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")

    prod = FileProducer(settings, bootstrap)
    try:
        summary = ingest_file(path, prod, settings)
    finally:
        prod.close()

    assert (summary.read, summary.valid, summary.rejected, summary.blank) == (3_001, 3_000, 1, 1)
    assert (summary.published, summary.dead_lettered, summary.failed) == (3_000, 1, 0)
    records = read_topic(settings, bootstrap, settings.topics.events)
    assert sorted(r.value for r in records) == sorted(x.encode() for x in lines
                                                      if "broken" not in x)
    for r in records:  # the key is the subject, on the Java client's partition
        assert r.key == r.value.split(b'"subject":"')[1].split(b'"')[0]
        assert r.partition == (murmur2(r.key) & 0x7FFFFFFF) % 6
    assert len({r.partition for r in records}) == 6
    dead = read_topic(settings, bootstrap, settings.topics.dlq)
    assert len(dead) == 1
    headers = dict(dead[0].headers)
    assert headers["motcua.dlq.line"] == b"1501"
    assert headers["motcua.dlq.source_file"] == b"events.jsonl"


def test_failed_delivery_reaches_the_errback(topic_settings: Callable[..., Settings]) -> None:
    settings = topic_settings()
    nobody = f"127.0.0.1:{free_port()}"  # nothing listens there
    prod = FileProducer(settings, nobody, **{"message.timeout.ms": 1_000})
    failures: list[BaseException] = []
    acks: list[Any] = []
    for i in range(3):
        prod.send("t", b"v%d" % i, b"k").add_callback(acks.append).add_errback(failures.append)
    prod.flush(20)
    assert acks == []
    assert len(failures) == 3
    assert all("timed out" in str(f).lower() for f in failures)


def test_flush_gives_up_naming_what_is_left(topic_settings: Callable[..., Settings]) -> None:
    settings = topic_settings()
    prod = FileProducer(settings, f"127.0.0.1:{free_port()}", **{"message.timeout.ms": 3_000})
    failures: list[BaseException] = []
    prod.send("t", b"v", b"k").add_errback(failures.append)
    with pytest.raises(DeliveryTimeout, match=r"1 record\(s\) still unacknowledged after 0.5 s"):
        prod.flush(0.5)
    assert failures == []
    prod.flush(20)  # then the record times out: settled, failed
    assert len(failures) == 1


def test_a_callback_added_after_settlement_runs_at_once() -> None:
    done: list[Any] = []
    delivery = Delivery()
    delivery.settle(None, "record")
    delivery.add_callback(done.append).add_errback(lambda e: done.append(("err", e)))
    assert done == ["record"]
