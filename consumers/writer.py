"""Where the sink puts its batches: the :class:`SinkWriter` port and its SQL adapter.

The port (quix-streams style): :meth:`SinkWriter.write` stages a batch, no I/O;
:meth:`SinkWriter.flush` makes every batch staged since the last successful flush durable,
all or nothing, and returns them merged. A flush that raises
:class:`schemas.errors.StoreError` made nothing durable and keeps the batches staged (the
next flush tries them again, with whatever was written meanwhile); only after a flush
returned may the caller commit the batch's offsets to Kafka (:func:`consumers.flush.deliver`).
Subclasses implement :meth:`SinkWriter.store`.

:class:`SqlWriter` stores one flush in **one** database transaction
(:func:`write_batch`):

1. valid events are inserted into ``raw_events`` (a duplicate (source, id) changes nothing);
2. each affected dossier is re-judged from *all* its stored events at the horizon "now"
   (:func:`kpi.ledger.judge_state`) and its ledger row upserted, so the ledger is a pure
   function of the stored events, whatever the arrival order. On PostgreSQL the events
   stored before the batch are read first (only the keys of those a :class:`FactCache`
   holds), the batch's events with other keys are inserted all at once if none of them is
   stored under another dossier (:func:`store.insert_new_events`), and the facts of those
   rows, decoded by :func:`consumers.rows.build_batch`, are added to the stored ones. If
   one of them was stored after all (a (source, id) reused for another dossier), or on
   SQLite, the rows are upserted (a duplicate keeps its first copy) and the dossiers' events
   read back after the insert instead;
3. KPI snapshots are upserted (the latest ``as_of`` wins; a tombstone deletes);
4. dead letters are inserted, keyed by their (topic, partition, offset);
5. the next offsets are recorded in ``sink_offsets``.

Every write is idempotent, so a replayed batch changes nothing. After a flush, at most every
``statistics_interval`` seconds, :class:`SqlWriter` analyzes the tables whose planner
statistics went stale (:mod:`consumers.statistics`), in a transaction of its own.
:func:`refresh_open_dossiers` re-judges the ledger rows that time alone can turn overdue.
"""

from __future__ import annotations

import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from consumers import store, tables
from consumers.factcache import FactCache
from consumers.rows import Batch, merged
from consumers.statistics import analyze_stale
from kpi.decode import decode
from kpi.dossier import DossierState, Fact, FactKey, add_fact, fact_key
from kpi.ledger import judge_state
from kpi.sla import IN_PROGRESS, OVERDUE, CalendarFor
from schemas.errors import StoreError

log = logging.getLogger(__name__)

RECEIVED = "received"
"""The fact kind of ``dossier.received`` (:data:`kpi.dossier.KIND_OF_TYPE`)."""

# --------------------------------------------------------------------------- the port


class SinkWriter(ABC):
    """Stages batches (:meth:`write`) and makes them durable together (:meth:`flush`)."""

    def __init__(self) -> None:
        self._staged: list[Batch] = []

    def write(self, batch: Batch) -> None:
        """Stage ``batch`` for the next flush (no I/O)."""
        self._staged.append(batch)

    def flush(self) -> Batch:
        """Store every staged batch, all or nothing, and return them merged (their
        offsets are then safe to commit). On :class:`StoreError` nothing was stored and
        the batches stay staged."""
        if not self._staged:
            return Batch()
        batch = self._staged[0] if len(self._staged) == 1 else merged(self._staged)
        self.store(batch)
        self._staged.clear()
        return batch

    def discard(self) -> None:
        """Forget the staged batches (their records will be read again: no commit)."""
        self._staged.clear()

    @property
    def staged_records(self) -> int:
        """How many Kafka records the staged batches come from."""
        return sum(b.read for b in self._staged)

    @abstractmethod
    def store(self, batch: Batch) -> None:
        """Make ``batch`` durable in one atomic step, or raise :class:`StoreError` having
        changed nothing."""


# --------------------------------------------------------------------------- SQL


