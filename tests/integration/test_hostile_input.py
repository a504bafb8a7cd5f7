"""Hostile input end to end (issue #8): a file mixing about 300 hostile lines with valid
events goes through ``motcua ingest`` on the real broker — every hostile line lands on the
DLQ with a one-line reason, every valid one on the events topic byte for byte — and the
same records, straight off the events topic (tombstones too), are written by the SQL sink
to PostgreSQL and SQLite in one transaction without a single error, and a stream worker fed
them directly (no ingest in between) dead-letters every hostile one and still gives the
batch report's numbers.

The lines are generated deterministically (a seeded ``random.Random`` and fixed lists);
each hostile line is invalid by construction, and its expected DLQ key (the dossier code
when the line is a JSON object with a valid one) is worked out by the generator, not read
back from the code under test."""

from __future__ import annotations

import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from consumers import store, tables
from consumers.rows import build_batch
from consumers.writer import write_batch
from kpi.batch import fold_lines
from kpi.reconcile import batch_reports, differences
from kpi.units import CalendarBook
from runtime.dlq import MAX_DLQ_RAW_BYTES, DeadLetter
from runtime.kafka import producer, read_topic
from runtime.settings import Settings, load_settings
from runtime.topics import declared_topics, ensure_topics
from runtime.waiting import wait_for
from schemas.errors import NotIdle
from schemas.validate import MAX_EVENT_BYTES
from streams.idle import read_snapshots
from streams.launcher import worker_process
from tests.eventkit import event_dict
from tests.integration import test_sink
from tests.integration.test_ingest import _app

pytestmark = pytest.mark.integration

SOURCE = "urn:motcua:dvc:hostile-test"


T0 = "2025-04-01T09:00:00+07:00"
RECEIVED: dict[str, Any] = {"unit_code": "DT.HOSTILE", "unit_level": "commune",
                            "procedure_code": "1.0001", "channel": "online",
                            "processing_days": 3}
"""The data of the ``dossier.received`` events below, before each line's changes."""


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


# --------------------------------------------------------------------------- valid lines

EDGE_CODES = ["x" * 255, "Hồ-sơ-Đồng-Tháp-001", "e\u0301\u0301-combining", "😀-emoji-🇻🇳",
              "ا-ب-arabic", "=1+1 formula-looking", "'; DROP TABLE dossiers; --"]


def valid_lines(rng: random.Random) -> tuple[list[bytes], set[str]]:
    """(lines, codes of the dossiers with a ``received``). Ordinary dossiers plus ones at
    the limits: 255-character and unusual (but printable) codes, 1,000 processing days,
    timestamps at the first and last accepted instants, 100-character unit codes."""
    lines: list[bytes] = []
    codes = [f"D-{i:04d}" for i in range(60)] + EDGE_CODES
    assert all(c.isprintable() for c in codes)
    for n, code in enumerate(codes):
        day = 1 + rng.randrange(28)
        t0 = f"2025-03-{day:02d}T08:{rng.randrange(60):02d}:00+07:00"
        extra: dict[str, Any] = {}
        if n % 7 == 0:
            extra = {"processing_days": None, "due_at": f"2025-04-{day:02d}T17:00:00+07:00"}
        if code.startswith("x"):
            extra = {"processing_days": 1000, "unit_code": "U" * 100,
                     "procedure_code": "P" * 100}
        data = {k: v for k, v in {**RECEIVED, **extra}.items() if v is not None}
        lines.append(dumps(event_dict("dossier.received", t0, code, SOURCE,
                                      f"{code[:200]}-r", **data)))
        if rng.random() < 0.7:
            lines.append(dumps(event_dict("dossier.resolved",
                                          f"2025-03-{day:02d}T15:00:00+07:00", code, SOURCE,
                                          f"{code[:200]}-ok", result_electronic=True)))
        if rng.random() < 0.3:
            lines.append(dumps(event_dict("feedback.rated", f"2025-04-{day:02d}T10:00:00Z",
                                          code, SOURCE, f"{code[:200]}-rate",
                                          rating="satisfied")))
    lines.append(dumps(event_dict("dossier.transferred", "2000-01-01T00:00:00+07:00", "D-0000",
                                  SOURCE, "at-first-instant", from_unit="A", to_unit="B")))
    lines.append(dumps(event_dict("feedback.rated", "2099-12-31T23:59:59.999999+07:00",
                                  "D-0001", SOURCE, "at-last-instant", rating="neutral")))
    lines.append(lines[0])  # a duplicate: published twice, deduplicated downstream
    return lines, set(codes)


