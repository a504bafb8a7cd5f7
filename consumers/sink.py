"""The SQL sink: events, the dossier ledger, KPI snapshots and dead letters → SQL.

One kafka-python consumer group reads the events topic, the DLQ topic and the KPI topic.
For every poll batch, in **one** database transaction:

1. valid events are inserted into ``raw_events`` (a duplicate (source, id) changes nothing);
   an invalid record on the events topic is stored as a dead letter, never dropped;
2. each affected dossier is re-folded from *all* its stored events (:mod:`kpi.dossier`,
   :func:`kpi.sla.summarize` at the horizon "now") and its ledger row upserted — so the
   ledger is a pure function of the stored events, whatever the arrival order;
3. KPI snapshots are upserted (the latest ``as_of`` wins; a tombstone deletes);
4. dead letters are inserted, keyed by their (topic, partition, offset);
5. the next offsets are recorded in ``sink_offsets``.

Between batches, every ``ledger_refresh_interval`` seconds (default 60), the ledger rows
still ``in_progress`` whose due instant has passed are re-judged from their stored events
at the horizon "now" (:func:`refresh_open_dossiers`, its own transactions), so a dossier
turns ``overdue`` in the ledger without waiting for its next event.

Only after the commit are the Kafka offsets committed (at-least-once; every write above is
idempotent, so a replay changes nothing). If the database is unavailable the batch is
retried with exponential backoff (capped), the partitions are paused meanwhile (polling
continues, so the consumer keeps its group membership), no offset is committed, each
failure is logged and counted in ``motcua_sink_db_errors_total``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from consumers import store
from kpi.decode import decode
from kpi.dossier import DossierState, add_fact
from kpi.sla import IN_PROGRESS, OVERDUE, CalendarFor, Dossier, summarize
from kpi.units import CalendarBook
from runtime.dlq import DeadLetter, recover_subject
from runtime.kafka import consumer_options
from runtime.settings import Settings
from runtime.topics import sink_group
from schemas.errors import LogLost
from schemas.validate import InvalidEvent, parse_event

if TYPE_CHECKING:
    from kafka import KafkaConsumer
    from prometheus_client import CollectorRegistry

log = logging.getLogger(__name__)

RECEIVED_TYPE = "vn.gov.motcua.dossier.received"


class SinkMetrics:
    """The sink's own metrics, registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Histogram

        self.batch_seconds = Histogram(
            "motcua_sink_batch_seconds",
            "Time to write one poll batch to the database (successful attempts)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.db_errors = Counter(
            "motcua_sink_db_errors",
            "Failed database writes of the SQL sink (each is retried)",
            registry=registry,
        )
        self.records = Counter(
            "motcua_sink_records",
            "Kafka records written by the SQL sink, by kind",
            ["kind"],
            registry=registry,
        )


# --------------------------------------------------------------------------- the batch