def short_reason(exc: BaseException) -> str:
    """The first line of an exception, with its class name (for logs and StoreError)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


class SqlWriter(SinkWriter):
    """The SQL adapter: one flush is one :func:`write_batch` transaction, judged at the
    horizon ``clock()``, with a :class:`FactCache` of ``fact_cache`` entries. Database
    errors become :class:`StoreError`. After a stored flush, at most every
    ``statistics_interval`` seconds (None: never), the tables whose statistics went stale
    are analyzed (:func:`consumers.statistics.analyze_stale`); a failure there is logged,
    not raised: the flush is stored already."""

    def __init__(
        self, engine: Engine, *, group_id: str, clock: Callable[[], float],
        calendar_for: CalendarFor, fact_cache: int = 0,
        statistics_interval: float | None = 10.0,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.group_id = group_id
        self.clock = clock
        self.calendar_for = calendar_for
        self.cache = FactCache(fact_cache)
        self.statistics_interval = statistics_interval
        self._next_statistics = 0.0

    def store(self, batch: Batch) -> None:
        with _store_errors():
            write_batch(self.engine, batch, group_id=self.group_id, horizon=self.clock(),
                        calendar_for=self.calendar_for, cache=self.cache)
        self._keep_statistics()

    def _keep_statistics(self) -> None:
        if self.statistics_interval is None or time.monotonic() < self._next_statistics:
            return
        self._next_statistics = time.monotonic() + self.statistics_interval
        try:
            with self.engine.begin() as conn:
                analyzed = analyze_stale(conn, tables.metadata.tables)
        except (SQLAlchemyError, psycopg.Error) as exc:
            log.warning("planner statistics not refreshed (%s); next try in %.0f s",
                        short_reason(exc), self.statistics_interval)
            return
        if analyzed:
            log.info("planner statistics refreshed: %s", ", ".join(analyzed))

    def migrate(self) -> None:
        """Run the migrations up to the newest revision (idempotent)."""
        with _store_errors():
            store.upgrade(self.engine)

    def stored_offsets(self) -> dict[tuple[str, int], int]:
        """(topic, partition) → next offset ``sink_offsets`` holds for this group."""
        with _store_errors(), self.engine.connect() as conn:
            return store.stored_offsets(conn, self.group_id)

    def refresh_open_dossiers(self) -> tuple[int, int]:
        """:func:`refresh_open_dossiers` at the horizon ``clock()``."""
        with _store_errors():
            return refresh_open_dossiers(self.engine, self.clock(), self.calendar_for)


@contextlib.contextmanager
def _store_errors() -> Iterator[None]:
    """Turns a database error — SQLAlchemy's, or psycopg's from the statements run on the
    driver's own cursor (``COPY``, :mod:`consumers.pgcopy`) — into :class:`StoreError`
    (one line, the cause chained)."""
    try:
        yield
    except (SQLAlchemyError, psycopg.Error) as exc:
        raise StoreError(short_reason(exc)) from exc


def write_batch(
    engine: Engine, batch: Batch, *, group_id: str, horizon: float, calendar_for: CalendarFor,
    cache: FactCache | None = None,
) -> None:
    """Write one batch in one transaction (all or nothing); raises the database's errors
    (SQLAlchemy's, or psycopg's from the COPY paths). ``cache``: facts of stored events,
    consulted, and fed once the transaction committed."""
    learned: list[tuple[FactKey, Fact]] = []
    with engine.begin() as conn:
        facts, fresh = _store_events(conn, batch, cache, learned)
        if facts:
            store.write_dossiers(conn, judge_dossiers(facts, horizon, calendar_for), fresh)
        store.upsert_snapshots(conn, batch.snapshots)
        store.delete_snapshots(conn, batch.tombstones)
        store.insert_dlq_records(conn, batch.dead_letters)
        now = datetime.now(UTC)
        store.upsert_offsets(
            conn,
            [
                {"group_id": group_id, "topic": t, "partition": p, "next_offset": o,
                 "updated_at": now}
                for (t, p), o in batch.offsets.items()
            ],
        )
    if cache is not None:
        cache.add(learned)


def _store_events(
    conn: Connection, batch: Batch, cache: FactCache | None,
    learned: list[tuple[FactKey, Fact]],
) -> tuple[dict[str, dict[FactKey, Fact]], set[str]]:
    """Insert the batch's events; returns the facts of every stored event of the batch's
    dossiers (code → fact key → fact), as they stand in the transaction after the insert,
    and the codes whose ``received`` was not stored before the batch (they had no ledger
    row: a ledger row is written only with a stored ``received``). Facts of stored events
    the cache may learn are appended to ``learned``."""
    if not batch.subjects:
        store.insert_raw_events(conn, batch.events)
        return {}, set()
    if cache is None or conn.dialect.name != "postgresql":
        cache, learned = None, []  # (SQLite reads every payload: nothing to learn)
    known = cache.known if cache is not None else None
    if conn.dialect.name == "postgresql":
        before = store.load_events(conn, batch.subjects, known)
        stored = {(source, event_id) for events in before.values()
                  for source, event_id, _ in events}
        new = [row for row in store.dedupe(batch.events, ("source", "id"), first=True)
               if (row["source"], row["id"]) not in stored]
        if store.insert_new_events(conn, new):
            facts = {code: stored_facts(events, cache, learned)
                     for code, events in before.items()}
            fresh = {code for code in batch.subjects
                     if not any(f[0] == RECEIVED for f in facts.get(code, {}).values())}
            for row in new:
                key = fact_key(row["source"], row["id"])
                fact = batch.decoded[key]
                facts.setdefault(row["subject"], {})[key] = fact
                learned.append((key, fact))
            return facts, fresh
        store.insert_raw_events(conn, new)
    else:
        store.insert_raw_events(conn, batch.events)
    return {code: stored_facts(events, cache, learned) for code, events
            in store.load_events(conn, batch.subjects, known).items()}, set()


def stored_facts(events: Iterable[store.StoredEvent], cache: FactCache | None = None,
                 learned: list[tuple[FactKey, Fact]] | None = None) -> dict[FactKey, Fact]:
    """The facts of one dossier's stored events, as :func:`store.load_events` read them: a
    payload is decoded (and its fact appended to ``learned``), a missing one (``None``:
    known) is taken from ``cache``."""
    facts: dict[FactKey, Fact] = {}
    for source, event_id, payload in events:
        if payload is None:
            key = fact_key(source, event_id)
            fact = cache.get(key) if cache is not None else None
            if fact is None:  # load_events asked cache.known: it cannot happen
                raise RuntimeError(f"no payload and no fact for stored event {key!r}")
        else:
            _, key, fact = decode(payload.encode("utf-8"))
            if learned is not None:
                learned.append((key, fact))
        add_fact(facts, key, fact)
    return facts


def judge_dossiers(
    facts: Mapping[str, dict[FactKey, Fact]], horizon: float, calendar_for: CalendarFor
) -> list[dict[str, Any]]:
    """The ``dossiers`` rows of the dossiers ``facts`` holds (code → its facts) judged at
    ``horizon``; a dossier whose ``received`` is not among its facts has none."""
    now = datetime.now(UTC)
    rows = []
    for code, known in facts.items():
        entry = judge_state(DossierState(code, known), horizon, calendar_for)
        if entry is not None:
            rows.append(store.ledger_row(entry, now))
    return rows


def refresh_ledger(
    conn: Connection, subjects: Iterable[str], horizon: float, calendar_for: CalendarFor
) -> list[dict[str, Any]]:
    """Re-judge the dossiers ``subjects`` from their stored events at ``horizon`` and
    upsert their ledger rows; returns the rows written (a dossier whose ``received`` is not
    stored yet has none: its events wait in ``raw_events``)."""
    rows = judge_dossiers({code: stored_facts(events) for code, events
                           in store.load_events(conn, subjects).items()},
                          horizon, calendar_for)
    store.upsert_dossiers(conn, rows)
    return rows


def refresh_open_dossiers(
    engine: Engine, horizon: float, calendar_for: CalendarFor, *, chunk: int = 1000
) -> tuple[int, int]:
    """Re-judge at ``horizon`` the ledger rows still ``in_progress`` whose original due
    instant is before it (only those can have turned overdue: the SLA clock never runs
    ahead of the wall clock); returns (rows re-judged, rows now ``overdue``).

    Each chunk is its own transaction and locks its rows first (``FOR UPDATE SKIP LOCKED``
    on PostgreSQL; SQLite has one writer anyway), so a batch writing the same dossier
    concurrently either waits and writes last (its fold includes its new events) or is
    skipped here and judges the row itself. Raises SQLAlchemy's errors."""
    d = tables.dossiers
    due_before = store.utc(horizon)
    with engine.connect() as conn:
        codes = list(conn.execute(
            select(d.c.code).where(d.c.classification == IN_PROGRESS,
                                   d.c.due_at < due_before)
        ).scalars())
    judged = overdue = 0
    for i in range(0, len(codes), chunk):
        with engine.begin() as conn:
            locked = list(conn.execute(
                select(d.c.code)
                .where(d.c.code.in_(codes[i : i + chunk]),
                       d.c.classification == IN_PROGRESS, d.c.due_at < due_before)
                .with_for_update(skip_locked=True)
            ).scalars())
            if not locked:
                continue
            rows = refresh_ledger(conn, locked, horizon, calendar_for)
        judged += len(rows)
        overdue += sum(1 for r in rows if r["classification"] == OVERDUE)
    return judged, overdue


__all__ = ["SinkWriter", "SqlWriter", "judge_dossiers", "refresh_ledger",
           "refresh_open_dossiers", "short_reason", "stored_facts", "write_batch"]
