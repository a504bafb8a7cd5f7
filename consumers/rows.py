"""Kafka records → the rows of one sink batch (:class:`Batch`), before any database I/O.

:func:`build_batch` sorts the records of a poll by topic:

* events topic: a valid event becomes a ``raw_events`` row (its dossier code goes into
  ``subjects``, whose ledger rows the writer re-judges); an invalid one a dead letter;
  a CloudEvents binary-mode record (``ce_*`` headers) is stored as the structured JSON
  event it stands for (:func:`schemas.cloudevents.event_bytes`), so ``payload`` is always
  structured. Events are read with the one decode path (:func:`kpi.decode.decode`: the
  msgspec recognizer, else the pydantic models, which alone word the reasons), and the
  fact of each is kept in ``decoded`` so the writer need not decode it again;
* DLQ topic: the dead letter it carries (its original reason, value, key and headers),
  or the record's own bytes as a dead letter when it is not in our encoding;
* KPI topic: a ``kpi_snapshots`` row, a tombstone (no value; its key a
  :func:`kpi.report.snapshot_key`: ``unit|period`` for own figures, ``unit|period|total``
  for a total), or a dead letter when the snapshot cannot be read (a tombstone whose key
  is no snapshot key deletes nothing).

Nothing here raises on bad input: what cannot be read becomes a dead letter. A dead letter
row is keyed by the (topic, partition, offset) of the refused record — its origin — so the
row the sink makes of an invalid events-topic record and the row of the worker's dead
letter for the same record are one row; a letter without a Kafka origin (a file line, an
HTTP event) is keyed by its position on the DLQ topic. Every record moves ``offsets`` past
itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from consumers.snapshots import snapshot_row
from kpi.decode import decode
from kpi.dossier import KEY_SEPARATOR, KIND_OF_TYPE, Fact, FactKey
from kpi.report import parse_snapshot_key
from runtime.dlq import DeadLetter
from runtime.settings import Settings
from schemas.cloudevents import event_bytes
from schemas.errors import InvalidEvent
from schemas.events import TYPE_PREFIX

RECEIVED_TYPE = TYPE_PREFIX + "dossier.received"
TYPE_OF_KIND = {kind: TYPE_PREFIX + t for t, kind in KIND_OF_TYPE.items()}
"""Fact kind → event type (the inverse of :data:`kpi.dossier.KIND_OF_TYPE`)."""

Row = dict[str, Any]
TopicPartition = tuple[str, int]


@dataclass
class Batch:
    """The rows of one or more poll batches, in the store's row shapes."""

    events: list[Row] = field(default_factory=list)
    subjects: set[str] = field(default_factory=set)
    """Dossier codes whose ledger rows the batch's events may change."""
    decoded: dict[FactKey, Fact] = field(default_factory=dict)
    """Fact key → fact of the batch's events (the first event of a key wins, as its row
    does in the insert: :func:`consumers.store.dedupe` with ``first``)."""
    snapshots: list[Row] = field(default_factory=list)
    tombstones: list[tuple[str, str, str]] = field(default_factory=list)
    """(unit, period, scope) of snapshots to delete."""
    dead_letters: list[Row] = field(default_factory=list)
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    """(topic, partition) → next offset to read."""
    read: int = 0
    """Kafka records the rows come from."""

    def add_snapshot(self, row: Row) -> None:
        """A snapshot read after the batch's tombstones: an earlier tombstone of its key
        no longer deletes (the writer deletes after it upserts)."""
        if self.tombstones:
            key = (row["unit"], row["period"], row["scope"])
            self.tombstones = [t for t in self.tombstones if t != key]
        self.snapshots.append(row)

    def extend(self, other: Batch) -> None:
        """Add the rows of a later batch (offsets: the furthest wins)."""
        self.events.extend(other.events)
        self.subjects.update(other.subjects)
        for key, fact in other.decoded.items():
            self.decoded.setdefault(key, fact)
        for row in other.snapshots:
            self.add_snapshot(row)
        self.tombstones.extend(other.tombstones)
        self.dead_letters.extend(other.dead_letters)
        for tp, offset in other.offsets.items():
            self.offsets[tp] = max(self.offsets.get(tp, 0), offset)
        self.read += other.read

    @property
    def rows_by_kind(self) -> dict[str, int]:
        """Rows by kind (``event``, ``dead_letter``, ``snapshot``: tombstones included)."""
        return {"event": len(self.events), "dead_letter": len(self.dead_letters),
                "snapshot": len(self.snapshots) + len(self.tombstones)}