# --------------------------------------------------------------------------- hostile lines


@dataclass(frozen=True)
class Hostile:
    line: bytes
    key: bytes | None
    """The DLQ key: the dossier code when the line is a JSON object (as orjson reads it)
    whose ``subject`` is a valid code, else None."""
    kind: str


def hostile_lines(rng: random.Random) -> list[Hostile]:
    out: list[Hostile] = []

    def add(line: bytes, key: str | None, kind: str) -> None:
        out.append(Hostile(line, key.encode() if key is not None else None, kind))

    # random bytes that start with a byte no JSON value starts with (never blank)
    starts = b"#%&)*;<>?@^`|~"
    for i in range(100):
        body = bytes(b for b in rng.randbytes(rng.randrange(0, 400)) if b not in b"\r\n")
        add(bytes([starts[i % len(starts)]]) + body, None, "random bytes")
    # JSON that is not an object
    for line in (b"[]", b"1", b'"H-1"', b"null", b"true", b'[{"subject": "H-1"}]', b"{}"):
        add(line, None, "not an event object")
    # valid events cut short (never a complete JSON value)
    for i in range(60):
        whole = dumps(event_dict("dossier.received", T0, f"H-cut-{i}", SOURCE, f"cut-{i}",
                                 **RECEIVED))
        add(whole[: rng.randrange(1, len(whole) - 1)], None, "truncated")
    # wrong type, for every envelope field and every field of received's data
    bad_values: list[Any] = [12345, [], {}, None, True, 2.5]
    for name in ("specversion", "id", "source", "type", "time", "subject", "data"):
        for j, bad in enumerate(bad_values):
            if name == "data" and bad == {}:
                continue  # an empty data object is still "missing fields": covered below
            code = f"H-type-{name}-{j}"
            obj = event_dict("dossier.received", T0, code, SOURCE, f"t-{name}-{j}", **RECEIVED)
            add(dumps({**obj, name: bad}), None if name == "subject" else code, "wrong type")
    for name in ("unit_code", "unit_level", "procedure_code", "channel", "online_level",
                 "full_online_eligible", "processing_days", "fee_required", "paper_result"):
        for j, bad in enumerate(["", [], {"a": 1}, 2.5, "true"]):
            if name in ("unit_code", "procedure_code") and bad == "true":
                continue  # a valid code
            code = f"H-data-{name}-{j}"
            add(dumps(event_dict("dossier.received", T0, code, SOURCE, f"d-{name}-{j}",
                                 **{**RECEIVED, name: bad})), code, "wrong type")
    # required fields missing
    for name in ("specversion", "id", "source", "type", "time", "subject", "data"):
        code = f"H-missing-{name}"
        obj = event_dict("dossier.received", T0, code, SOURCE, f"m-{name}", **RECEIVED)
        del obj[name]
        add(dumps(obj), None if name == "subject" else code, "missing field")
    add(dumps(event_dict("dossier.received", T0, "H-missing-due", SOURCE, "m-due",
                         **{**RECEIVED, "processing_days": None})), "H-missing-due",
        "missing field")
    # timestamps outside 2000–2099 or not RFC 3339 text
    for j, t in enumerate(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-23:59",
                           "1999-12-31T23:59:59.999999+07:00", "2100-01-01T00:00:00+07:00",
                           "1970-01-01T00:00:00Z", "1745888400", "2025-04-01",
                           "2025-04-01T09:00:00", "2025-02-29T09:00:00+07:00"]):
        code = f"H-time-{j}"
        add(dumps(event_dict("dossier.withdrawn", t, code, SOURCE, f"time-{j}")), code, "time")
        code = f"H-due-{j}"
        add(dumps(event_dict("dossier.received", T0, code, SOURCE, f"due-{j}",
                             **{**RECEIVED, "processing_days": None, "due_at": t})),
            code, "time")
    # identifiers that are not printable or too long
    for j, subject in enumerate(["", "a\x00b", "tab\there", "rtl\u200fmark", "\u202eevil",
                                 "zero\u200bwidth", "nb\u00a0sp", "\ufeffbom", "a\x85c1",
                                 "x" * 256, "line\u2028sep"]):
        add(dumps(event_dict("dossier.received", T0, subject, SOURCE, f"subj-{j}",
                             **RECEIVED)), None, "bad subject")
    for j, (name, value) in enumerate([("id", "i" * 256), ("source", "s" * 256),
                                       ("id", "nul\x00id"), ("source", "tab\tsource")]):
        code = f"H-ident-{j}"
        obj = event_dict("dossier.received", T0, code, SOURCE, "x", **RECEIVED)
        add(dumps({**obj, name: value}), code, "bad identifier")
    for j, (name, value) in enumerate([("unit_code", "U" * 101),
                                       ("procedure_code", "P" * 101),
                                       ("unit_code", "U\x00"), ("procedure_code", "P\u200f")]):
        code = f"H-unit-{j}"
        add(dumps(event_dict("dossier.received", T0, code, SOURCE, f"unit-{j}",
                             **{**RECEIVED, name: value})), code, "bad unit code")
    # lone surrogates escaped in JSON, invalid UTF-8: orjson refuses them too, so no key
    add(dumps(event_dict("dossier.received", T0, "H-sur-1", SOURCE, "sur-1", **RECEIVED))
        .replace(b'"H-sur-1"', b'"H\\ud800"'), None, "lone surrogate")
    add(dumps(event_dict("dossier.rejected", T0, "H-sur-2", SOURCE, "sur-2", reason="REASON"))
        .replace(b'"REASON"', b'"\\udc00 x"'), None, "lone surrogate")
    add(dumps(event_dict("dossier.rejected", T0, "H-utf-1", SOURCE, "utf-1", reason="REASON"))
        .replace(b'"REASON"', b'"\xff\xfe"'), None, "invalid UTF-8")
    add(dumps({**event_dict("dossier.received", T0, "H-utf-2", SOURCE, "utf-2", **RECEIVED),
               "extra": "X"})
        .replace(b'"X"', b'"\xed\xa0\x80"'), None, "invalid UTF-8")
    # deep nesting: past pydantic's 200 levels (orjson still reads 250), past orjson's 1024
    for depth, key in ((250, "H-deep-250"), (2000, None)):
        code = f"H-deep-{depth}"
        add(dumps({**event_dict("dossier.received", T0, code, SOURCE, f"deep-{depth}",
                                **RECEIVED), "extra": "X"})
            .replace(b'"X"', b"[" * depth + b"]" * depth), key, "deep nesting")
    # numbers out of range
    for j, days in enumerate(["1001", "-1", "2.0", '"2"', "1" + "0" * 30]):
        code = f"H-days-{j}"
        add(dumps(event_dict("dossier.received", T0, code, SOURCE, f"days-{j}",
                             **{**RECEIVED, "processing_days": 7777}))
            .replace(b"7777", days.encode()), code, "processing_days")
    add(dumps(event_dict("dossier.digitized", T0, "H-dig", SOURCE, "dig", components_total=2,
                         components_digitized=3)), "H-dig", "digitized > total")
    add(dumps(event_dict("payment.completed", T0, "H-amt", SOURCE, "amt", amount_vnd=7777,
                         method="cash"))
        .replace(b"7777", str(2**53).encode()), "H-amt", "amount")
    # unknown type and version, data null
    add(dumps(event_dict("dossier.teleported", T0, "H-type", SOURCE, "ty")), "H-type",
        "unknown type")
    add(dumps({**event_dict("dossier.withdrawn", T0, "H-ver", SOURCE, "ver"),
               "specversion": "2.0"}), "H-ver", "spec version")
    add(dumps({**event_dict("dossier.received", T0, "H-null", SOURCE, "null", **RECEIVED),
               "data": None}), "H-null", "null data")
    # too big: a valid event padded past the limit by one byte, and a 1 MB line
    base = dumps({**event_dict("dossier.received", T0, "H-big", SOURCE, "big", **RECEIVED),
                  "pad": ""})
    add(base.replace(b'"pad":""', b'"pad":"' + b"x" * (MAX_EVENT_BYTES + 1 - len(base)) + b'"'),
        "H-big", "oversize")
    add(b'{"subject":"H-huge","pad":"' + b"x" * 1_000_000, None, "oversize")  # unclosed
    return out


