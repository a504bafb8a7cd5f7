"""Dead letters read back and re-published: ``motcua dlq list`` and ``motcua dlq replay``.

:func:`read_letters` reads the DLQ topic from its beginning to its end offsets at call time
and returns the letters that match the :class:`Filters` (reason substring, event ``source``,
DLQ record time at or after ``since``).

:func:`replay` re-publishes each chosen letter exactly as it came — the refused record's
key, every header, its value — to the topic it was refused on (the events topic for letters
without a Kafka origin: a file line or an HTTP event, keyed by their dossier code as the
ingest would have keyed them), and waits for the broker's acknowledgement of each. It is
idempotent:

* a letter already replayed (its DLQ position is in the replay record, a JSON Lines file
  under the data dir) is skipped — and the events it re-published are harmless anyway,
  the (``source``, ``id``) deduplication makes a second copy change nothing;
* a letter that the current validation still refuses is not re-published (it would only
  come back as a new dead letter): the report gives its reason now;
* a letter whose value was cut (``raw_size``) cannot be re-published exactly and is
  skipped; so is a letter refused on another topic than the events topic (a bad KPI
  snapshot: the worker writes a new one).

Every re-published letter gets one line in the replay record: the DLQ position, where it
went (topic, partition, offset) and when. ``dry_run`` decides and reports the same without
publishing or recording anything.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from kpi.decode import decode_record
from runtime.dlq import DeadLetter
from runtime.kafka import producer as kafka_producer
from runtime.kafka import read_topic
from runtime.settings import Settings
from schemas.cloudevents import KAFKA_PREFIX, header
from schemas.errors import DeliveryFailed, InvalidEvent

REPLAY_RECORD = "dlq-replayed.jsonl"
"""The replay record's file name under the data dir."""


@dataclass(frozen=True)
class Letter:
    """One DLQ record read back: its position and time on the DLQ topic, and the letter."""

    partition: int
    offset: int
    timestamp: float
    """The DLQ record's time (epoch seconds)."""
    letter: DeadLetter

    @property
    def source(self) -> str | None:
        """The refused event's ``source`` if it can be read (value or ``ce_source``)."""
        try:
            obj = orjson.loads(self.letter.raw)
        except orjson.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and isinstance(obj.get("source"), str):
            return str(obj["source"])
        value = header(self.letter.record_headers, KAFKA_PREFIX + "source")
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else value

    @property
    def origin(self) -> str:
        """Where the refused input was: ``topic/partition@offset`` or ``file:line``."""
        lt = self.letter
        if lt.topic is not None:
            return f"{lt.topic}/{lt.partition}@{lt.offset}"
        return f"{lt.source_file}:{lt.line}"


@dataclass(frozen=True)
class Filters:
    """Which letters: ``reason`` contains the text, ``source`` equals the event's source,
    DLQ record time at or after ``since`` (epoch seconds). None: any."""

    reason: str | None = None
    source: str | None = None
    since: float | None = None

    def match(self, letter: Letter) -> bool:
        return ((self.reason is None or self.reason in letter.letter.reason)
                and (self.source is None or letter.source == self.source)
                and (self.since is None or letter.timestamp >= self.since))


def read_letters(settings: Settings, bootstrap: str, filters: Filters = Filters()
                 ) -> list[Letter]:
    """The dead letters on the DLQ topic matching ``filters``, in partition/offset order
    (records not in the dead-letter encoding are left out)."""
    out = []
    for rec in read_topic(settings, bootstrap, settings.topics.dlq):
        if rec.value is None:  # a tombstone: nothing to re-publish
            continue
        try:
            letter = DeadLetter.decode(rec.value)
        except Exception:  # noqa: BLE001 - not ours: nothing to re-publish
            continue
        found = Letter(rec.partition, rec.offset, rec.timestamp / 1000, letter)
        if filters.match(found):
            out.append(found)
    return out


