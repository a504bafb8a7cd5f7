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

from consumers import store, tables
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
    # no SQL store yet (dlq list reads the broker): test_list_and_show_from_the_store makes one
    settings = topic_settings(data_dir=tmp_path,
                              database_url=f"sqlite:///{tmp_path / 'sink.db'}")
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


def test_list_and_show_from_the_store(dlq_settings: Settings) -> None:
    """Once the sink stored the letters, dlq list reads the SQL store, with the same ids as
    on the broker; every line shows the refused record's key and headers; dlq show prints
    one letter whole."""
    from consumers.rows import build_batch
    from consumers.writer import write_batch
    from kpi.units import CalendarBook

    settings, bootstrap = dlq_settings, str(dlq_settings.kafka_bootstrap)
    broker_lines = _cli(settings, "dlq", "list").splitlines()
    assert "from the DLQ topic" in broker_lines[0]
    engine = store.make_engine(settings.database_url.get_secret_value())
    try:
        store.upgrade(engine)
        records = read_topic(settings, bootstrap, settings.topics.dlq)
        write_batch(engine, build_batch(records, settings), group_id="g", horizon=2e9,
                    calendar_for=CalendarBook())
    finally:
        engine.dispose()
    listed = _cli(settings, "dlq", "list").splitlines()
    assert listed[0].startswith("from the SQL store ") and listed[-1] == "3 dead letters"
    rows = [line.split("\t") for line in listed[1:-1]]
    by_broker = [line.split("\t") for line in broker_lines[1:-1]]
    assert [r[0] for r in rows] == [r[0] for r in by_broker]  # the same ids
    events = settings.topics.events
    fixed = next(r for r in rows if r[0] == f"{events}:0:7")
    assert fixed[4] == "HS-FIX-1"  # the refused record's key
    assert "ce_source=urn:vendor:a" in fixed[5] and "ce_id=fix-1" in fixed[5]
    assert fixed[6] == "type: field required"
    file_line = next(r for r in rows if r[2] == "in.jsonl:3")
    assert file_line[0].startswith(settings.topics.dlq + ":") and file_line[4:6] == ["-", "-"]

    shown = _cli(settings, "dlq", "show", f"{events}:0:7").splitlines()
    assert shown[1] == f"id: {events}:0:7"  # after "from the SQL store …"
    assert "reason: type: field required" in shown and "key: HS-FIX-1" in shown
    key, headers, value = kafka_binary(FIXED)
    assert f"headers: {len(headers)}" in shown
    assert "  ce_source: urn:vendor:a" in shown
    assert shown[-1] == value.decode()
    broker_shown = _cli(settings, "dlq", "show", f"{events}:0:7", "--from", "broker")

    def same(lines: list[str]) -> list[str]:  # the time each side wrote it differs
        return [line for line in lines[1:] if not line.startswith("written: ")]

    assert same(broker_shown.splitlines()) == same(shown)
    missing = CliRunner().invoke(app, ["dlq", "show", "nope:0:1"], env=settings.as_env())
    assert missing.exit_code == 1 and "no dead letter nope:0:1" in missing.output


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
                sa.select(tables.dlq_records.c.topic, tables.dlq_records.c.offset)))
        assert left == [("motcua.events.dlq", 3), ("motcua.events.v1", 5),
                        ("motcua.events.v1", 6), ("motcua.events.v1", 9)]
    finally:
        engine.dispose()


def test_dlq_finds_a_running_demos_broker(dlq_settings: Settings) -> None:
    """Without MOTCUA_KAFKA_BOOTSTRAP, dlq reads the broker a running demo wrote to
    <data dir>/broker.addr; with no demo running it says how to name one."""
    from motcua.demostore import published_broker

    env = {k: v for k, v in dlq_settings.as_env().items() if k != "MOTCUA_KAFKA_BOOTSTRAP"}
    env["MOTCUA_KAFKA_BOOTSTRAP"] = ""
    lost = CliRunner().invoke(app, ["dlq", "list", "--from", "broker"], env=env)
    assert lost.exit_code == 2 and "broker.addr" in lost.output, lost.output
    with published_broker(dlq_settings, str(dlq_settings.kafka_bootstrap)):
        found = CliRunner().invoke(app, ["dlq", "list", "--from", "broker"], env=env)
    assert found.exit_code == 0, found.output
    assert "3 dead letters" in found.output
