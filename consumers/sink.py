"""The SQL sink's consumer loop: the events, DLQ and KPI topics → the SQL store.

One consumer group (:func:`runtime.topics.sink_group`; librdkafka,
:class:`~consumers.rdconsumer.RdConsumer`) reads the three topics. Polled records become a
:class:`~consumers.rows.Batch` of rows (:func:`consumers.rows.build_batch`), written to a
:class:`~consumers.writer.SinkWriter` and flushed (:class:`SqlWriter`: one database
transaction), and **only after the flush returned** are its offsets committed to Kafka
through an :class:`OffsetCommitter` (at-least-once; every write is idempotent, so a replay
changes nothing).

The flush runs in a writer thread (:class:`FlushPipeline`: one flush in flight at a time)
while the consumer thread polls the next records; everything polled meanwhile becomes the
next flush, so flushes grow while the database is the slower side (up to about
``sink_flush_records`` records: past that, the partitions are paused until the flush in
flight returned). The consumer thread alone touches the Kafka consumer: it polls, and it
commits a flush's offsets once that flush returned — flushes run in poll order and
commits follow in flush order (docs/decisions/sink-pipeline.md).

A flush that fails (:class:`~schemas.errors.StoreError`) commits nothing: the rows stay
staged and the flush is retried with exponential backoff (capped) by :func:`deliver`, on the
consumer thread; meanwhile every partition is paused but polling goes on, so the consumer
keeps its group membership, and records of partitions assigned meanwhile are staged too.
Each failure is logged and counted in ``motcua_sink_db_errors_total``.

Before the first flush after partitions are assigned (that flush runs on the consumer
thread, through :func:`deliver`), each one's log is checked against ``sink_offsets``: a log
that now ends before the next offset stored means the broker lost records, and the loop
raises :class:`~schemas.errors.LogLost` rather than store KPIs computed from what is left
(``motcua sink`` exits 75).

Between batches, every ``ledger_refresh_interval`` seconds (default 60), the ledger rows
that time alone can have turned overdue are re-judged
(:func:`consumers.writer.refresh_open_dossiers`).
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer  # (the probe of _verify_logs)
from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import Engine

from consumers import store
from consumers.rdconsumer import RdConsumer
from consumers.rows import Batch, build_batch
from consumers.writer import SinkWriter, SqlWriter
from kpi.sla import CalendarFor
from kpi.units import CalendarBook
from runtime.kafka import consumer_options, end_offsets
from runtime.settings import Settings
from runtime.topics import sink_group
from schemas.errors import LogLost, StoreError

log = logging.getLogger(__name__)

Offsets = Mapping[tuple[str, int], int]
"""(topic, partition) → the next offset to read."""


class SinkMetrics:
    """The sink's own metrics, registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
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

    def count(self, batch: Batch) -> None:
        """Count the rows of a stored batch by kind."""
        for kind, n in batch.rows_by_kind.items():
            self.records.labels(kind).inc(n)


# --------------------------------------------------------------------------- offsets


class OffsetCommitter(ABC):
    """Commits the consumer group's progress to the broker."""

    @abstractmethod
    def commit(self, offsets: Offsets) -> bool:
        """Commit ``offsets``; False when the broker refused them (the records will be read
        again, which changes nothing once they are stored)."""


class KafkaCommitter(OffsetCommitter):
    """Commits through the sink's own consumer (a refusal — e.g. a rebalance took the
    partitions — is logged: the replay it causes is harmless)."""

    def __init__(self, consumer: RdConsumer) -> None:
        self.consumer = consumer

    def commit(self, offsets: Offsets) -> bool:
        return self.consumer.commit_offsets(offsets)


# --------------------------------------------------------------------------- one batch


