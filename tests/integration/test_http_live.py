"""The live pipeline with HTTP-ingested events mixed in (issue 13: "streaming still equals
the batch report with binary-mode and HTTP events mixed in"): one worker and the HTTP
ingest on the same broker, simulated dossier events sent interleaved through four channels —
structured single POSTs, binary-mode single POSTs (the CloudEvents SDK's HTTP binding),
batch POSTs with invalid events among them, and Kafka records (the SDK's Kafka binding,
structured and binary) — and the idle pipeline's snapshots equal the batch report of
every valid event."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from consumers.http_ingest.server import BackgroundServer, make_server
from consumers.http_ingest.tokens import add_token
from kpi.batch import fold_lines
from kpi.reconcile import batch_reports, differences
from kpi.simulate.config import DEFAULT_SOURCE
from runtime.broker import free_port
from runtime.kafka import producer, read_topic
from runtime.settings import Settings
from runtime.topics import declared_topics, ensure_topics
from schemas.cloudevents import BATCH
from schemas.errors import InvalidEvent
from schemas.validate import parse_event
from streams.idle import wait_until_idle
from streams.launcher import worker_process
from tests.eventkit import (
    event_dict,
    http_binary,
    http_structured,
    kafka_binary,
    kafka_structured,
    received_dict,
)

from .streams_events import event_lines

pytestmark = pytest.mark.integration

BATCH_SIZE = 40
CHANNELS = ("http structured", "http binary", "http batch", "http batch",
            "kafka structured", "kafka binary", "kafka structured", "kafka binary")
"""The channel of the n-th valid event: ``CHANNELS[n % len(CHANNELS)]``."""

BAD_ITEMS = [
    {**received_dict("2025-06-02T08:00:00+07:00", "HS-BAD-1", source=DEFAULT_SOURCE,
                     id_="bad-1"), "data": {"channel": "pigeon"}},
    event_dict("dossier.resolved", "2025-06-03T08:00:00+07:00", "HS-BAD-2",
               source=DEFAULT_SOURCE, id_="bad-2", result_electronic="maybe"),
]
"""Invalid batch items besides the simulator's invalid lines (an unknown channel, a
``result_electronic`` that is not a bool)."""


def _valid(line: bytes) -> dict[str, Any] | None:
    try:
        parse_event(line)
    except InvalidEvent:
        return None
    return orjson.loads(line)


def _json(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return None


class Sender:
    """Sends events through every channel: an HTTP client holding a token for
    :data:`DEFAULT_SOURCE`, and a Kafka producer; counts what each channel took."""

    def __init__(self, settings: Settings, url: str, token: str) -> None:
        self.settings = settings
        self.client = httpx.Client(base_url=url, timeout=30,
                                   headers={"Authorization": f"Bearer {token}"})
        self.producer = producer(settings, str(settings.kafka_bootstrap),
                                 **{"linger.ms": 20})
        self.sent: Counter[str] = Counter()
        self.http_accepted = 0
        self.rejected = 0
        self.kafka_invalid = 0
        self.batch: list[Any] = []
        self.batch_bad: list[int] = []

    def close(self) -> None:
        self.client.close()
        self.producer.close()

    def _accepted(self, response: httpx.Response, expected: int) -> dict[str, Any]:
        assert response.status_code == 202, response.text
        answer: dict[str, Any] = response.json()
        assert answer["accepted"] == expected, answer
        self.http_accepted += answer["accepted"]
        return answer

    def single(self, headers: dict[str, str], body: bytes) -> None:
        wire = {k.encode(): v.encode() for k, v in headers.items()}  # UTF-8, as the SDK makes them
        self._accepted(self.client.post("/v1/events", content=body, headers=wire), 1)

    def send(self, channel: str, doc: dict[str, Any]) -> None:
        self.sent[channel] += 1
        if channel == "http structured":
            self.single(*http_structured(doc))
        elif channel == "http binary":
            self.single(*http_binary(doc))
        elif channel == "http batch":
            self.batch.append(doc)
            if len(self.batch) >= BATCH_SIZE:
                self.flush_batch()
        else:
            make = kafka_binary if channel == "kafka binary" else kafka_structured
            key, headers, value = make(doc)
            self.producer.send(self.settings.topics.events, value, key=key, headers=headers)

    def add_invalid(self, line: bytes) -> None:
        """An invalid line: a batch item when it is JSON, else a raw Kafka record."""
        item = _json(line)
        if item is None:
            self.producer.send(self.settings.topics.events, line)
            self.kafka_invalid += 1
            return
        self.batch_bad.append(len(self.batch))
        self.batch.append(item)

    def flush_batch(self) -> None:
        if not self.batch:
            return
        body = orjson.dumps(self.batch)
        response = self.client.post("/v1/events", content=body,
                                    headers={"Content-Type": BATCH})
        answer = self._accepted(response, len(self.batch) - len(self.batch_bad))
        assert [r["index"] for r in answer["rejected"]] == self.batch_bad, answer
        for entry in answer["rejected"]:
            item = self.batch[entry["index"]]
            assert entry["reason"]
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                assert entry["id"] == item["id"]
        self.rejected += len(answer["rejected"])
        self.batch, self.batch_bad = [], []


@pytest.fixture
def settings(topic_settings: Any, tmp_path: Path) -> Settings:
    made: Settings = topic_settings(data_dir=tmp_path)
    ensure_topics(str(made.kafka_bootstrap), declared_topics(made), made)
    return made


@pytest.fixture
def sender(settings: Settings) -> Iterator[Sender]:
    token, _ = add_token(settings.tokens_file, [DEFAULT_SOURCE])
    server = BackgroundServer(make_server(settings, str(settings.kafka_bootstrap),
                                          port=free_port())).start()
    out = Sender(settings, server.url, token)
    try:
        yield out
    finally:
        out.close()
        server.stop()


def test_live_equals_batch_with_http_and_kafka_events_mixed(
        settings: Settings, sender: Sender, tmp_path: Path) -> None:
    bootstrap = str(settings.kafka_bootstrap)
    lines = event_lines(600, seed=13)
    valid = [doc for doc in map(_valid, lines) if doc is not None]
    invalid = [line for line in lines if _valid(line) is None]
    assert all(doc["source"] == DEFAULT_SOURCE for doc in valid)
    assert invalid and len(valid) > 500

    with worker_process(settings, bootstrap, tmp_path / "worker.log",
                        env={"MOTCUA_DATA_DIR": str(tmp_path)}):
        bad = iter([*invalid, *(orjson.dumps(item) for item in BAD_ITEMS)])
        for n, doc in enumerate(valid):
            sender.send(CHANNELS[n % len(CHANNELS)], doc)
            if n % 97 == 50:  # an invalid line now and then, most of them batch items
                line = next(bad, None)
                if line is not None:
                    sender.add_invalid(line)
        for line in bad:
            sender.add_invalid(line)
        sender.flush_batch()
        sender.producer.flush()

        kafka = sender.sent["kafka structured"] + sender.sent["kafka binary"]
        http = sender.http_accepted
        assert set(sender.sent) == set(CHANNELS) and min(sender.sent.values()) > 30
        assert http + kafka == len(valid)
        assert 0 < http < len(valid)
        assert sender.rejected >= len(BAD_ITEMS) + 1  # the simulator's and ours
        records = read_topic(settings, bootstrap, settings.topics.events)
        assert len(records) == len(valid) + sender.kafka_invalid

        live = wait_until_idle(settings, bootstrap, timeout=60)

    want = batch_reports(fold_lines([orjson.dumps(doc) for doc in valid]), time.time())
    assert want
    assert differences(live, want) == []