def mixed_file(path: Path, seed: int = 8) -> tuple[list[bytes], list[Hostile], dict[int, Any]]:
    """Writes the mixed file; returns (valid lines, hostile lines, line number → its line
    (bytes), its Hostile, or None for a blank line)."""
    rng = random.Random(seed)
    valid, _ = valid_lines(rng)
    hostile = hostile_lines(rng)
    items: list[Any] = [*valid, *hostile, None, None]  # None: a blank line
    rng.shuffle(items)
    numbered = {n: item for n, item in enumerate(items, start=1)}
    path.write_bytes(b"".join(
        (b"   " if item is None else item.line if isinstance(item, Hostile) else item)
        + (b"\r\n" if n % 5 == 0 else b"\n")
        for n, item in numbered.items()))
    return valid, hostile, numbered


# --------------------------------------------------------------------------- ingest


def test_ingest_sends_every_hostile_line_to_the_dlq(
    tmp_path: Path, kafka_bootstrap: str, topic_settings: Callable[..., Settings]
) -> None:
    settings = topic_settings(topic_partitions=3)
    path = tmp_path / "hostile.jsonl"
    valid, hostile, numbered = mixed_file(path)
    assert len(hostile) >= 300
    assert len(Counter(h.kind for h in hostile)) == 19

    env = {"MOTCUA_TOPICS__EVENTS": settings.topics.events,
           "MOTCUA_TOPICS__DLQ": settings.topics.dlq,
           "MOTCUA_TOPIC_PARTITIONS": str(settings.topic_partitions)}
    result = CliRunner().invoke(_app(), ["ingest", str(path), "--bootstrap", kafka_bootstrap],
                                env=env)
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert f"read {len(valid) + len(hostile)}, published {len(valid)}" in out, out
    assert f"rejected {len(hostile)} ({len(hostile)} on" in out, out
    assert "blank lines skipped 2" in out, out

    events = read_topic(settings, kafka_bootstrap, settings.topics.events)
    assert Counter(r.value for r in events) == Counter(valid)
    for r in events:
        assert r.key == orjson.loads(r.value)["subject"].encode()

    dlq = read_topic(settings, kafka_bootstrap, settings.topics.dlq)
    assert len(dlq) == len(hostile)
    hostile_at = {n: item for n, item in numbered.items() if isinstance(item, Hostile)}
    seen: set[int] = set()
    for record in dlq:
        letter = DeadLetter.decode(record.value)
        assert letter.source_file == "hostile.jsonl" and letter.line is not None
        expected = hostile_at[letter.line]
        seen.add(letter.line)
        kind = expected.kind
        assert letter.reason and "\n" not in letter.reason and len(letter.reason) <= 1000, kind
        assert dict(record.headers)["motcua.dlq.reason"] == letter.reason.encode()
        assert record.key == expected.key, (kind, expected.line[:120])
        if len(expected.line) > MAX_DLQ_RAW_BYTES:
            assert letter.raw == expected.line[:MAX_DLQ_RAW_BYTES]
            assert letter.raw_size == len(expected.line)
        else:
            assert letter.raw == expected.line and letter.raw_size is None
        if kind == "oversize":
            assert letter.reason == (f"event is {len(expected.line):,} bytes; "
                                     f"the limit is {MAX_EVENT_BYTES:,}")
        if kind in ("truncated", "lone surrogate", "invalid UTF-8"):
            assert letter.reason.startswith("not JSON: "), (kind, letter.reason)
        if kind == "time":
            assert letter.reason.startswith(("time: ", "data.due_at: ")), letter.reason
    assert seen == set(hostile_at)


