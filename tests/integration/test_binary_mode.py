"""CloudEvents binary mode on the events topic, with records the official SDK's Kafka binding
makes (produced through kafka-python): the live pipeline's snapshots equal the batch report
with binary and structured events mixed, the sink stores binary records as the structured
events they stand for, and a refused record's dead letter keeps it whole (key, headers,
value, origin) and is one row in ``dlq_records``."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from consumers import store, tables
from consumers.rows import build_batch
from consumers.writer import write_batch
from kpi.batch import fold_lines
from kpi.reconcile import batch_reports, differences
from kpi.units import CalendarBook
from runtime.broker import stop_process
from runtime.dlq import DeadLetter
from runtime.kafka import producer, read_topic
from runtime.settings import Settings
from runtime.topics import declared_topics, ensure_topics
from runtime.waiting import wait_for
from schemas.errors import InvalidEvent
from schemas.validate import parse_event
from streams.idle import read_snapshots
from streams.launcher import spawn_worker
from tests.eventkit import event_dict, kafka_binary, kafka_structured

from .streams_events import fallback_lines

pytestmark = pytest.mark.integration


def _doc(line: bytes) -> dict | None:
    try:
        parse_event(line)
    except InvalidEvent:
        return None
    return orjson.loads(line)


BAD_BINARY = [kafka_binary(event_dict("dossier.resolved", "2025-06-01T08:00:00+07:00",
                                      f"HS-BAD-{n}", result_electronic="maybe"),
                           key=f"HS-BAD-{n}".encode()) for n in range(3)]
"""Binary-mode records the pipeline refuses (``result_electronic`` is not a bool)."""


def publish_mixed(settings: Settings, lines: list[bytes]) -> int:
    """Every other valid line in binary mode, the rest structured (the SDK's records),
    invalid lines as they are, then :data:`BAD_BINARY`; returns how many went in binary
    mode."""
    bootstrap = str(settings.kafka_bootstrap)
    ensure_topics(bootstrap, declared_topics(settings), settings)
    prod = producer(settings, bootstrap, **{"linger.ms": 20})
    binary = 0
    try:
        for n, line in enumerate(lines):
            doc = _doc(line)
            if doc is None:
                prod.send(settings.topics.events, line)
                continue
            make = kafka_binary if n % 2 else kafka_structured
            binary += make is kafka_binary
            key, headers, value = make(doc)
            prod.send(settings.topics.events, value, key=key, headers=headers)
        for key, headers, value in BAD_BINARY:
            prod.send(settings.topics.events, value, key=key, headers=headers)
        prod.flush()
    finally:
        prod.close()
    return binary


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Callable[[Settings], subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(settings: Settings) -> subprocess.Popen[bytes]:
        procs.append(spawn_worker(settings, str(settings.kafka_bootstrap),
                                  tmp_path / "worker.log", env={"MOTCUA_DATA_DIR": str(tmp_path)}))
        return procs[-1]

    yield start
    for proc in procs:
        stop_process(proc, timeout=15)


def test_live_equals_batch_with_binary_and_structured_mixed(
    topic_settings: Callable[..., Settings], worker: Callable[[Settings], object],
    tmp_path: Path,
) -> None:
    settings = topic_settings()
    lines = fallback_lines(1500, seed=13)
    assert publish_mixed(settings, lines) > 500
    worker(settings)
    bootstrap = str(settings.kafka_bootstrap)
    diffs: list[str] = []

    def agree() -> bool:
        want = batch_reports(fold_lines(lines), time.time())
        diffs[:] = differences(read_snapshots(settings, bootstrap), want)
        return bool(want) and not diffs

    wait_for(agree, timeout=90, poll=0.5, what=f"snapshots equal to the batch ({diffs[:2]})")

    # the sink's rows: binary records become the structured events they stand for
    records = read_topic(settings, bootstrap, settings.topics.events)
    assert sum(1 for r in records if dict(r.headers).get("ce_specversion")) > 500
    batch = build_batch(records, settings)
    same = {"exclude": {"datacontenttype"}}  # the SDK's binary records state it; same event
    stored = {(row["source"], row["id"]): parse_event(row["payload"]).model_dump(**same)
              for row in batch.events}
    sent = {e.dedup_key: e.model_dump(**same)
            for e in (parse_event(line) for line in lines if _doc(line))}
    assert stored == sent
    invalid = sum(1 for line in lines if _doc(line) is None) + len(BAD_BINARY)
    assert len(batch.dead_letters) == invalid

    # the worker's dead letters keep the refused records whole
    def dead() -> list:
        return read_topic(settings, bootstrap, settings.topics.dlq)

    wait_for(lambda: len(dead()) >= invalid, timeout=30, what="every dead letter")
    dlq = dead()
    assert len(dlq) == invalid
    by_key = {r.key: (r, DeadLetter.decode(r.value)) for r in dlq if r.key}
    events_at = {(r.partition, r.offset): r for r in records}
    for key, headers, value in BAD_BINARY:
        record, letter = by_key[key]
        assert letter.record_key == key and letter.raw == value
        assert list(letter.record_headers) == headers
        assert "data.result_electronic" in letter.reason
        assert letter.topic == settings.topics.events
        origin = events_at[(letter.partition, letter.offset)]
        assert (origin.key, origin.value) == (key, value)
        assert dict(record.headers)["motcua.dlq.reason"] == letter.reason.encode()
        assert letter.subject == key.decode()

    # the sink, reading both topics: one dlq_records row per dead letter
    engine = store.make_engine(f"sqlite:///{tmp_path / 'sink.db'}")
    try:
        store.upgrade(engine)
        write_batch(engine, build_batch([*records, *dlq], settings), group_id="g",
                    horizon=time.time(), calendar_for=CalendarBook())
        with engine.connect() as conn:
            rows = conn.execute(tables.dlq_records.select()).all()
        assert len(rows) == invalid
        assert {r.key for r in rows if r.key} == {key for key, _, _ in BAD_BINARY}
        assert {r.topic for r in rows} == {settings.topics.events}
        stored_headers = [orjson.loads(r.headers) for r in rows if r.headers]
        assert len(stored_headers) == len(BAD_BINARY)
    finally:
        engine.dispose()
