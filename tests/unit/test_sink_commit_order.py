"""The sink commits Kafka offsets only after a successful flush (quix-streams style).

:func:`consumers.flush.deliver` — the step the sink's consumer loop runs for every poll — is
driven with a fake writer that subclasses the :class:`~consumers.writer.SinkWriter` port
(its ``store`` fails on demand) and a recording committer that subclasses the
:class:`~consumers.flush.OffsetCommitter` port; both append to one journal, so the order of
flushes and commits is what is asserted. So is :class:`~consumers.flush.FlushPipeline`, the
writer thread of the loop: a commit only after its flush returned, on the caller's thread.
"""

from __future__ import annotations

import threading

import pytest
from prometheus_client import CollectorRegistry

from consumers.flush import FlushPipeline, OffsetCommitter, Offsets, SinkMetrics, deliver
from consumers.rows import Batch
from consumers.writer import SinkWriter
from schemas.errors import LogLost, StoreError


class FakeWriter(SinkWriter):
    """Stores into a list; the first ``failures`` stores raise :class:`StoreError`."""

    def __init__(self, journal: list[str], failures: int = 0) -> None:
        super().__init__()
        self.journal = journal
        self.failures = failures
        self.stored: list[Batch] = []

    def store(self, batch: Batch) -> None:
        if self.failures:
            self.failures -= 1
            self.journal.append("flush failed")
            raise StoreError("OperationalError: database is down")
        self.stored.append(batch)
        self.journal.append(f"flushed {sorted(batch.offsets.items())}")


class RecordingCommitter(OffsetCommitter):
    def __init__(self, journal: list[str], accept: bool = True) -> None:
        self.journal = journal
        self.accept = accept

    def commit(self, offsets: Offsets) -> bool:
        self.journal.append(f"committed {sorted(offsets.items())}")
        return self.accept


def _batch(topic: str, partition: int, next_offset: int, events: int = 1) -> Batch:
    return Batch(events=[{"id": f"e{i}"} for i in range(events)], subjects={"H1"},
                 offsets={(topic, partition): next_offset}, read=events)


def _metrics() -> tuple[SinkMetrics, CollectorRegistry]:
    registry = CollectorRegistry()
    return SinkMetrics(registry), registry


def test_commit_follows_a_successful_flush() -> None:
    journal: list[str] = []
    writer = FakeWriter(journal)
    metrics, registry = _metrics()
    done = deliver(_batch("ev", 0, 5, events=3), writer, RecordingCommitter(journal),
                   idle=lambda _s: pytest.fail("no retry expected"), metrics=metrics)
    assert done is True
    assert journal == ["flushed [(('ev', 0), 5)]", "committed [(('ev', 0), 5)]"]
    assert writer.staged_records == 0
    assert registry.get_sample_value("motcua_sink_records_total", {"kind": "event"}) == 3
    assert registry.get_sample_value("motcua_sink_batch_seconds_count") == 1


def test_a_failed_flush_commits_nothing_when_stopped() -> None:
    journal: list[str] = []
    writer = FakeWriter(journal, failures=1)
    metrics, registry = _metrics()
    waits: list[float] = []

    def stop_now(seconds: float) -> Batch | None:
        waits.append(seconds)
        return None  # stop was set while waiting

    done = deliver(_batch("ev", 0, 5), writer, RecordingCommitter(journal),
                   idle=stop_now, metrics=metrics, backoff_initial=0.5)
    assert done is None
    assert journal == ["flush failed"]  # and no commit
    assert waits == [0.5]
    assert writer.stored == [] and writer.staged_records == 0  # to be read again
    assert registry.get_sample_value("motcua_sink_db_errors_total") == 1
    assert registry.get_sample_value("motcua_sink_batch_seconds_count") == 0


def test_failed_flushes_are_retried_with_backoff_then_committed_once() -> None:
    """Two failures, then success: records read while waiting (another partition) are
    flushed with the first batch, and one commit covers both, after the flush."""
    journal: list[str] = []
    writer = FakeWriter(journal, failures=2)
    metrics, registry = _metrics()
    waits: list[float] = []
    arriving = [_batch("kpi", 1, 9), Batch()]

    def idle(seconds: float) -> Batch | None:
        waits.append(seconds)
        assert not any(j.startswith("committed") for j in journal)
        return arriving.pop(0)

    done = deliver(_batch("ev", 0, 5), writer, RecordingCommitter(journal), idle=idle,
                   metrics=metrics, backoff_initial=0.5, backoff_cap=0.8)
    assert done is True
    assert journal == [
        "flush failed", "flush failed",
        "flushed [(('ev', 0), 5), (('kpi', 1), 9)]",
        "committed [(('ev', 0), 5), (('kpi', 1), 9)]",
    ]
    assert waits == [0.5, 0.8]  # doubled, capped
    assert len(writer.stored) == 1 and writer.stored[0].read == 2
    assert registry.get_sample_value("motcua_sink_db_errors_total") == 2


