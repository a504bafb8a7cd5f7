"""DLQ record encoding and the ingest rules, with a fake producer (no broker)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from runtime.dlq import DeadLetter, recover_subject
from runtime.ingest import Producer, ingest_file
from runtime.settings import load_settings
from runtime.topics import changelog_topic, declared_topics


def test_dead_letter_round_trip_and_wire_format() -> None:
    raw = b'{"subject": "D-9", "type": "x"}\xff'
    letter = DeadLetter("type: unknown", raw, source_file="a.jsonl", line=7)
    wire = orjson.loads(letter.encode())
    assert wire == {
        "reason": "type: unknown",
        "raw_b64": base64.b64encode(raw).decode(),
        "source_file": "a.jsonl",
        "line": 7,
    }
    assert DeadLetter.decode(letter.encode()) == letter
    assert letter.headers() == [
        ("motcua.dlq.reason", b"type: unknown"),
        ("motcua.dlq.source_file", b"a.jsonl"),
        ("motcua.dlq.line", b"7"),
    ]


def test_dead_letter_from_a_stream_keeps_its_origin() -> None:
    letter = DeadLetter("r", b"{}", topic="motcua.events.v1", partition=2, offset=41)
    assert orjson.loads(letter.encode()) == {
        "reason": "r", "raw_b64": "e30=", "topic": "motcua.events.v1", "partition": 2,
        "offset": 41,
    }
    assert DeadLetter.decode(letter.encode()) == letter


def test_subject_is_recovered_only_from_a_json_object_with_a_string_subject() -> None:
    assert recover_subject(b'{"subject": "H1", "time": 5}') == "H1"
    assert recover_subject(b'{"subject": ""}') is None
    assert recover_subject(b'{"subject": 12}') is None
    assert recover_subject(b'["subject"]') is None
    assert recover_subject(b'{"subject": "H1"') is None
    assert DeadLetter("r", b"nope").key is None
    assert DeadLetter("r", b'{"subject": "H\xc3\xa0"}').key == "Hà".encode()


def test_topics_are_declared_once_from_settings() -> None:
    settings = load_settings(topic_partitions=3, topics={"events": "e", "dlq": "d",
                                                         "contributions": "c", "kpi": "k"})
    specs = {s.name: s for s in declared_topics(settings)}
    changelogs = [changelog_topic(settings, t) for t in ("applied", "dossiers")]
    assert sorted(specs) == ["c", "d", "e", "e.links", "k", *changelogs]
    assert all(specs[c].compacted for c in changelogs)
    assert {s.partitions for s in specs.values()} == {3}
    assert specs["k"].compacted and specs["k"].configs()["cleanup.policy"] == "compact"
    assert specs["e"].configs() == {"cleanup.policy": "delete", "retention.ms": "-1",
                                    "min.insync.replicas": "1"}  # one broker's default
    assert specs["c"].key == "unit" and specs["k"].key == "unit|period"
    # the join records follow the events topic's name, count and hashing (kpi.links)
    assert specs["e.links"].key == "target subject" and not specs["e.links"].compacted


class FakeFuture:
    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.callbacks: list[Callable[..., Any]] = []
        self.errbacks: list[Callable[..., Any]] = []

    def add_callback(self, f: Callable[..., Any], *args: Any) -> FakeFuture:
        self.callbacks.append(f)
        return self

    def add_errback(self, f: Callable[..., Any], *args: Any) -> FakeFuture:
        self.errbacks.append(f)
        return self


class FakeProducer(Producer):
    """The ingest port (:class:`runtime.ingest.Producer`): records sends and acknowledges
    them only on flush (like the real one, roughly)."""

    def __init__(self, fail_topics: tuple[str, ...] = ()) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None, Any]] = []
        self.pending: list[FakeFuture] = []
        self.fail_topics = fail_topics

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None,
             headers: list[tuple[str, bytes]] | None = None) -> FakeFuture:
        self.sent.append((topic, key, value, headers))
        fut = FakeFuture(RuntimeError("boom") if topic in self.fail_topics else None)
        self.pending.append(fut)
        return fut

    def flush(self, timeout: float | None = None) -> None:
        for fut in self.pending:
            for f in fut.errbacks if fut.error else fut.callbacks:
                f(fut.error if fut.error else object())
        self.pending = []


GOOD = (b'{"specversion":"1.0","id":"1","source":"s","type":"vn.gov.motcua.dossier.withdrawn",'
        b'"time":"2025-04-01T08:00:00+07:00","subject":"D1"}')


def test_ingest_rules_with_a_fake_producer(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(GOOD + b"\r\n" + b"   \n" + b"{oops\n" + b"\n" + GOOD)  # no final newline
    settings = load_settings(topics={"events": "ev", "dlq": "dl"})
    prod = FakeProducer()
    summary = ingest_file(path, prod, settings)
    assert (summary.read, summary.valid, summary.rejected, summary.blank) == (3, 2, 1, 2)
    assert (summary.published, summary.dead_lettered, summary.failed) == (2, 1, 0)
    assert summary.ok
    assert [(t, k, v) for t, k, v, _ in prod.sent if t == "ev"] == [
        ("ev", b"D1", GOOD), ("ev", b"D1", GOOD)
    ]
    [(topic, key, value, headers)] = [s for s in prod.sent if s[0] == "dl"]
    letter = DeadLetter.decode(value)
    assert (key, letter.raw, letter.line, letter.source_file) == (None, b"{oops", 3, "in.jsonl")
    assert letter.reason.startswith("not JSON: ")
    assert ("motcua.dlq.line", b"3") in headers


def test_ingest_fails_only_when_nothing_was_published(tmp_path: Path) -> None:
    settings = load_settings(topics={"events": "ev", "dlq": "dl"})
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"[]\n")
    assert not ingest_file(bad, FakeProducer(), settings).ok
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"\n\n")
    s = ingest_file(empty, FakeProducer(), settings)
    assert (s.read, s.blank, s.ok) == (0, 2, True)
    lost = tmp_path / "lost.jsonl"
    lost.write_bytes(GOOD + b"\n")
    s = ingest_file(lost, FakeProducer(fail_topics=("ev",)), settings)
    assert (s.valid, s.published, s.failed, s.ok) == (1, 0, 1, False)
    assert s.errors == ["RuntimeError: boom"]


def test_progress_is_reported_in_steps_and_adds_up_to_the_file(tmp_path: Path) -> None:
    """3,000 lines of 1,000 bytes with their newlines (2.86 MiB): a report each time a MiB
    (1,048,576 bytes) is passed — after 1,049 lines, 1,049,000 bytes, twice — then the
    remaining 902,000 at the end."""
    head = GOOD[:-1] + b',"data":{"reason":"'
    line = head + b"x" * (999 - len(head) - 3) + b'"}}'
    assert len(line) == 999
    path = tmp_path / "big.jsonl"
    path.write_bytes((line + b"\n") * 3000)
    steps: list[int] = []
    summary = ingest_file(path, FakeProducer(), load_settings(topics={"events": "ev",
                                                                       "dlq": "dl"}),
                          on_progress=steps.append)
    assert summary.read == 3000
    assert steps == [1_049_000, 1_049_000, 3_000_000 - 2 * 1_049_000]
    assert sum(steps) == path.stat().st_size