# --------------------------------------------------------------------------- the sink


@dataclass
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


db_url = test_sink.db_url  # the same SQLite-file / PostgreSQL-schema fixture


def test_sink_writes_hostile_records_in_one_transaction(db_url: str) -> None:
    """Records as a careless producer could put them straight on the events topic (no
    ingest in between), plus tombstones: one batch, one commit, nothing raised — on
    PostgreSQL a code longer than its column or a NUL would have failed the transaction
    and stalled the sink on that batch for ever."""
    rng = random.Random(9)
    valid, received_codes = valid_lines(rng)
    hostile = hostile_lines(rng)
    settings = load_settings(topics={"events": "ev", "dlq": "dl", "contributions": "c",
                                     "kpi": "k"})
    values: list[bytes | None] = [*valid, *(h.line for h in hostile), None, None]
    records = [Rec("ev", 0, offset, None, value) for offset, value in enumerate(values)]
    engine = store.make_engine(db_url)
    try:
        store.upgrade(engine)
        batch = build_batch(records, settings)
        write_batch(engine, batch, group_id="g", horizon=1.8e9, calendar_for=CalendarBook())
        with engine.connect() as conn:
            def count(table: Any) -> int:
                return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

            distinct_valid = {(orjson.loads(v)["source"], orjson.loads(v)["id"]) for v in valid}
            assert count(tables.raw_events) == len(distinct_valid)
            assert count(tables.dlq_records) == len(hostile) + 2  # and the two tombstones
            assert count(tables.dossiers) == len(received_codes)
            codes = set(conn.execute(select(tables.dossiers.c.code)).scalars())
            assert codes == received_codes
            subjects = Counter(conn.execute(select(tables.dlq_records.c.subject)).scalars())
            assert subjects == Counter([h.key.decode() if h.key else None for h in hostile]
                                       + [None, None])
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- the worker