def test_a_refused_commit_is_reported_after_the_flush() -> None:
    journal: list[str] = []
    done = deliver(_batch("ev", 0, 5), FakeWriter(journal),
                   RecordingCommitter(journal, accept=False),
                   idle=lambda _s: None, metrics=_metrics()[0])
    assert done is False  # stored; the records will be replayed, which changes nothing
    assert journal == ["flushed [(('ev', 0), 5)]", "committed [(('ev', 0), 5)]"]


def test_a_lost_log_stops_before_any_flush_or_commit() -> None:
    journal: list[str] = []
    writer = FakeWriter(journal)

    def check() -> None:
        raise LogLost("the broker lost records")

    with pytest.raises(LogLost):
        deliver(_batch("ev", 0, 5), writer, RecordingCommitter(journal),
                idle=lambda _s: None, metrics=_metrics()[0], check=check)
    assert journal == []
    assert writer.staged_records == 0


def test_a_store_error_in_the_check_is_retried_like_a_failed_flush() -> None:
    journal: list[str] = []
    calls = [StoreError("OperationalError: cannot read sink_offsets")]

    def check() -> None:
        if calls:
            raise calls.pop()

    done = deliver(_batch("ev", 0, 5), FakeWriter(journal), RecordingCommitter(journal),
                   idle=lambda _s: Batch(), metrics=_metrics()[0], check=check)
    assert done is True
    assert journal == ["flushed [(('ev', 0), 5)]", "committed [(('ev', 0), 5)]"]


# --------------------------------------------------------------------------- the pipeline


class BlockingWriter(FakeWriter):
    """A :class:`FakeWriter` whose ``store`` waits for ``release`` (a flush in flight)."""

    def __init__(self, journal: list[str], failures: int = 0) -> None:
        super().__init__(journal, failures)
        self.release = threading.Event()
        self.storing = threading.Event()

    def store(self, batch: Batch) -> None:
        self.storing.set()
        assert self.release.wait(10), "never released"
        super().store(batch)


def test_pipeline_commits_on_the_callers_thread_only_after_the_flush_returned() -> None:
    journal: list[str] = []
    writer = BlockingWriter(journal)
    metrics, registry = _metrics()
    threads: list[str] = []

    class ThreadRecordingCommitter(RecordingCommitter):
        def commit(self, offsets: Offsets) -> bool:
            threads.append(threading.current_thread().name)
            return super().commit(offsets)

    pipeline = FlushPipeline(writer, ThreadRecordingCommitter(journal), metrics)
    try:
        pipeline.start(_batch("ev", 0, 5, events=2))
        assert pipeline.busy
        assert writer.storing.wait(10)
        assert pipeline.land(0) is None and pipeline.land(0.05) is None  # still flushing
        assert journal == []
        with pytest.raises(RuntimeError):
            pipeline.start(_batch("ev", 0, 9))  # one flush in flight at a time
        writer.release.set()
        assert pipeline.land(None) is True
        assert not pipeline.busy
        assert journal == ["flushed [(('ev', 0), 5)]", "committed [(('ev', 0), 5)]"]
        assert threads == [threading.current_thread().name]
        assert registry.get_sample_value("motcua_sink_records_total", {"kind": "event"}) == 2
        assert registry.get_sample_value("motcua_sink_batch_seconds_count") == 1
        # the next flush, and its commit, follow in order
        pipeline.start(_batch("ev", 0, 9))
        assert pipeline.land(None) is True
        assert journal[2:] == ["flushed [(('ev', 0), 9)]", "committed [(('ev', 0), 9)]"]
    finally:
        writer.release.set()
        pipeline.close()


def test_pipeline_failed_flush_commits_nothing_and_keeps_the_rows_staged() -> None:
    journal: list[str] = []
    writer = FakeWriter(journal, failures=1)
    metrics, registry = _metrics()
    pipeline = FlushPipeline(writer, RecordingCommitter(journal), metrics)
    try:
        pipeline.start(_batch("ev", 0, 5, events=3))
        with pytest.raises(StoreError):
            pipeline.land(None)
        assert journal == ["flush failed"]
        assert not pipeline.busy
        assert writer.staged_records == 3  # for the caller's retry (deliver)
        assert registry.get_sample_value("motcua_sink_batch_seconds_count") == 0
        # the retry on the caller's thread stores the staged rows with the new ones
        done = deliver(_batch("ev", 1, 4), writer, RecordingCommitter(journal),
                       idle=lambda _s: pytest.fail("no wait expected"), metrics=metrics)
        assert done is True
        assert journal[1:] == ["flushed [(('ev', 0), 5), (('ev', 1), 4)]",
                               "committed [(('ev', 0), 5), (('ev', 1), 4)]"]
    finally:
        pipeline.close()