def merged(batches: Iterable[Batch]) -> Batch:
    """One batch holding the rows of ``batches`` in order."""
    out = Batch()
    for batch in batches:
        out.extend(batch)
    return out


def build_batch(records: Iterable[Any], settings: Settings) -> Batch:
    """The rows of ``records`` (``ConsumerRecord``-like: topic, partition, offset, key,
    value); records of topics other than the settings' events, DLQ and KPI topics only move
    the offsets."""
    topics = settings.topics
    batch = Batch()
    for rec in records:
        batch.read += 1
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


def _dead_letter_row(topic: str, partition: int, offset: int, letter: DeadLetter) -> Row:
    headers = letter.record_headers
    return {
        "topic": letter.topic if letter.topic is not None else topic,
        "partition": letter.partition if letter.partition is not None else partition,
        "offset": letter.offset if letter.offset is not None else offset,
        "reason": letter.reason,
        "raw": letter.raw,
        "subject": letter.subject,
        "source_file": letter.source_file,
        "line": letter.line,
        "recorded_at": datetime.now(UTC),
        "key": letter.record_key,
        "headers": orjson.dumps(DeadLetter.encode_headers(headers)).decode()
        if headers else None,
    }


def _refused(rec: Any, reason: str, raw: bytes, *, whole: bool = False) -> DeadLetter:
    """``rec`` refused with ``reason`` (``whole``: its key and headers kept too)."""
    return DeadLetter(reason, raw, topic=rec.topic, partition=rec.partition,
                      offset=rec.offset, record_key=rec.key if whole else None,
                      record_headers=tuple(getattr(rec, "headers", None) or ()) if whole
                      else ())


def _add_event(batch: Batch, rec: Any, value: bytes | None) -> None:
    raw = value or b""
    try:
        structured = event_bytes(raw, getattr(rec, "headers", None))
        subject, key, fact = decode(structured or b"")
    except InvalidEvent as exc:
        batch.dead_letters.append(_dead_letter_row(
            rec.topic, rec.partition, rec.offset, _refused(rec, exc.reason, raw, whole=True)))
        return
    # a valid event's source and id are printable: the separator is in neither
    source, event_id = key.split(KEY_SEPARATOR, 1)
    kind = fact[0]
    payload = structured.decode("utf-8") if isinstance(structured, bytes) else str(structured)
    batch.events.append(
        {
            "source": source,
            "id": event_id,
            "subject": subject,
            # the fact's instant is the event's time.timestamp(): this is the same instant
            "type": TYPE_OF_KIND[kind],
            "time": datetime.fromtimestamp(fact[1], UTC),
            "unit": fact[2] if kind == "received" else None,
            "payload": payload,
            "topic": rec.topic,
            "partition": rec.partition,
            "offset": rec.offset,
        }
    )
    batch.subjects.add(subject)
    batch.decoded.setdefault(key, fact)  # the first event of a key wins, like its row


def _add_dead_letter(batch: Batch, rec: Any, value: bytes | None) -> None:
    raw = value or b""
    try:
        letter = DeadLetter.decode(raw)
    except Exception as exc:  # not our encoding: keep the bytes as they are
        batch.dead_letters.append(_dead_letter_row(
            rec.topic, rec.partition, rec.offset,
            _refused(rec, f"undecodable dead letter ({type(exc).__name__}: {exc})", raw)))
        return
    batch.dead_letters.append(_dead_letter_row(rec.topic, rec.partition, rec.offset, letter))


def _add_snapshot(batch: Batch, rec: Any, value: bytes | None) -> None:
    if value is None:  # tombstone on the compacted topic
        try:
            batch.tombstones.append(
                parse_snapshot_key((rec.key or b"").decode("utf-8", "replace")))
        except ValueError:
            pass  # not a snapshot key: there is nothing to delete
        return
    try:
        batch.add_snapshot(snapshot_row(orjson.loads(value)))
    except Exception as exc:
        batch.dead_letters.append(_dead_letter_row(
            rec.topic, rec.partition, rec.offset,
            _refused(rec, f"invalid KPI snapshot ({type(exc).__name__}: {exc})", value)))


__all__ = ["Batch", "build_batch", "merged"]