def test_worker_dead_letters_hostile_records_and_keeps_counting(
    tmp_path: Path, topic_settings: Callable[..., Settings],
) -> None:
    """Hostile records and tombstones produced straight onto the events topic (each with
    some key, as a careless producer would): the worker dead-letters every one with its
    topic/partition/offset and keeps running; its snapshots equal the batch report of the
    valid lines (:mod:`kpi.reconcile`). A tombstone or deeply nested JSON must not end the
    worker's batch with an exception: the restarted worker would meet the same record
    again."""
    settings = topic_settings(topic_partitions=2)
    bootstrap = str(settings.kafka_bootstrap)
    rng = random.Random(10)
    valid, _ = valid_lines(rng)
    hostile = [h.line for h in hostile_lines(rng) if len(h.line) < 500_000]
    hostile.append(b'{"subject":"H-300k","pad":"' + b"x" * 300_000 + b'"}')  # > 256 KiB
    tombstones = 3
    ensure_topics(bootstrap, declared_topics(settings), settings)
    log = tmp_path / "worker-0.log"
    with worker_process(settings, bootstrap, log, loglevel="info",
                        env={"MOTCUA_DATA_DIR": str(tmp_path)}, stop_timeout=15) as proc:
        prod = producer(settings, bootstrap, **{"linger.ms": 20})
        try:
            order: list[bytes | None] = [*valid, *hostile, *([None] * tombstones)]
            rng.shuffle(order)
            for value in order:
                key = (orjson.loads(value)["subject"].encode() if value in valid
                       else b"junk-key")
                prod.send(settings.topics.events, value, key=key)
            prod.flush()
        finally:
            prod.close()

        want = batch_reports(fold_lines(valid), time.time())
        letters: list[DeadLetter] = []
        diffs: list[str] = ["(never read)"]

        def caught_up() -> bool:
            nonlocal letters, diffs
            letters = [DeadLetter.decode(r.value)
                       for r in read_topic(settings, bootstrap, settings.topics.dlq)]
            diffs = differences(read_snapshots(settings, bootstrap), want)
            return len(letters) >= len(hostile) + tombstones and not diffs

        with contextlib.suppress(NotIdle):  # the assertions below say what is missing
            wait_for(caught_up, timeout=240, poll=1.0, process=proc,
                     what="the worker's dead letters and snapshots")
        assert proc.poll() is None, log.read_text("utf-8", "replace")
        assert not diffs, diffs[:3]
        assert len(letters) == len(hostile) + tombstones
        assert Counter(x.raw for x in letters) == Counter(
            [h[:MAX_DLQ_RAW_BYTES] for h in hostile] + [b""] * tombstones)
        for x in letters:
            assert x.reason and "\n" not in x.reason, x.reason
            assert x.topic == settings.topics.events and x.offset is not None
        assert [x.raw_size for x in letters if x.raw_size] == [len(hostile[-1])]
        assert proc.poll() is None
