"""Parse raw bytes into a v1 event, or say in one line why not.

Errors are translated at this boundary (httpx style): callers catch :class:`InvalidEvent`
and never see pydantic's or orjson's exceptions. The reason names the field and the rule,
e.g. ``data.channel: Input should be 'direct', 'online' or 'postal'``.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from schemas.events import EVENT_ADAPTER, EVENT_TYPES, Event


class InvalidEvent(ValueError):
    """An input that is not a valid v1 event. ``reason`` is one line for people and the DLQ."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
            where, msg = "type", f"unknown event type {tag!r}"
        elif err["type"] == "union_tag_not_found":
            where, msg = "type", "field required"
        elif err["type"] == "missing":
            msg = "field required"
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


def parse_event(raw: bytes | str) -> Event:
    """Validate one JSON document (bytes or text) as a v1 event."""
    try:
        return EVENT_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        if exc.error_count() == 1 and exc.errors()[0]["type"] == "json_invalid":
            detail = exc.errors()[0]["ctx"].get("error", "invalid")
            raise InvalidEvent(f"not JSON: {detail}") from exc
        raise InvalidEvent(describe(exc)) from exc


def parse_obj(obj: Any) -> Event:
    """Validate an already-decoded object (re-encoded so the JSON rules apply)."""
    return parse_event(orjson.dumps(obj))
