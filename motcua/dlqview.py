"""Dead letters as a vendor reads them: ``motcua dlq list`` and ``motcua dlq show``.

Contract:

* A letter's id is the key of its row in the SQL store's ``dlq_records``:
  ``topic:partition:offset`` of the refused record (a Kafka record the worker or the sink
  refused), or of the dead letter on the DLQ topic (a file line, an HTTP event). The same id
  whether the letter is read from the store or from the broker (:func:`letter_id`), so
  ``motcua dlq show ID`` finds what ``list`` printed.
* :func:`from_store` reads ``dlq_records`` (None when there is no store: no SQLite file,
  or no such table); :func:`from_broker` reads the DLQ topic (:func:`runtime.replay.
  read_letters`). Both return :class:`Entry` in id order, filtered by
  :class:`runtime.replay.Filters`.
* :func:`list_line` is one tab-separated line: id, time, origin, source, key, headers,
  reason (``-`` for none; a header without a value shows as its name alone). :func:`shown`
  is the whole letter, one field a line, the refused value as text (or base64 when it is
  not UTF-8).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson

from runtime.dlq import DeadLetter, Header
from runtime.replay import Filters, Letter, read_letters
from runtime.settings import Settings

LOCAL = timezone(timedelta(hours=7))
SHORT = 60
"""Characters of a key or a header value a list line shows (``show`` shows them whole)."""


@dataclass(frozen=True)
class Entry:
    """One dead letter with its id and the time it was written (epoch seconds)."""

    id: str
    when: float
    letter: DeadLetter

    @property
    def found(self) -> Letter:
        """As :class:`runtime.replay.Letter` (for its ``source``, ``origin`` and filters)."""
        topic, partition, offset = split_id(self.id)
        return Letter(partition, offset, self.when, self.letter)


def letter_id(letter: DeadLetter, topic: str, partition: int, offset: int) -> str:
    """The id of ``letter`` found at (``topic``, ``partition``, ``offset``) on the DLQ
    topic: its Kafka origin if it has one, else that position (the sink's row key)."""
    if letter.topic is not None and letter.partition is not None \
            and letter.offset is not None:
        return f"{letter.topic}:{letter.partition}:{letter.offset}"
    return f"{topic}:{partition}:{offset}"


def split_id(text: str) -> tuple[str, int, int]:
    """(topic, partition, offset) of an id; ValueError when it is not one."""
    topic, partition, offset = text.rsplit(":", 2)
    if not topic:
        raise ValueError(text)
    return topic, int(partition), int(offset)


ANY = Filters()


def from_broker(settings: Settings, bootstrap: str, filters: Filters = ANY) -> list[Entry]:
    """The letters on the DLQ topic."""
    dlq = settings.topics.dlq
    return sorted((Entry(letter_id(lt.letter, dlq, lt.partition, lt.offset), lt.timestamp,
                         lt.letter) for lt in read_letters(settings, bootstrap, filters)),
                  key=_order)


def _decode_headers(text: str | None) -> tuple[Header, ...]:
    if not text:
        return ()
    return tuple((str(name), None if value is None else base64.b64decode(value))
                 for name, value in orjson.loads(text))


def from_store(url: str, filters: Filters = ANY) -> list[Entry] | None:
    """The letters in the store's ``dlq_records``; None when there is no such store."""
    from sqlalchemy import inspect, select

    from consumers import store, tables

    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):].split("?", 1)[0]
        if path and path != ":memory:" and not Path(path).exists():
            return None
    engine = store.make_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table(tables.dlq_records.name):
                return None
            rows = list(conn.execute(select(tables.dlq_records)))
    finally:
        engine.dispose()
    out = []
    for row in rows:
        kafka = row.source_file is None
        letter = DeadLetter(row.reason, bytes(row.raw), source_file=row.source_file,
                            line=row.line, topic=row.topic if kafka else None,
                            partition=row.partition if kafka else None,
                            offset=row.offset if kafka else None,
                            record_key=None if row.key is None else bytes(row.key),
                            record_headers=_decode_headers(row.headers))
        when = row.recorded_at if row.recorded_at.tzinfo else \
            row.recorded_at.replace(tzinfo=UTC)
        entry = Entry(f"{row.topic}:{row.partition}:{row.offset}", when.timestamp(), letter)
        if filters.match(entry.found):
            out.append(entry)
    return sorted(out, key=_order)


def _order(entry: Entry) -> tuple[str, int, int]:
    return split_id(entry.id)


def _text(value: bytes | None, limit: int | None = None) -> str:
    if value is None:
        return "-"
    text = value.decode("utf-8", "backslashreplace")
    if limit is not None and len(text) > limit:
        text = text[:limit] + "…"
    return text.replace("\t", " ").replace("\n", " ")


def _headers(headers: tuple[Header, ...], limit: int | None) -> str:
    if not headers:
        return "-"
    return " ".join(name if value is None else f"{name}={_text(value, limit)}"
                    for name, value in headers)


def _when(entry: Entry) -> str:
    return datetime.fromtimestamp(entry.when, LOCAL).isoformat(timespec="seconds")


def list_line(entry: Entry) -> str:
    """id, time, origin, source, key, headers, reason (tab-separated)."""
    lt, found = entry.letter, entry.found
    return "\t".join((entry.id, _when(entry), found.origin, found.source or "-",
                      _text(lt.key, SHORT), _headers(lt.record_headers, SHORT), lt.reason))


def shown(entry: Entry) -> list[str]:
    """The whole letter, one field a line."""
    lt, found = entry.letter, entry.found
    try:
        value = lt.raw.decode("utf-8")
        raw = f"value ({len(lt.raw):,} bytes):\n{value}"
    except UnicodeDecodeError:
        raw = f"value ({len(lt.raw):,} bytes, base64):\n{base64.b64encode(lt.raw).decode()}"
    lines = [f"id: {entry.id}", f"written: {_when(entry)}", f"origin: {found.origin}",
             f"reason: {lt.reason}", f"source: {found.source or '-'}",
             f"subject: {lt.subject or '-'}", f"key: {_text(lt.record_key)}",
             f"headers: {len(lt.record_headers)}"]
    lines += [f"  {name}" + ("" if value is None else f": {_text(value)}")
              for name, value in lt.record_headers]
    if lt.raw_size is not None:
        lines.append(f"cut: {lt.raw_size:,} bytes refused, {len(lt.raw):,} kept "
                     "(cannot be replayed exactly)")
    return [*lines, raw]


__all__ = ["Entry", "from_broker", "from_store", "letter_id", "list_line", "shown",
           "split_id"]
