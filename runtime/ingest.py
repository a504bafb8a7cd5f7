"""Publish a JSON Lines file of events: valid ones to the events topic, the rest to the DLQ.

Rules (the ``motcua ingest`` contract):

* Each line is one event; its value on Kafka is the line's original bytes without the line
  terminator (``\\n`` or ``\\r\\n``), its key the ``subject`` (mã hồ sơ).
* Blank (whitespace-only) lines are skipped: not read, not rejected, only counted as
  ``blank``. JSON Lines writers often end files with one; it is not an event.
* A line that is not JSON or fails validation goes to the DLQ (:mod:`runtime.dlq`) with the
  reason, its bytes, the file name and its 1-based line number — never dropped. A line
  longer than :data:`schemas.validate.MAX_EVENT_BYTES` is refused for its size; only its
  first :data:`runtime.dlq.MAX_DLQ_RAW_BYTES` are read into memory and kept.
* A line is judged by :func:`kpi.decode.decode`, the worker's own decode path (msgspec's
  recognizer first, the pydantic models for everything it does not accept and for every
  rejection's reason): what ingest publishes is exactly what the worker accepts.
* Duplicate lines are published as they are: deduplication on (``source``, ``id``) is the
  stream's job, so the event log keeps exactly what was sent.
* ``published`` counts records the broker acknowledged (after a flush), not sends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kpi.decode import decode
from runtime.dlq import MAX_DLQ_RAW_BYTES, DeadLetter
from runtime.settings import Settings
from schemas.validate import MAX_EVENT_BYTES, InvalidEvent, too_large

PROGRESS_BYTES = 1 << 20
"""How many bytes read between two progress reports (one per line cost a tenth of the
ingest's CPU)."""


class _Future(Protocol):
    def add_callback(self, f: Callable[..., Any], *args: Any) -> Any: ...
    def add_errback(self, f: Callable[..., Any], *args: Any) -> Any: ...


class Producer(Protocol):
    """The part of ``kafka.KafkaProducer`` ingest uses (a fake implements it in tests)."""

    def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> _Future: ...

    def flush(self, timeout: float | None = None) -> None: ...


@dataclass
class IngestSummary:
    read: int = 0
    """Non-blank lines read."""
    valid: int = 0
    rejected: int = 0
    blank: int = 0
    published: int = 0
    """Valid events acknowledged by the broker."""
    dead_lettered: int = 0
    """Rejected lines acknowledged on the DLQ."""
    failed: int = 0
    """Sends the broker did not acknowledge (events or DLQ records)."""
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """The exit rule: fail only if there was something to publish and nothing was."""
        return not (self.read > 0 and self.published == 0)


class _Acks:
    def __init__(self, summary: IngestSummary) -> None:
        self._summary = summary
        self._lock = threading.Lock()

    def event(self, _metadata: object) -> None:
        with self._lock:
            self._summary.published += 1

    def dead_letter(self, _metadata: object) -> None:
        with self._lock:
            self._summary.dead_lettered += 1

    def failure(self, exc: BaseException) -> None:
        with self._lock:
            self._summary.failed += 1
            if len(self._summary.errors) < 5:
                self._summary.errors.append(f"{type(exc).__name__}: {exc}")


def iter_lines(
    path: Path, keep: int = MAX_DLQ_RAW_BYTES
) -> Iterator[tuple[int, bytes, int, int]]:
    """(1-based line number, line bytes without terminator, bytes consumed incl. it, the
    line's length without terminator). Of a line longer than ``keep`` bytes (plus its
    terminator) only the first ``keep + 2`` are returned: the rest is read in chunks and
    counted, never held in memory."""
    with path.open("rb") as fh:
        number = 0
        while True:
            head = fh.readline(keep + 2)
            if not head:
                return
            number += 1
            size, piece, end = len(head), head, head[-2:]
            while not piece.endswith(b"\n"):  # the line goes on (or the file ends)
                piece = fh.readline(1 << 20)
                if not piece:
                    break
                size += len(piece)
                end = (end + piece)[-2:]
            term = 0 if not end.endswith(b"\n") else 2 if end == b"\r\n" else 1
            line = head[: len(head) - term] if size == len(head) else head
            yield number, line, size, size - term


def ingest_file(
    path: Path,
    producer: Producer,
    settings: Settings,
    *,
    on_progress: Callable[[int], None] | None = None,
    flush_timeout: float = 60.0,
) -> IngestSummary:
    """Publish ``path`` line by line and flush; see the module docstring for the rules.
    ``on_progress`` gets the bytes read, in steps of about :data:`PROGRESS_BYTES` (the
    rest at the end)."""
    summary = IngestSummary()
    acks = _Acks(summary)
    events, dlq = settings.topics.events, settings.topics.dlq
    unreported = 0
    for number, line, size, length in iter_lines(path):
        if on_progress is not None:
            unreported += size
            if unreported >= PROGRESS_BYTES:
                on_progress(unreported)
                unreported = 0
        if not line.strip():
            summary.blank += 1
            continue
        summary.read += 1
        try:
            if length > len(line):  # cut by iter_lines: far over the limit
                raise InvalidEvent(too_large(length, MAX_EVENT_BYTES))
            subject = decode(line)[0]
        except InvalidEvent as exc:
            summary.rejected += 1
            letter = DeadLetter(exc.reason, line, source_file=path.name, line=number,
                                raw_size=length if length > len(line) else None)
            future = producer.send(
                dlq, value=letter.encode(), key=letter.key, headers=letter.headers()
            )
            future.add_callback(acks.dead_letter)
            future.add_errback(acks.failure)
            continue
        summary.valid += 1
        future = producer.send(events, value=line, key=subject.encode("utf-8"))
        future.add_callback(acks.event)
        future.add_errback(acks.failure)
    if on_progress is not None and unreported:
        on_progress(unreported)
    producer.flush(timeout=flush_timeout)
    return summary