def deliver(
    batch: Batch,
    writer: SinkWriter,
    committer: OffsetCommitter,
    *,
    idle: Callable[[float], Batch | None],
    metrics: SinkMetrics,
    check: Callable[[], None] | None = None,
    backoff_initial: float = 0.5,
    backoff_cap: float = 30.0,
) -> bool | None:
    """Write ``batch``, flush, and commit the offsets of what the flush stored — never
    before the flush returned.

    ``check`` runs before each flush (a :class:`LogLost` from it propagates, nothing
    committed). A flush or check that raises :class:`StoreError` commits nothing: it is
    counted and logged, ``idle(delay)`` waits (``delay`` doubling from ``backoff_initial``
    up to ``backoff_cap``) and returns a batch of records read meanwhile, staged with the
    rest, or ``None`` to stop. Returns ``None`` when stopped before the flush succeeded,
    else whether the offset commit was accepted. Nothing stays staged on return."""
    delay = backoff_initial
    writer.write(batch)
    try:
        while True:
            started = time.perf_counter()
            try:
                if check is not None:
                    check()
                stored = writer.flush()
            except StoreError as exc:
                metrics.db_errors.inc()
                log.warning("database write failed (%s); %d record(s) kept, offsets not "
                            "committed; retry in %.1fs", exc, writer.staged_records, delay)
                more = idle(delay)
                if more is None:
                    return None
                writer.write(more)
                delay = min(delay * 2, backoff_cap)
                continue
            metrics.batch_seconds.observe(time.perf_counter() - started)
            metrics.count(stored)
            return committer.commit(stored.offsets)
    finally:
        writer.discard()


class FlushPipeline:
    """One flush at a time in a writer thread, its offsets committed on the caller's thread.

    :meth:`start` hands a batch to the writer thread (``writer.write`` then
    ``writer.flush``); :meth:`land` waits for it and, **only once the flush returned**,
    commits the offsets it stored through ``committer`` on the calling thread (the consumer
    thread: the sink's consumer is used by that thread alone). A flush cannot start while
    another is in flight, so flushes run in the order they were started and commits follow
    in that order. A failed flush raises its :class:`StoreError` from :meth:`land` and
    commits nothing; its rows stay staged in the writer (:class:`SinkWriter` contract), for
    the caller to retry (:func:`deliver`)."""

    def __init__(self, writer: SinkWriter, committer: OffsetCommitter,
                 metrics: SinkMetrics) -> None:
        self.writer = writer
        self.committer = committer
        self.metrics = metrics
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="motcua-sink-writer")
        self._flight: Future[Batch] | None = None

    @property
    def busy(self) -> bool:
        """A flush is in flight (started, not landed)."""
        return self._flight is not None

    def start(self, batch: Batch) -> None:
        """Start flushing ``batch`` in the writer thread (nothing may be in flight)."""
        if self._flight is not None:
            raise RuntimeError("a flush is already in flight")
        self._flight = self._pool.submit(self._flush, batch)

    def _flush(self, batch: Batch) -> Batch:  # the writer thread
        started = time.perf_counter()
        self.writer.write(batch)
        stored = self.writer.flush()
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        return stored

    def wait(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds (None: for ever) for the flush in flight to
        return; True when nothing is in flight any more that has not returned."""
        if self._flight is None:
            return True
        return bool(wait_futures([self._flight], timeout=timeout).done)

    def land(self, timeout: float | None = 0) -> bool | None:
        """If the flush in flight returns within ``timeout`` seconds: commit its offsets and
        return whether the broker accepted them; ``None`` while it is still running or
        when nothing is in flight. Raises the flush's :class:`StoreError` (nothing
        committed, the rows still staged in the writer)."""
        if self._flight is None or not self.wait(timeout):
            return None
        flight, self._flight = self._flight, None
        stored = flight.result()  # raises StoreError: no commit
        self.metrics.count(stored)
        return self.committer.commit(stored.offsets)

    def close(self) -> None:
        """Wait for a flush in flight (its offsets are not committed) and end the thread."""
        self._pool.shutdown(wait=True)
        self._flight = None


# --------------------------------------------------------------------------- the loop


class _Rewind(ConsumerRebalanceListener):
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


__all__ = ["FlushPipeline", "KafkaCommitter", "OffsetCommitter", "Offsets", "Sink", "SinkMetrics",
           "deliver", "run_sink"]
