"""CloudEvents binary mode on the events topic, with records the official SDK's Kafka binding
makes (produced through kafka-python): the live pipeline's snapshots equal the batch report
with binary and structured events mixed, and the sink stores binary records as the
structured events they stand for."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from consumers.rows import build_batch
from kpi.batch import fold_lines
from kpi.reconcile import batch_reports, differences
from runtime.broker import stop_process
from runtime.kafka import producer, read_topic
from runtime.settings import Settings
from runtime.topics import declared_topics, ensure_topics
from runtime.waiting import wait_for
from schemas.errors import InvalidEvent
from schemas.validate import parse_event
from streams.idle import read_snapshots
from streams.launcher import spawn_worker
from tests.eventkit import kafka_binary, kafka_structured

from .streams_events import fallback_lines

pytestmark = pytest.mark.integration


def _doc(line: bytes) -> dict | None:
    try:
        parse_event(line)
    except InvalidEvent:
        return None
    return orjson.loads(line)


def publish_mixed(settings: Settings, lines: list[bytes]) -> int:
    """Every other valid line in binary mode, the rest structured (the SDK's records),
    invalid lines as they are; returns how many went in binary mode."""
    bootstrap = str(settings.kafka_bootstrap)
    ensure_topics(bootstrap, declared_topics(settings), settings)
    prod = producer(settings, bootstrap, linger_ms=20)
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
    invalid = sum(1 for line in lines if _doc(line) is None)
    assert len(batch.dead_letters) == invalid
