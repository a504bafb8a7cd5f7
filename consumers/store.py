"""The SQL store of the pipeline (SQLAlchemy 2.x Core): the engine, the migrations,
idempotent writes to the tables of :mod:`consumers.tables`, and the stored events read
back (the KPI reports read back: :mod:`consumers.snapshots`).

Every write is an upsert (``INSERT … ON CONFLICT``) in the dialect's spelling (PostgreSQL
and SQLite), so replaying any part of the topics gives the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, Table, create_engine, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from consumers.pgcopy import COPY_MIN_ROWS, copy_new, copy_upsert
from consumers.tables import dlq_records, dossiers, kpi_snapshots, raw_events, sink_offsets
from kpi.ledger import LedgerEntry

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_MAX_PARAMS = 8000
"""Bound parameters per statement (SQLite allows 32766, PostgreSQL 65535)."""


# --------------------------------------------------------------------------- engine


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets a busy timeout and foreign-key pragmas, and
    ``pool_pre_ping`` lets a restarted PostgreSQL be reconnected to transparently."""
    if url.startswith("sqlite"):
        connect_args = kwargs.pop("connect_args", {})
        connect_args.setdefault("timeout", 5.0)
        engine = create_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """The Alembic configuration of ``migrations/`` (on ``connection``, or ``url``)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the Alembic migrations up to ``revision`` on ``engine`` (idempotent)."""
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (``None``: not migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


# --------------------------------------------------------------------------- instants


def utc(ts: float | None) -> datetime | None:
    """The column value of an instant in epoch seconds (an aware UTC datetime)."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def epoch(value: datetime | None) -> float | None:
    """Epoch seconds of a datetime column value (SQLite's naive values are UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


# --------------------------------------------------------------------------- upserts


def _insert(conn: Connection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(  # pragma: no cover - only the two dialects are supported
        f"dialect {conn.dialect.name!r} is not supported")


def dedupe(rows: Iterable[dict[str, Any]], key: Sequence[str], *, first: bool = False
           ) -> list[dict[str, Any]]:
    """One row per key (ON CONFLICT cannot touch a row twice): the last one wins, or with
    ``first`` the first one — the rule of rows that are never updated (``raw_events``: a
    duplicate read in the same flush as its original must not replace it, offset included,
    as it cannot in a later flush)."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        k = tuple(row[c] for c in key)
        if not first or k not in out:
            out[k] = row
    return list(out.values())


def _upsert(
    conn: Connection,
    table: Table,
    rows: Iterable[dict[str, Any]],
    *,
    update: bool,
    where_newer: str | None = None,
) -> None:
    key = [c.name for c in table.primary_key.columns]
    unique = dedupe(rows, key, first=not update)
    if not unique:
        return
    if conn.dialect.name == "postgresql" and len(unique) >= COPY_MIN_ROWS:
        # COPY into a staging table + one INSERT … SELECT: docs/decisions/sink-copy.md.
        copy_upsert(conn, table, unique, update=update, where_newer=where_newer)
        return
    # One statement executed with many parameter sets (SQLAlchemy "insertmanyvalues"):
    # docs/decisions/sink-one-statement-many-rows.md.
    stmt = _insert(conn, table)
    if update:
        cols = {c: stmt.excluded[c] for c in unique[0] if c not in key}
        where = None
        if where_newer is not None:
            where = stmt.excluded[where_newer] >= table.c[where_newer]
        stmt = stmt.on_conflict_do_update(index_elements=key, set_=cols, where=where)
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=key)
    conn.execute(stmt, unique)


def insert_raw_events(conn: Connection, rows: Iterable[dict[str, Any]]) -> None:
    """Distinct events; a (source, id) already stored is left as it is."""
    _upsert(conn, raw_events, rows, update=False)


def insert_new_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> bool:
    """Insert ``rows`` (one per (source, id)) if none of their keys is stored: True when
    every row was inserted, False (nothing inserted) when one was already stored or the
    dialect has no such path (SQLite) — then :func:`insert_raw_events` them. On PostgreSQL
    one ``COPY`` straight into the table, in a savepoint (:func:`pgcopy.copy_new`)."""
    if not rows:
        return True
    if conn.dialect.name != "postgresql":
        return False
    return copy_new(conn, raw_events, rows)


def upsert_dossiers(conn: Connection, rows: Iterable[dict[str, Any]]) -> None:
    _upsert(conn, dossiers, rows, update=True)


def write_dossiers(conn: Connection, rows: Sequence[dict[str, Any]],
                   fresh: Collection[str] = ()) -> None:
    """Ledger rows (one per code). On PostgreSQL those of the codes ``fresh`` (believed to
    have no row yet) are first ``COPY``ed straight into the table (:func:`pgcopy.copy_new`);
    if one had a row after all, they are upserted with the others."""
    if fresh and conn.dialect.name == "postgresql":
        new = [r for r in rows if r["code"] in fresh]
        if new and copy_new(conn, dossiers, new):
            rows = [r for r in rows if r["code"] not in fresh]
    upsert_dossiers(conn, rows)


def upsert_snapshots(conn: Connection, rows: Iterable[dict[str, Any]]) -> None:
    """KPI snapshots; an existing row of the same (unit, period, scope) is replaced only by
    one with an ``as_of`` ≥ its own."""
    best: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        k = (row["unit"], row["period"], row["scope"])
        if k not in best or row["as_of"] >= best[k]["as_of"]:
            best[k] = row
    _upsert(conn, kpi_snapshots, best.values(), update=True, where_newer="as_of")


def delete_snapshots(conn: Connection, keys: Iterable[tuple[str, str, str]]) -> None:
    """Tombstones on the compacted KPI topic remove the snapshot of (unit, period, scope)
    (:func:`kpi.report.parse_snapshot_key` of the record key)."""
    s = kpi_snapshots.c
    for unit, period, scope in keys:
        conn.execute(kpi_snapshots.delete().where(
            s.unit == unit, s.period == period, s.scope == scope))


def insert_dlq_records(conn: Connection, rows: Iterable[dict[str, Any]]) -> None:
    _upsert(conn, dlq_records, rows, update=False)


def upsert_offsets(conn: Connection, rows: Iterable[dict[str, Any]]) -> None:
    _upsert(conn, sink_offsets, rows, update=True)


def stored_offsets(conn: Connection, group_id: str) -> dict[tuple[str, int], int]:
    """(topic, partition) → the next offset ``sink_offsets`` holds for ``group_id``."""
    o = sink_offsets.c
    q = select(o.topic, o.partition, o.next_offset).where(o.group_id == group_id)
    return {(t, p): n for t, p, n in conn.execute(q)}


_EVENTS_OF_CODES = (
    "SELECT r.subject, r.source, r.id, r.payload "
    "FROM unnest(CAST(%s AS text[])) AS c(code) "
    "JOIN raw_events AS r ON r.subject = c.code")
_KEYS_OF_CODES = (
    "SELECT r.subject, r.source, r.id "
    "FROM unnest(CAST(%s AS text[])) AS c(code) "
    "JOIN raw_events AS r ON r.subject = c.code")
_PAYLOADS_OF_KEYS = (
    "SELECT r.source, r.id, r.payload "
    "FROM unnest(CAST(%s AS text[]), CAST(%s AS text[])) AS k(source, id) "
    "JOIN raw_events AS r ON r.source = k.source AND r.id = k.id")

StoredEvent = tuple[str, str, str | None]
"""``(source, id, payload)`` of a stored event; ``payload`` None: not read (known)."""


def load_events(conn: Connection, subjects: Iterable[str],
                known: Callable[[str, str], bool] | None = None
                ) -> dict[str, list[StoredEvent]]:
    """The stored events of each dossier code. ``known(source, id)``: True for events the
    caller already knows (their payload is not read on PostgreSQL: ``None``)."""
    out: dict[str, list[StoredEvent]] = {}
    subjects = list(subjects)
    if conn.dialect.name == "postgresql" and subjects:
        # One join with the array of codes: the planner looks each code up in the subject
        # index, where a prepared `IN ($1 … $500)` scanned the table once per chunk
        # (docs/decisions/sink-copy.md) — given statistics: without them it hashes the
        # whole table (consumers.statistics). On psycopg's own cursor, in the connection's
        # transaction: plain tuples. With ``known``: the keys first, then the payloads of
        # the unknown ones by primary key.
        dbapi = conn.connection.driver_connection
        assert dbapi is not None
        with dbapi.cursor() as cur:
            if known is None:
                cur.execute(_EVENTS_OF_CODES, (subjects,))
                for subject, source, event_id, payload in cur:
                    out.setdefault(subject, []).append((source, event_id, payload))
                return out
            cur.execute(_KEYS_OF_CODES, (subjects,))
            keys: list[tuple[str, str, str]] = cur.fetchall()
            missing = [(source, event_id) for _, source, event_id in keys
                       if not known(source, event_id)]
            payloads: dict[tuple[str, str], str] = {}
            if missing:
                cur.execute(_PAYLOADS_OF_KEYS, ([k[0] for k in missing],
                                                [k[1] for k in missing]))
                payloads = {(source, event_id): payload for source, event_id, payload in cur}
        for subject, source, event_id in keys:
            out.setdefault(subject, []).append(
                (source, event_id, payloads.get((source, event_id))))
        return out
    r = raw_events.c
    for i in range(0, len(subjects), 500):
        q = select(r.subject, r.source, r.id, r.payload).where(
            r.subject.in_(subjects[i : i + 500]))
        for subject, source, event_id, payload in conn.execute(q):
            out.setdefault(subject, []).append((source, event_id, payload))
    return out


def export_events(engine: Engine) -> tuple[list[bytes], dict[str, dict[str, list[int]]]]:
    """Every stored event payload in log order (topic, partition, offset), and the log range
    they cover: ``{topic: {partition: [first offset, last offset]}}`` — the evidence of
    which part of the event log a bundle was computed from."""
    payloads: list[bytes] = []
    ranges: dict[str, dict[str, list[int]]] = {}
    q = select(
        raw_events.c.topic, raw_events.c.partition, raw_events.c.offset, raw_events.c.payload
    ).order_by(raw_events.c.topic, raw_events.c.partition, raw_events.c.offset)
    with engine.connect() as conn:
        for topic, partition, offset, payload in conn.execute(q):
            payloads.append(payload.encode("utf-8"))
            span = ranges.setdefault(topic, {}).setdefault(str(partition), [offset, offset])
            span[0] = min(span[0], offset)
            span[1] = max(span[1], offset)
    return payloads, ranges


# --------------------------------------------------------------------------- rows


def ledger_row(entry: LedgerEntry, updated_at: datetime) -> dict[str, Any]:
    """The ``dossiers`` row of a ledger entry (instants as UTC datetimes)."""
    row = entry._asdict()
    for key in ("received_at", "due_at", "extended_due_at", "completed_at", "ended_at"):
        row[key] = utc(row[key])
    row["updated_at"] = updated_at
    return row


__all__ = [
    "dedupe",
    "epoch",
    "ledger_row",
    "make_engine",
    "stored_offsets",
    "upgrade",
    "utc",
    "write_dossiers",
]
