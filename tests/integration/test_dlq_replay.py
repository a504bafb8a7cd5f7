"""``motcua dlq list`` / ``motcua dlq replay`` against the embedded broker, and the migration
that leaves one ``dlq_records`` row per dead letter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from consumers import store
from motcua.cli import app
from runtime.dlq import DeadLetter
from runtime.kafka import producer, read_topic
from runtime.settings import Settings
from runtime.topics import declared_topics, ensure_topics
from tests.eventkit import event_dict, json_line, kafka_binary
from tests.pgschema import pg_schema

pytestmark = pytest.mark.integration

FIXED = event_dict("dossier.rejected", "2025-06-01T08:00:00+07:00", "HS-FIX-1",
                   source="urn:vendor:a", id_="fix-1")
"""An event an older pipeline dead-lettered in binary mode (``type: field required``)."""
BROKEN = event_dict("dossier.resolved", "2025-06-01T08:00:00+07:00", "HS-BAD-1",
                    source="urn:vendor:b", id_="bad-1", result_electronic="maybe")


def _cli(settings: Settings, *args: str) -> str:
    env = {k: v for k, v in settings.as_env().items()}
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def dlq_settings(topic_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    settings = topic_settings(data_dir=tmp_path)
    bootstrap = str(settings.kafka_bootstrap)
    ensure_topics(bootstrap, declared_topics(settings), settings)
    prod = producer(settings, bootstrap)
    try:
        letters = []
        for doc, reason, offset in ((FIXED, "type: field required", 7),
                                    (BROKEN, "data.result_electronic: bad", 8)):
            key, headers, value = kafka_binary(doc)
            letters.append(DeadLetter(reason, value, topic=settings.topics.events, partition=0,
                                      offset=offset, record_key=key,
                                      record_headers=tuple(headers)))
        letters.append(DeadLetter("not JSON: x", b"{oops", source_file="in.jsonl", line=3))
        for letter in letters:
            prod.send(settings.topics.dlq, letter.encode(), key=letter.key,
                      headers=letter.headers()).get(timeout=10)
    finally:
        prod.close()
    return settings


def test_list_filters_and_replay_is_exact_and_idempotent(dlq_settings: Settings) -> None:
    settings, bootstrap = dlq_settings, str(dlq_settings.kafka_bootstrap)
    listed = _cli(settings, "dlq", "list")
    assert "3 dead letters" in listed and "urn:vendor:a" in listed and "in.jsonl:3" in listed
    assert "1 dead letters" in _cli(settings, "dlq", "list", "--reason", "field required")
    only_b = _cli(settings, "dlq", "list", "--source", "urn:vendor:b")
    assert "1 dead letters" in only_b and "HS-BAD-1" in only_b
    assert "0 dead letters" in _cli(settings, "dlq", "list", "--since", "2099-01-01")
    today = datetime.now(UTC).date().isoformat()
    assert "3 dead letters" in _cli(settings, "dlq", "list", "--since", today)

    dry = _cli(settings, "dlq", "replay", "--dry-run")
    assert "re-published 1, already replayed 0, still invalid 2" in dry
    assert not read_topic(settings, bootstrap, settings.topics.events)  # nothing sent

    first = _cli(settings, "dlq", "replay")
    assert "re-published 1, already replayed 0, still invalid 2" in first
    events = read_topic(settings, bootstrap, settings.topics.events)
    assert len(events) == 1
    key, headers, value = kafka_binary(FIXED)
    assert (events[0].key, list(events[0].headers), events[0].value) == (key, headers, value)
    record = (settings.data_dir / "dlq-replayed.jsonl").read_bytes().splitlines()
    assert len(record) == 1 and orjson.loads(record[0])["to"][0] == settings.topics.events

    second = _cli(settings, "dlq", "replay")
    assert "re-published 0, already replayed 1, still invalid 2" in second
    assert len(read_topic(settings, bootstrap, settings.topics.events)) == 1


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sink.db'}"
        return
    with pg_schema(prefix="dlqmig") as url:
        yield url


def test_migration_keeps_one_row_per_dead_letter(db_url: str) -> None:
    engine = store.make_engine(db_url)
    now = datetime.now(UTC)
    table = sa.table("dlq_records", *(sa.column(c) for c in (
        "topic", "partition", "offset", "reason", "raw", "subject", "source_file", "line",
        "recorded_at")))

    def row(topic: str, offset: int, reason: str, raw: bytes, **kw: object) -> dict:
        return {"topic": topic, "partition": 0, "offset": offset, "reason": reason,
                "raw": raw, "subject": None, "source_file": None, "line": None,
                "recorded_at": now, **kw}

    line = json_line({"not": "an event"})
    rows = [  # as older sinks stored them: the worker's letters twice, file letters once
        row("motcua.events.v1", 5, "no value", b""),
        row("motcua.events.v1", 9, "no value", b""),
        row("motcua.events.v1", 6, "type: field required", b"{}"),
        row("motcua.events.dlq", 0, "no value", b""),
        row("motcua.events.dlq", 1, "type: field required", b"{}"),
        row("motcua.events.dlq", 2, "no value", b""),
        row("motcua.events.dlq", 3, "specversion: field required", line,
            source_file="in.jsonl", line=4),
    ]
    try:
        store.upgrade(engine, "0001_initial")
        with engine.begin() as conn:
            conn.execute(table.insert(), rows)
        store.upgrade(engine)
        with engine.connect() as conn:
            left = sorted((r.topic, r.offset) for r in conn.execute(
                sa.select(store.dlq_records.c.topic, store.dlq_records.c.offset)))
        assert left == [("motcua.events.dlq", 3), ("motcua.events.v1", 5),
                        ("motcua.events.v1", 6), ("motcua.events.v1", 9)]
    finally:
        engine.dispose()
