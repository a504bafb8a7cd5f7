"""Parse raw bytes into a v1 event, or say in one line why not.

Errors are translated at this boundary (httpx style): callers catch :class:`InvalidEvent`
and never see pydantic's or orjson's exceptions. The reason names the field and the rule,
e.g. ``data.channel: Input should be 'direct', 'online' or 'postal'``; it is one line of at
most :data:`MAX_REASON_CHARS` characters, whatever the input.

An event larger than :data:`MAX_EVENT_BYTES` is refused before any JSON is parsed; the
JSON parser refuses nesting deeper than 200 levels, invalid UTF-8 and lone surrogates
(``"\ud800"``). The field rules are in :mod:`schemas.events`.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from schemas.errors import InvalidEvent
from schemas.events import EVENT_ADAPTER, EVENT_TYPES, Event

__all__ = ["MAX_EVENT_BYTES", "MAX_REASON_CHARS", "InvalidEvent", "one_line", "parse_event"]

MAX_EVENT_BYTES = 65_536
"""The largest event accepted, in bytes of UTF-8 (real events are well under 2 KiB)."""

MAX_REASON_CHARS = 1000
"""Reasons are cut to this length (they go into DLQ records and headers)."""


def describe(exc: ValidationError) -> str:
    """One line naming each failing field and the reason (the discriminator tag left out)."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"]]
        if loc and loc[0] in EVENT_TYPES:
            loc = loc[1:]
        where = ".".join(loc) or "event"
        msg = err["msg"]
        if err["type"] == "union_tag_invalid":
            tag = err["input"].get("type") if isinstance(err.get("input"), dict) else None
            where, msg = "type", f"unknown event type {_short_repr(tag)}"
        elif err["type"] == "union_tag_not_found":
            where, msg = "type", "field required"
        elif err["type"] == "missing":
            msg = "field required"
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(reason: str, limit: int = MAX_REASON_CHARS) -> str:
    """``reason`` on one line (line breaks become spaces), cut to ``limit`` characters."""
    if "\n" in reason or "\r" in reason:
        reason = " ".join(reason.splitlines())
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"


def too_large(size: int, limit: int = MAX_EVENT_BYTES) -> str:
    """The reason given for an event of ``size`` bytes over ``limit``."""
    return f"event is {size:,} bytes; the limit is {limit:,}"


def _size(raw: Any, limit: int) -> int:
    if isinstance(raw, bytes | bytearray):
        return len(raw)
    if isinstance(raw, str):
        if len(raw) * 4 <= limit:  # no UTF-8 encoding of it can be over the limit
            return len(raw)
        return len(raw.encode("utf-8", "surrogatepass"))
    if raw is None:
        raise InvalidEvent("no value (an empty record)")
    raise InvalidEvent(f"not JSON text: a {type(raw).__name__}")


def parse_event(raw: bytes | str, *, max_bytes: int = MAX_EVENT_BYTES) -> Event:
    """Validate one JSON document (bytes or text) as a v1 event.

    Raises :class:`InvalidEvent` — and nothing else — for any input that is not one."""
    size = _size(raw, max_bytes)
    if size > max_bytes:
        raise InvalidEvent(too_large(size, max_bytes))
    try:
        return EVENT_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        if exc.error_count() == 1 and exc.errors()[0]["type"] == "json_invalid":
            detail = exc.errors()[0]["ctx"].get("error", "invalid")
            raise InvalidEvent(one_line(f"not JSON: {detail}")) from exc
        raise InvalidEvent(one_line(describe(exc))) from exc
    except (RecursionError, OverflowError, UnicodeError) as exc:  # belt and braces
        raise InvalidEvent(f"cannot be read: {type(exc).__name__}") from exc


def parse_obj(obj: Any) -> Event:
    """Validate an already-decoded object (re-encoded so the JSON rules apply)."""
    return parse_event(orjson.dumps(obj))