@dataclass
class Batch:
    """The rows of one poll batch, before the ledger fold."""

    events: list[dict[str, Any]] = field(default_factory=list)
    subjects: set[str] = field(default_factory=set)
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    tombstones: list[tuple[str, str]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    """(topic, partition) → next offset to read."""


def _now() -> datetime:
    return datetime.now(UTC)


def _dead_letter_row(
    topic: str, partition: int, offset: int, reason: str, raw: bytes, **origin: Any
) -> dict[str, Any]:
    return {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "reason": reason,
        "raw": raw,
        "subject": origin.get("subject", recover_subject(raw)),
        "source_file": origin.get("source_file"),
        "line": origin.get("line"),
        "recorded_at": _now(),
    }


def build_batch(records: Iterable[Any], settings: Settings) -> Batch:
    """Sort records (``ConsumerRecord``-like: topic, partition, offset, key, value) into
    rows. Nothing here raises on bad input: what cannot be read becomes a dead letter."""
    topics = settings.topics
    batch = Batch()
    for rec in records:
        tp = (rec.topic, rec.partition)
        batch.offsets[tp] = max(batch.offsets.get(tp, 0), rec.offset + 1)
        value: bytes | None = rec.value
        if rec.topic == topics.events:
            _add_event(batch, rec, value)
        elif rec.topic == topics.dlq:
            _add_dead_letter(batch, rec, value)
        elif rec.topic == topics.kpi:
            _add_snapshot(batch, rec, value)
    return batch


def _add_event(batch: Batch, rec: Any, value: bytes | None) -> None:
    raw = value or b""
    try:
        event = parse_event(raw)
    except InvalidEvent as exc:
        batch.dead_letters.append(
            _dead_letter_row(rec.topic, rec.partition, rec.offset, exc.reason, raw)
        )
        return
    data = event.data
    batch.events.append(
        {
            "source": event.source,
            "id": event.id,
            "subject": event.subject,
            "type": event.type,
            "time": event.time.astimezone(UTC),
            "unit": getattr(data, "unit_code", None) if event.type == RECEIVED_TYPE else None,
            "payload": raw.decode("utf-8"),
            "topic": rec.topic,
            "partition": rec.partition,
            "offset": rec.offset,
        }
    )
    batch.subjects.add(event.subject)


def _add_dead_letter(batch: Batch, rec: Any, value: bytes | None) -> None:
    raw = value or b""
    try:
        letter = DeadLetter.decode(raw)
    except Exception as exc:  # not our encoding: keep the bytes as they are
        batch.dead_letters.append(
            _dead_letter_row(
                rec.topic, rec.partition, rec.offset,
                f"undecodable dead letter ({type(exc).__name__}: {exc})", raw,
            )
        )
        return
    batch.dead_letters.append(
        _dead_letter_row(
            rec.topic, rec.partition, rec.offset, letter.reason, letter.raw,
            source_file=letter.source_file, line=letter.line,
        )
    )


def _add_snapshot(batch: Batch, rec: Any, value: bytes | None) -> None:
    if value is None:  # tombstone on the compacted topic
        key = (rec.key or b"").decode("utf-8", "replace")
        unit, sep, period = key.rpartition("|")
        if sep:
            batch.tombstones.append((unit, period))
        return
    try:
        batch.snapshots.append(store.snapshot_row(orjson.loads(value)))
    except Exception as exc:
        batch.dead_letters.append(
            _dead_letter_row(
                rec.topic, rec.partition, rec.offset,
                f"invalid KPI snapshot ({type(exc).__name__}: {exc})", value,
            )
        )


# --------------------------------------------------------------------------- the ledger


def fold_payloads(code: str, payloads: Iterable[bytes]) -> DossierState:
    facts: dict[str, Any] = {}
    for raw in payloads:
        _, key, fact = decode(raw)  # stored rows were valid when written
        add_fact(facts, key, fact)
    return DossierState(code, facts)


def ledger_row(d: Dossier, horizon: float, updated_at: datetime) -> dict[str, Any]:
    """The ``dossiers`` row of a summarized dossier as of ``horizon``."""
    paused = 0.0
    for start, end in d.pauses:
        stop = horizon if end is None else min(end, horizon)
        paused += max(0.0, stop - start)
    utc = store._utc
    return {
        "code": d.code,
        "unit": d.unit,
        "level": d.level,
        "procedure": d.procedure,
        "channel": d.channel,
        "received_at": utc(d.received_at),
        "due_at": utc(d.due_at),
        "extended_due_at": utc(d.extended_due_at),
        "completed_at": utc(d.completed_at),
        "ended_at": utc(d.ended_at),
        "classification": d.status_at(horizon),
        "supplement_requests": d.supplement_requests,
        "paused_seconds": paused,
        "apology": d.apology_at is not None,
        "paid_online": d.paid_online,
        "digitized": d.digitized,
        "rule_set_version": store.RULE_SET_VERSION,
        "updated_at": updated_at,
    }


def refresh_ledger(
    conn: Connection, subjects: Iterable[str], horizon: float, calendar_for: CalendarFor
) -> int:
    """Re-derive the ledger rows of ``subjects`` from their stored events; returns how many
    rows were written (a dossier whose ``received`` is not known yet has none: its events
    wait in ``raw_events``)."""
    return len(_rejudge(conn, subjects, horizon, calendar_for))


def _rejudge(
    conn: Connection, subjects: Iterable[str], horizon: float, calendar_for: CalendarFor
) -> list[dict[str, Any]]:
    """Fold each dossier's stored events, judge it at ``horizon`` and upsert its ledger
    row; returns the rows written."""
    payloads = store.load_payloads(conn, subjects)
    now = _now()
    rows = []
    for code, raws in payloads.items():
        d = summarize(fold_payloads(code, raws), horizon, calendar_for)
        if d is not None:
            rows.append(ledger_row(d, horizon, now))
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
    skipped here and judges the row itself."""
    d = store.dossiers
    due_before = store._utc(horizon)
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
            rows = _rejudge(conn, locked, horizon, calendar_for)
        judged += len(rows)
        overdue += sum(1 for r in rows if r["classification"] == OVERDUE)
    return judged, overdue


def write_batch(
    engine: Engine,
    batch: Batch,
    *,
    group_id: str,
    horizon: float,
    calendar_for: CalendarFor,
) -> None:
    """Write one batch in one transaction (all or nothing)."""
    with engine.begin() as conn:
        store.insert_raw_events(conn, batch.events)
        if batch.subjects:
            refresh_ledger(conn, batch.subjects, horizon, calendar_for)
        store.upsert_snapshots(conn, batch.snapshots)
        store.delete_snapshots(conn, batch.tombstones)
        store.insert_dlq_records(conn, batch.dead_letters)
        now = _now()
        store.upsert_offsets(
            conn,
            [
                {"group_id": group_id, "topic": t, "partition": p, "next_offset": o,
                 "updated_at": now}
                for (t, p), o in batch.offsets.items()
            ],
        )


# --------------------------------------------------------------------------- the loop


class Sink:
    """The consumer loop. ``run(stop)`` returns when ``stop`` is set (Ctrl-C, tests)."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        bootstrap: str,
        *,
        group_id: str | None = None,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
        calendar_for: CalendarFor | None = None,
        from_beginning: bool = False,
        max_records: int = 2000,
        backoff_initial: float = 0.5,
        backoff_cap: float = 30.0,
        migrate: bool = True,
        ledger_refresh_interval: float | None = 60.0,
    ) -> None:
        from prometheus_client import CollectorRegistry

        self.settings = settings
        self.engine = engine
        self.bootstrap = bootstrap
        self.group_id = group_id or sink_group(settings)
        self.metrics = SinkMetrics(registry if registry is not None else CollectorRegistry())
        self.clock = clock
        self.calendar_for = calendar_for or CalendarBook()
        self.from_beginning = from_beginning
        self.max_records = max_records
        self.backoff_initial = backoff_initial
        self.backoff_cap = backoff_cap
        self.migrate = migrate
        self.ledger_refresh_interval = ledger_refresh_interval
        """Seconds between re-judgings of open dossiers past due (None or 0: never)."""
        self._next_refresh = 0.0
        self._unverified: set[Any] = set()
        """Partitions assigned since their log was last checked against ``sink_offsets``."""
        self.batches = 0
        """Batches written and committed (for tests and logs)."""

    @property
    def topics(self) -> list[str]:
        t = self.settings.topics
        return [t.events, t.dlq, t.kpi]

    def _consumer(self) -> KafkaConsumer:
        from kafka import KafkaConsumer

        return KafkaConsumer(
            **consumer_options(
                self.settings,
                bootstrap_servers=self.bootstrap,
                group_id=self.group_id,
                client_id=f"{self.group_id}-client",
                max_poll_records=self.max_records,
            )
        )

    def _subscribe(self, consumer: KafkaConsumer) -> None:
        from kafka import ConsumerRebalanceListener

        seen: set[Any] = set()
        from_beginning = self.from_beginning
        unverified = self._unverified

        class Rewind(ConsumerRebalanceListener):  # type: ignore[misc]
            def on_partitions_revoked(self, revoked: Any) -> None:
                pass

            def on_partitions_assigned(self, assigned: Any) -> None:
                unverified.update(assigned)
                fresh = [tp for tp in assigned if tp not in seen]
                seen.update(fresh)
                if from_beginning and fresh:
                    consumer.seek_to_beginning(*fresh)

        consumer.subscribe(self.topics, listener=Rewind())

    def _migrate_until_done(self, stop: threading.Event) -> bool:
        delay = self.backoff_initial
        while not stop.is_set():
            try:
                store.upgrade(self.engine)
                return True
            except SQLAlchemyError as exc:
                self.metrics.db_errors.inc()
                log.warning("database unavailable for migrations (%s); retry in %.1fs",
                            _short(exc), delay)
                stop.wait(delay)
                delay = min(delay * 2, self.backoff_cap)
        return False

    def run(self, stop: threading.Event) -> None:
        if self.migrate and not self._migrate_until_done(stop):
            return
        consumer = self._consumer()
        try:
            self._subscribe(consumer)
            while not stop.is_set():
                self._refresh_if_due()
                polled = consumer.poll(timeout_ms=500)
                if not polled:
                    continue
                records = [r for recs in polled.values() for r in recs]
                batch = self._write_until_done(consumer, records, stop)
                if batch is None:
                    return  # stopped before the write succeeded: commit nothing
                self._commit(consumer, batch)
        finally:
            consumer.close(autocommit=False)

    def _refresh_if_due(self) -> None:
        """Re-judge open dossiers past due when the interval has elapsed; a database error
        is logged and counted, and waits for the next interval (consumption goes on)."""
        if not self.ledger_refresh_interval:
            return
        now = time.monotonic()
        if now < self._next_refresh:
            return
        self._next_refresh = now + self.ledger_refresh_interval
        try:
            judged, overdue = refresh_open_dossiers(self.engine, self.clock(),
                                                    self.calendar_for)
        except SQLAlchemyError as exc:
            self.metrics.db_errors.inc()
            log.warning("ledger refresh failed (%s); next try in %.0fs", _short(exc),
                        self.ledger_refresh_interval)
            return
        if judged:
            log.info("ledger refresh: %d open dossier(s) past due re-judged, %d overdue",
                     judged, overdue)

    def _write_until_done(
        self, consumer: KafkaConsumer, records: list[Any], stop: threading.Event
    ) -> Batch | None:
        delay = self.backoff_initial
        paused = False
        try:
            while True:
                batch = build_batch(records, self.settings)
                started = time.perf_counter()
                try:
                    if self._unverified:
                        self._verify_logs()
                    write_batch(self.engine, batch, group_id=self.group_id,
                                horizon=self.clock(), calendar_for=self.calendar_for)
                except SQLAlchemyError as exc:
                    self.metrics.db_errors.inc()
                    log.warning("database write failed (%s); %d record(s) kept, offsets not "
                                "committed; retry in %.1fs", _short(exc), len(records), delay)
                    if stop.is_set():
                        return None
                    paused = True
                    records.extend(self._idle(consumer, delay, stop))
                    if stop.is_set():
                        return None
                    delay = min(delay * 2, self.backoff_cap)
                    continue
                self.metrics.batch_seconds.observe(time.perf_counter() - started)
                self._count(batch)
                return batch
        finally:
            if paused:
                consumer.resume(*consumer.paused())

    def _verify_logs(self) -> None:
        """Raise :class:`LogLost` if an assigned partition now ends before the next offset
        ``sink_offsets`` holds for it (end offsets exact: :func:`runtime.kafka.end_offsets`).
        A database error propagates (the write is retried, and the check with it)."""
        from kafka import KafkaConsumer

        from runtime.kafka import end_offsets

        tps = set(self._unverified)
        o = store.sink_offsets.c
        with self.engine.connect() as conn:
            stored = {(t, p): n for t, p, n in conn.execute(
                select(o.topic, o.partition, o.next_offset).where(
                    o.group_id == self.group_id))}
        wanted = {(tp.topic, tp.partition): stored[(tp.topic, tp.partition)] for tp in tps
                  if (tp.topic, tp.partition) in stored}
        if wanted:
            probe = KafkaConsumer(**consumer_options(self.settings,
                                                     bootstrap_servers=self.bootstrap))
            try:
                ends: dict[tuple[str, int], int] = {}
                for topic in {t for t, _ in wanted}:
                    ends.update({(tp.topic, tp.partition): end
                                 for tp, end in end_offsets(probe, topic).items()})
            finally:
                probe.close()
            lost = {f"{t}[{p}]": (ends.get((t, p), 0), n) for (t, p), n in wanted.items()
                    if ends.get((t, p), 0) < n}
            if lost:
                raise LogLost(
                    "the broker lost records this sink already stored (partition: (end "
                    f"offset now, next offset stored)) {lost}; refusing to store KPIs "
                    "computed from what is left. Recover by replaying the source events "
                    "into an empty pipeline (README, Fault matrix).")
        self._unverified.difference_update(tps)

    def _idle(self, consumer: KafkaConsumer, seconds: float, stop: threading.Event) -> list[Any]:
        """Wait ``seconds`` with every partition paused, still polling so the group keeps
        this member; records of partitions assigned meanwhile are returned, not lost."""
        extra: list[Any] = []
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            consumer.pause(*consumer.assignment())
            left = deadline - time.monotonic()
            if left <= 0:
                break
            polled = consumer.poll(timeout_ms=int(min(left, 1.0) * 1000) or 1)
            for recs in polled.values():
                extra.extend(recs)
        return extra

    def _commit(self, consumer: KafkaConsumer, batch: Batch) -> None:
        from kafka import TopicPartition
        from kafka.errors import KafkaError
        from kafka.structs import OffsetAndMetadata

        offsets = {
            TopicPartition(t, p): OffsetAndMetadata(o, "", -1)
            for (t, p), o in batch.offsets.items()
        }
        try:
            consumer.commit(offsets=offsets)
        except KafkaError as exc:  # e.g. a rebalance took the partitions: replay is harmless
            log.warning("offset commit failed after the database commit (%s); the records "
                        "will be replayed and change nothing", exc)
            return
        self.batches += 1

    def _count(self, batch: Batch) -> None:
        m = self.metrics.records
        m.labels("event").inc(len(batch.events))
        m.labels("dead_letter").inc(len(batch.dead_letters))
        m.labels("snapshot").inc(len(batch.snapshots) + len(batch.tombstones))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def run_sink(
    settings: Settings,
    bootstrap: str,
    db_url: str,
    stop: threading.Event,
    *,
    registry: CollectorRegistry | None = None,
    **options: Any,
) -> Sink:
    """Build the engine and run a :class:`Sink` until ``stop`` is set (blocking)."""
    engine = store.make_engine(db_url)
    sink = Sink(settings, engine, bootstrap, registry=registry, **options)
    try:
        sink.run(stop)
    finally:
        engine.dispose()
    return sink


__all__ = ["Batch", "Sink", "SinkMetrics", "build_batch", "refresh_open_dossiers", "run_sink",
           "write_batch"]
