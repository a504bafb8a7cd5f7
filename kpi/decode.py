"""The one decode path from an event's bytes to a dossier fact, shared by the batch report,
the stream worker and the SQL sink.

:func:`decode` first asks the msgspec recognizer (:func:`kpi.fastparse.fast_fact`), which
accepts only a conservative subset of valid events, then falls back to the pydantic models
(:func:`schemas.validate.parse_event`), which alone decide rejections and word their
reasons. Either way the result is the same ``(subject, fact key, fact)``: the hypothesis
tests of ``tests/unit/test_fastparse.py`` and ``tests/unit/test_hostile_input.py`` check
that the two paths never disagree.

:func:`decode_record` is the entry for a Kafka record in either CloudEvents content mode
(docs/contract.md, "Transport bindings"): the ``(value, headers)`` of a binary-mode record
become the structured event (:func:`schemas.cloudevents.event_bytes`) before the same
:func:`decode`, so both modes give identical facts (``tests/unit/test_cloudevents.py``).
"""

from __future__ import annotations

from kpi.dossier import Fact, FactKey, fact_key, fact_of
from kpi.fastparse import fast_fact
from schemas.cloudevents import Headers, event_bytes
from schemas.errors import InvalidEvent
from schemas.validate import parse_event

Decoded = tuple[str, FactKey, Fact]
"""``(subject, fact key, fact)`` of one event: the dossier code and what it adds."""


def decode(raw: bytes | str) -> Decoded:
    """The fact of one event's bytes; raises :class:`schemas.errors.InvalidEvent` (with a
    one-line ``reason``) and nothing else for bad input."""
    quick = fast_fact(raw) if isinstance(raw, bytes) else None
    if quick is not None:
        return quick
    event = parse_event(raw)
    return event.subject, fact_key(event.source, event.id), fact_of(event)


def decode_record(value: bytes | str | None, headers: Headers | None = None) -> Decoded:
    """The fact of one record, structured (``value`` is the event) or binary mode
    (``ce_*`` headers + ``value`` is its ``data``); raises :class:`InvalidEvent` only."""
    raw = event_bytes(value, headers)
    if raw is None:
        raise InvalidEvent("no value (an empty record)")
    return decode(raw)


__all__ = ["Decoded", "InvalidEvent", "decode", "decode_record"]
