"""``motcua ingest`` against a real broker: valid lines land on the events topic byte for
byte (key = subject), invalid ones on the DLQ with their reasons.

Decisions tested here (see runtime/ingest.py): blank lines are skipped and not counted as
rejected; duplicate lines are published twice, deduplication being the stream's job."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
import typer
from orjson import dumps
from typer.testing import CliRunner

from motcua.commands import ingest
from runtime.dlq import DeadLetter
from runtime.kafka import read_topic
from runtime.settings import Settings
from tests.eventkit import envelope

pytestmark = pytest.mark.integration


ENVELOPE = {"source": "urn:motcua:dvc:test", "time": "2025-04-01T09:00:00+07:00"}
"""Envelope attributes the lines below share (the rest by :func:`tests.eventkit.envelope`)."""

RECEIVED = {"unit_code": "U1", "unit_level": "commune", "procedure_code": "P1",
            "channel": "online", "processing_days": 3}

V1 = dumps(envelope("dossier.received", RECEIVED, id="1", subject="D1", **ENVELOPE))
V2 = dumps(envelope("dossier.received", {**RECEIVED, "channel": "direct"}, id="2",
                    subject="D2", **ENVELOPE))
V3 = dumps(envelope("dossier.resolved", {"result_electronic": True}, id="3", subject="D1",
                    **ENVELOPE))
V4 = dumps(envelope("payment.completed", {"amount_vnd": 20000, "method": "cash"}, id="4",
                    subject="D2", **ENVELOPE))
V5 = b'{"specversion":"1.0","id":"5","source":"s","type":"vn.gov.motcua.feedback.rated",' \
     b'"time":"2025-04-02T10:00:00Z","subject":"D\xc3\xa0","data":{"rating":"neutral"}}'

BAD_JSON = b'{"specversion": "1.0", "subject": "D9"'
BAD_TYPE = dumps(envelope("dossier.teleported", {}, id="6", subject="D3", **ENVELOPE))
BAD_TIME = dumps(envelope("dossier.withdrawn", None, id="7", subject="D1",
                          **{**ENVELOPE, "time": "2025-04-01T09:00:00"}))
BAD_AMOUNT = dumps(envelope("payment.completed", {"amount_vnd": -5, "method": "cash"}, id="8",
                            subject="D2", **ENVELOPE))
NO_SUBJECT = dumps({k: v for k, v in envelope("dossier.withdrawn", None, id="9", subject="X",
                                              **ENVELOPE).items() if k != "subject"})

# (line number, raw bytes, key, reason) — worked out from the file layout below
FILE = [
    V1,            # 1
    BAD_JSON,      # 2
    b"",           # 3 blank
    V2,            # 4
    V3,            # 5
    BAD_TYPE,      # 6
    V1,            # 7 duplicate of line 1
    b"   \t",      # 8 blank (whitespace)
    BAD_TIME,      # 9
    V4,            # 10
    NO_SUBJECT,    # 11
    BAD_AMOUNT,    # 12
    V5,            # 13 (written with a CRLF terminator)
]
EXPECTED_VALID = [(b"D1", V1), (b"D2", V2), (b"D1", V3), (b"D1", V1), (b"D2", V4),
                  ("Dà".encode(), V5)]
EXPECTED_DLQ = {
    2: (None, BAD_JSON, "not JSON: "),
    6: (b"D3", BAD_TYPE, "type: unknown event type 'vn.gov.motcua.dossier.teleported'"),
    9: (b"D1", BAD_TIME, "time: Input should have timezone info"),
    11: (None, NO_SUBJECT, "subject: field required"),
    12: (b"D2", BAD_AMOUNT, "data.amount_vnd: Input should be greater than or equal to 0"),
}


def _app() -> typer.Typer:
    app = typer.Typer()
    ingest.register(app)

    @app.callback()
    def _root() -> None:
        pass

    return app


def _run(path: Path, settings: Settings, bootstrap: str) -> object:
    env = {
        "MOTCUA_TOPICS__EVENTS": settings.topics.events,
        "MOTCUA_TOPICS__DLQ": settings.topics.dlq,
        "MOTCUA_TOPIC_PARTITIONS": str(settings.topic_partitions),
    }
    return CliRunner().invoke(_app(), ["ingest", str(path), "--bootstrap", bootstrap], env=env)


def test_ingest_splits_a_mixed_file(
    tmp_path: Path, kafka_bootstrap: str, topic_settings: Callable[..., Settings]
) -> None:
    settings = topic_settings(topic_partitions=3)
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(FILE[:-1]) + b"\n" + FILE[-1] + b"\r\n")

    result = _run(path, settings, kafka_bootstrap)

    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "read 11, published 6" in out
    assert "rejected 5 (5 on" in out
    assert "blank lines skipped 2" in out

    events = read_topic(settings, kafka_bootstrap, settings.topics.events)
    assert Counter((r.key, r.value) for r in events) == Counter(EXPECTED_VALID)
    for subject in (b"D1", b"D2"):  # one dossier's events keep their file order
        in_topic = [r.value for r in sorted(events, key=lambda r: r.offset) if r.key == subject]
        assert in_topic == [v for k, v in EXPECTED_VALID if k == subject]
    assert len({r.partition for r in events if r.key == b"D1"}) == 1

    dlq = read_topic(settings, kafka_bootstrap, settings.topics.dlq)
    assert len(dlq) == len(EXPECTED_DLQ)
    seen = {}
    for record in dlq:
        letter = DeadLetter.decode(record.value)
        assert letter.source_file == "mixed.jsonl"
        assert letter.line is not None
        seen[letter.line] = (record.key, letter.raw, letter.reason)
        wire = orjson.loads(record.value)
        assert base64.b64decode(wire["raw_b64"]) == letter.raw
        headers = dict(record.headers)
        assert headers["motcua.dlq.reason"] == letter.reason.encode()
        assert headers["motcua.dlq.line"] == str(letter.line).encode()
    assert sorted(seen) == sorted(EXPECTED_DLQ)
    for number, (key, raw, reason) in EXPECTED_DLQ.items():
        got_key, got_raw, got_reason = seen[number]
        assert (got_key, got_raw) == (key, raw), number
        assert got_reason.startswith(reason), (number, got_reason)


def test_ingest_exits_non_zero_when_nothing_is_valid(
    tmp_path: Path, kafka_bootstrap: str, topic_settings: Callable[..., Settings]
) -> None:
    settings = topic_settings()
    path = tmp_path / "bad.jsonl"
    path.write_bytes(BAD_JSON + b"\n\n" + BAD_TYPE + b"\n")
    result = _run(path, settings, kafka_bootstrap)
    assert result.exit_code == 1, result.output
    assert len(read_topic(settings, kafka_bootstrap, settings.topics.dlq)) == 2
    assert read_topic(settings, kafka_bootstrap, settings.topics.events) == []


def test_ingest_of_blank_file_succeeds_with_nothing_published(
    tmp_path: Path, kafka_bootstrap: str, topic_settings: Callable[..., Settings]
) -> None:
    settings = topic_settings()
    path = tmp_path / "blank.jsonl"
    path.write_bytes(b"\n \n")
    result = _run(path, settings, kafka_bootstrap)
    assert result.exit_code == 0, result.output
    assert "read 0, published 0" in " ".join(result.output.split())
