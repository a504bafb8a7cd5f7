"""One flush of the SQL sink and its offset commit: write, flush, and only then commit.

:func:`deliver` and :class:`FlushPipeline` are the two ways the sink's consumer loop
(:mod:`consumers.sink`) stores a :class:`~consumers.rows.Batch`: each hands it to a
:class:`~consumers.writer.SinkWriter` (``write`` then ``flush``: one database transaction)
and commits the offsets of what the flush stored through an :class:`OffsetCommitter`
**only after the flush returned**. A flush that fails (:class:`~schemas.errors.StoreError`)
commits nothing and its rows stay staged in the writer: :func:`deliver` retries it with
exponential backoff (capped) on the calling thread; :class:`FlushPipeline` runs one flush at
a time in a writer thread and raises the failure to its caller. :class:`SinkMetrics` counts
what was stored and each failure (``motcua_sink_*``).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures

from prometheus_client import CollectorRegistry, Counter, Histogram

from consumers.rdconsumer import RdConsumer
from consumers.rows import Batch
from consumers.writer import SinkWriter
from schemas.errors import StoreError

log = logging.getLogger("consumers.sink")
"""The sink's log: a failed flush is logged under the sink's name, wherever it ran."""

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


__all__ = ["FlushPipeline", "KafkaCommitter", "OffsetCommitter", "Offsets", "SinkMetrics",
           "deliver"]