@dataclass
class ReplayReport:
    """What :func:`replay` did (or, dry, would do)."""

    published: list[tuple[Letter, str, int, int]] = field(default_factory=list)
    """(letter, topic, partition, offset) of every re-published letter (dry: offset -1)."""
    already: list[Letter] = field(default_factory=list)
    still_invalid: list[tuple[Letter, str]] = field(default_factory=list)
    not_exact: list[Letter] = field(default_factory=list)
    other_topic: list[Letter] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report, one line per letter, then a summary line."""
        out = [f"{lt.partition}@{lt.offset} → {topic}/{p}@{o} ({lt.origin})"
               for lt, topic, p, o in self.published]
        out += [f"{lt.partition}@{lt.offset} already replayed" for lt in self.already]
        out += [f"{lt.partition}@{lt.offset} still invalid: {why}"
                for lt, why in self.still_invalid]
        out += [f"{lt.partition}@{lt.offset} value was cut: cannot be replayed exactly"
                for lt in self.not_exact]
        out += [f"{lt.partition}@{lt.offset} refused on {lt.letter.topic}: not replayed"
                for lt in self.other_topic]
        out.append(f"re-published {len(self.published)}, already replayed "
                   f"{len(self.already)}, still invalid {len(self.still_invalid)}, "
                   f"cut {len(self.not_exact)}, other topics {len(self.other_topic)}")
        return out


def replay_record_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / REPLAY_RECORD


def replayed_positions(path: Path, dlq_topic: str) -> set[tuple[int, int]]:
    """(partition, offset) of the DLQ records of ``dlq_topic`` already replayed."""
    if not path.exists():
        return set()
    done = set()
    for line in path.read_bytes().splitlines():
        if line.strip():
            obj = orjson.loads(line)
            if obj["dlq"][0] == dlq_topic:
                done.add((obj["dlq"][1], obj["dlq"][2]))
    return done


def _record_of(letter: DeadLetter) -> tuple[bytes | None, list[tuple[str, Any]]]:
    """Key and headers to re-publish: the refused record's, or, for a file line or HTTP
    event, the dossier code as key (as the ingest keys events) and no headers."""
    key = letter.key if letter.topic is None else letter.record_key
    return key, list(letter.record_headers)


def replay(settings: Settings, bootstrap: str, letters: Iterable[Letter], *,
           dry_run: bool = False, timeout: float = 30.0) -> ReplayReport:
    """Re-publish ``letters`` (see the module docstring); raises :class:`DeliveryFailed`
    when the broker does not acknowledge one (those before it stay recorded)."""
    events, dlq = settings.topics.events, settings.topics.dlq
    path = replay_record_path(settings)
    done = replayed_positions(path, dlq)
    report = ReplayReport()
    chosen: list[Letter] = []
    for lt in letters:
        letter = lt.letter
        if (lt.partition, lt.offset) in done:
            report.already.append(lt)
        elif letter.topic not in (None, events):
            report.other_topic.append(lt)
        elif not letter.replayable:
            report.not_exact.append(lt)
        else:
            try:
                decode_record(letter.raw, letter.record_headers)
            except InvalidEvent as exc:
                report.still_invalid.append((lt, exc.reason))
                continue
            chosen.append(lt)
    if dry_run:
        report.published = [(lt, events, -1, -1) for lt in chosen]
        return report
    if not chosen:
        return report
    prod = kafka_producer(settings, bootstrap)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("ab") as out:
            for lt in chosen:
                key, headers = _record_of(lt.letter)
                try:
                    meta = prod.send(events, value=lt.letter.raw, key=key,
                                     headers=headers).get(timeout=timeout)
                except Exception as exc:
                    raise DeliveryFailed(
                        f"replay of DLQ {lt.partition}@{lt.offset} not acknowledged "
                        f"({type(exc).__name__}: {exc})") from exc
                partition, offset = meta.partition(), meta.offset()
                report.published.append((lt, events, partition, offset))
                out.write(orjson.dumps({
                    "dlq": [dlq, lt.partition, lt.offset],
                    "to": [events, partition, offset],
                    "at": time.time(), "reason": lt.letter.reason}) + b"\n")
                out.flush()
    finally:
        prod.close()
    return report


__all__ = ["Filters", "Letter", "ReplayReport", "read_letters", "replay",
           "replay_record_path", "replayed_positions"]
