"""The SQL sink's consumer loop: the events, DLQ and KPI topics → the SQL store.

One consumer group (:func:`runtime.topics.sink_group`; librdkafka,
:class:`~consumers.rdconsumer.RdConsumer`) reads the three topics. Polled records become a
:class:`~consumers.rows.Batch` of rows (:func:`consumers.rows.build_batch`), written to a
:class:`~consumers.writer.SinkWriter` and flushed (:class:`SqlWriter`: one database
transaction), and **only after the flush returned** are its offsets committed to Kafka
through an :class:`~consumers.flush.OffsetCommitter` (at-least-once; every write is
idempotent, so a replay changes nothing).

The flush runs in a writer thread (:class:`~consumers.flush.FlushPipeline`: one flush in
flight at a time) while the consumer thread polls the next records; everything polled
meanwhile becomes the next flush, so flushes grow while the database is the slower side (up
to about ``sink_flush_records`` records: past that, the partitions are paused until the
flush in flight returned). The consumer thread alone touches the Kafka consumer: it polls,
and it commits a flush's offsets once that flush returned — flushes run in poll order and
commits follow in flush order (docs/decisions/sink-pipeline.md).

A flush that fails (:class:`~schemas.errors.StoreError`) commits nothing: the rows stay
staged and the flush is retried with exponential backoff (capped) by
:func:`~consumers.flush.deliver`, on the consumer thread; meanwhile every partition is paused
but polling goes on, so the consumer keeps its group membership, and records of partitions
assigned meanwhile are staged too. Each failure is logged and counted in
``motcua_sink_db_errors_total``.

Before the first flush after partitions are assigned (that flush runs on the consumer
thread, through :func:`~consumers.flush.deliver`), each one's log is checked against
``sink_offsets``: a log that now ends before the next offset stored means the broker lost
records, and the loop raises :class:`~schemas.errors.LogLost` rather than store KPIs
computed from what is left (``motcua sink`` exits 75).

Between batches, every ``ledger_refresh_interval`` seconds (default 60), the ledger rows
that time alone can have turned overdue are re-judged
(:func:`consumers.writer.refresh_open_dossiers`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from consumers import store
from consumers.flush import FlushPipeline, KafkaCommitter, OffsetCommitter, SinkMetrics, deliver
from consumers.rdconsumer import RdConsumer
from consumers.rows import Batch, build_batch
from consumers.writer import SqlWriter
from kpi.sla import CalendarFor
from kpi.units import CalendarBook
from runtime.kafka import end_offsets, reader
from runtime.settings import Settings
from runtime.topics import sink_group
from schemas.errors import LogLost, StoreError

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- the loop


class _Rewind:
    """Marks assigned partitions unverified; with ``from_beginning``, seeks each partition
    seen for the first time to its beginning. Before partitions are revoked, the flush in
    flight is waited for (``pipeline``), so a new owner does not write the same dossiers
    while it runs; its offsets are committed after the poll returns."""

    def __init__(self, consumer: RdConsumer, from_beginning: bool,
                 unverified: set[Any], pipeline: FlushPipeline | None = None) -> None:
        self.consumer = consumer
        self.from_beginning = from_beginning
        self.unverified = unverified
        self.pipeline = pipeline
        self.seen: set[Any] = set()

    def on_partitions_revoked(self, revoked: Any) -> None:
        if self.pipeline is not None:
            self.pipeline.wait(None)

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.unverified.update(assigned)
        fresh = [tp for tp in assigned if tp not in self.seen]
        self.seen.update(fresh)
        if self.from_beginning and fresh:
            self.consumer.seek_to_beginning(*fresh)


class Sink:
    """The consumer loop. ``run(stop)`` returns when ``stop`` is set (Ctrl-C, tests) and
    raises :class:`LogLost` when the broker lost records already stored."""

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
        max_records: int | None = None,
        flush_records: int | None = None,
        backoff_initial: float = 0.5,
        backoff_cap: float = 30.0,
        migrate: bool = True,
        ledger_refresh_interval: float | None = 60.0,
    ) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.group_id = group_id or sink_group(settings)
        self.metrics = SinkMetrics(registry if registry is not None else CollectorRegistry())
        self.writer = SqlWriter(engine, group_id=self.group_id, clock=clock,
                                calendar_for=calendar_for or CalendarBook(),
                                fact_cache=settings.sink_fact_cache)
        self.from_beginning = from_beginning
        self.max_records = max_records or settings.sink_poll_records
        """Most records one poll returns (``sink_poll_records``)."""
        self.flush_records = flush_records or settings.sink_flush_records
        """Records waiting for the next flush at which polling pauses while a flush runs
        (``sink_flush_records``): a flush stores fewer than this plus ``max_records``."""
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

    def committer(self, consumer: RdConsumer) -> OffsetCommitter:
        """How stored batches' offsets reach the broker (a seam for fault-injection tests)."""
        return KafkaCommitter(consumer)

    def run(self, stop: threading.Event) -> None:
        if self.migrate and not self._migrate_until_done(stop):
            return
        consumer = RdConsumer(self.settings, self.bootstrap, group_id=self.group_id,
                              client_id=f"{self.group_id}-client",
                              max_records=self.max_records)
        committer = self.committer(consumer)
        pipeline = FlushPipeline(self.writer, committer, self.metrics)
        try:
            consumer.subscribe(self.topics, listener=_Rewind(
                consumer, self.from_beginning, self._unverified, pipeline))
            self._loop(consumer, committer, pipeline, stop)
        finally:
            pipeline.close()
            self.writer.discard()
            consumer.close()

    def _loop(self, consumer: RdConsumer, committer: OffsetCommitter,
              pipeline: FlushPipeline, stop: threading.Event) -> None:
        """Poll while the flush in flight runs; land it (commit) once it returned, then
        flush whatever was polled meanwhile. Returns when ``stop`` is set, after the flush
        in flight landed (records polled but not flushed are read again next time)."""
        pending = Batch()
        while not stop.is_set():
            if pipeline.busy:
                try:
                    self._count(pipeline.land(0))
                except StoreError as exc:
                    # its rows stay staged in the writer: retried here, on this thread, with
                    # everything polled since (partitions paused meanwhile)
                    self._failed(exc, self.backoff_initial)
                    more = self._idle(consumer, self.backoff_initial, stop)
                    if more is None:
                        return
                    pending.extend(more)
                    batch, pending = pending, Batch()
                    if not self._deliver(batch, consumer, committer, stop,
                                         min(self.backoff_initial * 2, self.backoff_cap)):
                        return
            if not pipeline.busy:
                self._refresh_if_due()
                if pending.read:
                    batch, pending = pending, Batch()
                    if self._unverified:
                        # the first flush after an assignment checks the logs first: on this
                        # thread, with the retry loop (a LogLost propagates)
                        if not self._deliver(batch, consumer, committer, stop,
                                             self.backoff_initial):
                            return
                    else:
                        pipeline.start(batch)
            full = pipeline.busy and pending.read >= self.flush_records
            if full:
                consumer.pause(*consumer.assignment())
            elif consumer.paused():
                consumer.resume(*consumer.paused())
            polled = consumer.poll(timeout_ms=0 if full else 100 if pipeline.busy else 500)
            if polled:
                pending.extend(build_batch(polled, self.settings))
            if full:
                pipeline.wait(0.5)
        if pipeline.busy:  # stopping: "finishing the current batch"
            try:
                self._count(pipeline.land(None))
            except StoreError as exc:
                log.warning("database write failed while stopping (%s); offsets not "
                            "committed, the records will be read again", exc)
                self.metrics.db_errors.inc()

    def _count(self, committed: bool | None) -> None:
        if committed:
            self.batches += 1

    def _failed(self, exc: StoreError, delay: float) -> None:
        self.metrics.db_errors.inc()
        log.warning("database write failed (%s); %d record(s) kept, offsets not committed; "
                    "retry in %.1fs", exc, self.writer.staged_records, delay)

    def _deliver(self, batch: Batch, consumer: RdConsumer, committer: OffsetCommitter,
                 stop: threading.Event, backoff_initial: float) -> bool:
        """:func:`deliver` on this thread (log check, retries); False when stopped."""
        try:
            done = deliver(
                batch, self.writer, committer, metrics=self.metrics,
                idle=lambda seconds: self._idle(consumer, seconds, stop),
                check=self._verify_logs, backoff_initial=backoff_initial,
                backoff_cap=self.backoff_cap)
        finally:
            if consumer.paused():
                consumer.resume(*consumer.paused())
        if done is None:
            return False  # stopped before the write succeeded: nothing committed
        self._count(done)
        return True

    def _migrate_until_done(self, stop: threading.Event) -> bool:
        delay = self.backoff_initial
        while not stop.is_set():
            try:
                self.writer.migrate()
                return True
            except StoreError as exc:
                self.metrics.db_errors.inc()
                log.warning("database unavailable for migrations (%s); retry in %.1fs",
                            exc, delay)
                stop.wait(delay)
                delay = min(delay * 2, self.backoff_cap)
        return False

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
            judged, overdue = self.writer.refresh_open_dossiers()
        except StoreError as exc:
            self.metrics.db_errors.inc()
            log.warning("ledger refresh failed (%s); next try in %.0fs", exc,
                        self.ledger_refresh_interval)
            return
        if judged:
            log.info("ledger refresh: %d open dossier(s) past due re-judged, %d overdue",
                     judged, overdue)

    def _verify_logs(self) -> None:
        """Raise :class:`LogLost` if an assigned partition now ends before the next offset
        ``sink_offsets`` holds for it (end offsets exact: :func:`runtime.kafka.end_offsets`).
        A :class:`StoreError` propagates (the flush is retried, and the check with it)."""
        if not self._unverified:
            return
        tps = set(self._unverified)
        stored = self.writer.stored_offsets()
        wanted = {(tp.topic, tp.partition): stored[(tp.topic, tp.partition)] for tp in tps
                  if (tp.topic, tp.partition) in stored}
        if wanted:
            probe = reader(self.settings, self.bootstrap, f"{self.group_id}-probe")
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
                    "into an empty pipeline (docs/operations.md, Fault matrix).")
        self._unverified.difference_update(tps)

    def _idle(self, consumer: RdConsumer, seconds: float, stop: threading.Event
              ) -> Batch | None:
        """Wait ``seconds`` with every partition paused, still polling so the group keeps
        this member; returns the records of partitions assigned meanwhile (not lost), or
        ``None`` once ``stop`` is set."""
        extra: list[Any] = []
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            consumer.pause(*consumer.assignment())
            left = deadline - time.monotonic()
            if left <= 0:
                return build_batch(extra, self.settings)
            extra.extend(consumer.poll(timeout_ms=int(min(left, 1.0) * 1000) or 1))
        return None


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


__all__ = ["Sink", "run_sink"]
