"""The SQL writer without a broker: rows and ledger of several flushes (SQLite, PostgreSQL),
without and with a :class:`~consumers.factcache.FactCache` (evicting, or holding all).

:func:`consumers.writer.write_batch` reads a dossier's stored events *before* inserting the
batch's and takes the batch's facts from :func:`consumers.rows.build_batch` (the msgspec
path of :func:`kpi.decode.decode`) instead of decoding them again. Two independent checks:

* every ``raw_events`` row is what the pydantic models make of its payload (type, time,
  subject, unit), so the fast path changed no column;
* every ledger row equals :func:`kpi.ledger.judge` of *all* the dossier's stored payloads
  at the same horizon (the definition: a pure function of the stored events), with the
  stream cut into flushes that split dossiers, events before their ``received``,
  replayed records, a reused (source, id) with a different payload in a later flush
  (the first copy is kept, in the table and in the ledger) and one reused under another
  dossier code (on PostgreSQL the straight ``COPY`` of its flush fails and the flush's
  rows are upserted instead: every distinct valid event is still stored once), and a stale
  ledger row of a dossier whose events were not stored yet (its straight ``COPY`` into
  ``dossiers`` fails, and the flush's ledger rows are upserted).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import pytest
from sqlalchemy import select

from consumers import store, tables
from consumers.factcache import FactCache
from consumers.rows import build_batch
from consumers.snapshots import snapshot_row
from consumers.writer import write_batch
from kpi.ledger import judge
from kpi.units import CalendarBook
from runtime.settings import load_settings
from schemas.errors import InvalidEvent
from schemas.validate import parse_event
from tests.eventkit import event_dict, received_dict
from tests.integration.test_sink import _lines
from tests.pgschema import pg_schema

pytestmark = pytest.mark.integration

SETTINGS = load_settings()
HORIZON = 1.77e9  # 2026-02-01 UTC, after every simulated event
CAL = CalendarBook()


class Record(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'writer.db'}"
        return
    with pg_schema(prefix="writer") as url:
        yield url


def _reused(code: str, id_: str) -> tuple[bytes, bytes, bytes]:
    """A received event of ``code``, then a resolved and a rejected one sharing one
    (source, id)."""
    return (
        orjson.dumps(received_dict("2025-03-03T08:00:00+07:00", subject=code)),
        orjson.dumps(event_dict("dossier.resolved", "2025-03-04T08:00:00+07:00",
                                subject=code, id_=id_, result_electronic=True)),
        orjson.dumps(event_dict("dossier.rejected", "2025-03-04T09:00:00+07:00",
                                subject=code, id_=id_)),
    )


def _stream() -> list[bytes]:
    """A shuffled simulated stream (duplicates, invalid lines) plus two dossiers whose event
    id is reused with another payload: HX in a later flush, HY in the same flush (the
    first copy stays in both)."""
    lines = _lines(scale=0.02, seed=41)
    x_received, x_resolved, x_rejected = _reused("HX", "dup-1")
    middle = len(lines) // 2
    # and an id of HX's reused under another dossier code in a later flush: on PostgreSQL
    # the straight COPY of that flush fails and its rows are upserted instead
    z_rejected = orjson.dumps(event_dict("dossier.rejected", "2025-03-05T09:00:00+07:00",
                                         subject="HZ", id_="dup-1"))
    return [x_received, x_resolved, *_reused("HY", "dup-2"), *lines[:middle], x_rejected,
            *lines[middle:-5], z_rejected, *lines[-5:]]


def _stale_row(code: str) -> dict[str, Any]:
    """A ledger row of ``code`` (as an older sink could have left): on PostgreSQL the first
    flush believes HX has none, its straight ``COPY`` into ``dossiers`` fails and the rows
    are upserted instead."""
    entry = judge(code, [_reused(code, "stale")[0]], HORIZON, CAL)
    assert entry is not None
    return store.ledger_row(entry._replace(classification="withdrawn", rule_set_version="old"),
                            datetime.now(UTC))


def _write(url: str, lines: list[bytes], flush: int, cache: FactCache | None) -> None:
    engine = store.make_engine(url)
    try:
        store.upgrade(engine)
        with engine.begin() as conn:  # a stale ledger row of HX, whose events are not stored
            store.upsert_dossiers(conn, [_stale_row("HX")])
        records = [Record(SETTINGS.topics.events, 0, i, None, line)
                   for i, line in enumerate(lines)]
        # every flush, then the second half of the stream again (a replay)
        for i in [*range(0, len(records), flush), len(records) // 2]:
            batch = build_batch(records[i : i + flush], SETTINGS)
            write_batch(engine, batch, group_id="g", horizon=HORIZON, calendar_for=CAL,
                        cache=cache)
    finally:
        engine.dispose()


def _keys(lines: list[bytes]) -> set[tuple[str, str]]:
    """(source, id) of the valid events among ``lines``."""
    keys = set()
    for line in lines:
        try:
            event = parse_event(line)
        except InvalidEvent:
            continue
        keys.add((event.source, event.id))
    return keys


def _stored(url: str) -> tuple[list[Any], dict[str, dict[str, Any]]]:
    engine = store.make_engine(url)
    try:
        with engine.connect() as conn:
            events = list(conn.execute(select(tables.raw_events)))
            ledger = {r.code: dict(r._mapping) for r in conn.execute(select(tables.dossiers))}
    finally:
        engine.dispose()
    return events, ledger


@pytest.mark.parametrize("capacity", [None, 50, 100_000])
def test_rows_and_ledger_equal_the_definitions(db_url: str, capacity: int | None) -> None:
    """Without a fact cache, with one that evicts all the time, and with one that holds
    every event (on PostgreSQL most stored payloads are then never read back)."""
    lines = _stream()
    cache = None if capacity is None else FactCache(capacity)
    _write(db_url, lines, flush=300, cache=cache)
    if cache is not None and db_url.startswith("postgresql"):
        assert len(cache) == min(capacity or 0, len({k for k in _keys(lines)}))
    events, ledger = _stored(db_url)

    by_code: dict[str, list[bytes]] = {}
    for row in events:
        event = parse_event(row.payload)
        assert (row.source, row.id, row.subject, row.type) == (
            event.source, event.id, event.subject, event.type)
        stored_time = row.time if row.time.tzinfo else row.time.replace(tzinfo=UTC)
        assert stored_time == event.time
        assert row.unit == (event.data.unit_code  # type: ignore[union-attr]
                            if event.type.endswith(".dossier.received") else None)
        by_code.setdefault(row.subject, []).append(row.payload.encode())
    # every distinct valid (source, id) once, whatever flush or path stored it
    assert len(events) == len({(r.source, r.id) for r in events})
    assert {(r.source, r.id) for r in events} == _keys(lines)

    # the reused ids: HX (a later flush) and HY (the same flush) keep their first copy
    # (resolved), stored and judged
    reused = {r.subject: r.type for r in events if r.id.startswith("dup-")}
    assert reused == {"HX": "vn.gov.motcua.dossier.resolved",
                      "HY": "vn.gov.motcua.dossier.resolved"}
    assert ledger["HX"]["completed_at"] is not None and ledger["HX"]["ended_at"] is None
    assert ledger["HY"]["completed_at"] is not None and ledger["HY"]["ended_at"] is None
    assert "HZ" not in by_code  # its only event's (source, id) was HX's

    expected = {}
    for code, payloads in by_code.items():
        entry = judge(code, payloads, HORIZON, CAL)
        if entry is not None:
            expected[code] = store.ledger_row(entry, updated_at=None)  # type: ignore[arg-type]
    assert len(expected) > 100
    assert set(ledger) == set(expected)
    for code, row in ledger.items():
        want = expected[code]
        got = {k: (v.replace(tzinfo=UTC) if hasattr(v, "tzinfo") and v is not None
                   and v.tzinfo is None else v) for k, v in row.items()}
        assert {**got, "updated_at": None} == want, code


def test_bulk_paths_round_trip_every_column(db_url: str) -> None:
    """Snapshots and dead letters in numbers that take the ``COPY`` staging path on
    PostgreSQL (binary format): read back, every column is what was written; an older
    snapshot does not replace a newer one."""
    from consumers.pgcopy import COPY_MIN_ROWS
    from kpi.counters import Counters
    from kpi.report import build_report

    n = COPY_MIN_ROWS + 36
    reports = [build_report(f"U{i:03d}", "2025-07", Counters.from_mapping(
        {"received": i + 3, "resolved": i + 1, "resolved_early": 1}), HORIZON,
        level="commune", unit_name=f"Xã {i}") for i in range(n)]
    snapshots = [snapshot_row(r) for r in reports]
    letters = [{"topic": "t", "partition": i % 3, "offset": 10**10 + i, "reason": f"r{i}",
                "raw": bytes([i % 256]) * 3, "subject": None if i % 2 else f"H{i}",
                "source_file": None, "line": i, "recorded_at": datetime.now(UTC),
                "key": None if i % 3 else b"k\x00", "headers": None} for i in range(n)]
    engine = store.make_engine(db_url)
    try:
        store.upgrade(engine)
        older = [{**row, "as_of": row["as_of"].replace(year=2020), "received": 0}
                 for row in snapshots]
        for rows in (snapshots, older):
            with engine.begin() as conn:
                store.upsert_snapshots(conn, rows)
                store.insert_dlq_records(conn, letters)
        with engine.connect() as conn:
            got_snapshots = [dict(r._mapping) for r in conn.execute(
                select(tables.kpi_snapshots).order_by(tables.kpi_snapshots.c.unit))]
            got_letters = [dict(r._mapping) for r in conn.execute(
                select(tables.dlq_records).order_by(tables.dlq_records.c.offset))]
    finally:
        engine.dispose()

    def aware(row: dict[str, Any]) -> dict[str, Any]:
        return {k: v.replace(tzinfo=UTC) if isinstance(v, datetime) and v.tzinfo is None
                else v for k, v in row.items()}

    assert [aware(r) for r in got_snapshots] == snapshots
    assert [aware(r) for r in got_letters] == letters


def test_a_duplicate_keeps_the_original_offset(db_url: str) -> None:
    """Hand-worked: one event at offset 3, the same event again at offset 7 in the same
    flush, and at offset 12 in a later flush. The stored row points at offset 3."""
    event = orjson.dumps(received_dict("2025-03-03T08:00:00+07:00", subject="HD",
                                       id_="dup-offset"))
    other = orjson.dumps(received_dict("2025-03-03T09:00:00+07:00", subject="HE"))
    topic = SETTINGS.topics.events
    engine = store.make_engine(db_url)
    try:
        store.upgrade(engine)
        for records in ([Record(topic, 0, 3, None, event), Record(topic, 0, 5, None, other),
                         Record(topic, 0, 7, None, event)],
                        [Record(topic, 1, 12, None, event)]):
            write_batch(engine, build_batch(records, SETTINGS), group_id="g",
                        horizon=HORIZON, calendar_for=CAL)
        with engine.connect() as conn:
            rows = list(conn.execute(select(tables.raw_events).where(
                tables.raw_events.c.id == "dup-offset")))
    finally:
        engine.dispose()
    assert [(r.partition, r.offset) for r in rows] == [(0, 3)]
