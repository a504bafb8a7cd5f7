"""What the HTTP ingest promises, in numbers and in its OpenAPI document: the size limits,
the ``Retry-After`` of a 503, and the description of ``POST /v1/events``.

The request body schemas are the contract's own: the JSON Schema that pydantic makes of
:data:`schemas.events.EVENT_ADAPTER` (every v1 event type, discriminated by ``type``) is
served as ``#/components/schemas/Event`` (with the schemas it refers to), a structured
request is one ``Event``, a batch an array of at most :data:`MAX_BATCH_EVENTS` of them.
A schema-valid body may still be refused with 400: some rules (printable codes, the time
range, a binary event's ``ce-*`` headers) are more than a JSON Schema says.
"""

from __future__ import annotations

from typing import Any

from schemas.cloudevents import BATCH, JSON, STRUCTURED
from schemas.events import EVENT_ADAPTER
from schemas.validate import MAX_EVENT_BYTES

MAX_BATCH_EVENTS = 1000
MAX_BATCH_BYTES = 8 * 1024 * 1024
RETRY_AFTER_SECONDS = 5

_COMPONENTS = "#/components/schemas/"


def event_components() -> dict[str, Any]:
    """``components.schemas`` entries: ``Event`` and every schema it refers to."""
    schema = EVENT_ADAPTER.json_schema(ref_template=_COMPONENTS + "{model}")
    defs = schema.pop("$defs", {})
    schema["description"] = ("A CloudEvents 1.0 event of docs/contract.md (structured mode), "
                             f"at most {MAX_EVENT_BYTES:,} bytes of JSON")
    return {**defs, "Event": schema}


_EVENT = {"$ref": _COMPONENTS + "Event"}
_REASON = {"type": "object", "required": ["reason"],
           "properties": {"reason": {"type": "string"}}}
_ANSWER = {"type": "object", "required": ["accepted", "rejected"], "properties": {
    "accepted": {"type": "integer", "minimum": 0},
    "rejected": {"type": "array", "items": {
        "type": "object", "required": ["index", "reason"], "properties": {
            "index": {"type": "integer"}, "id": {"type": "string"},
            "reason": {"type": "string"}}}}}}

POST_EVENTS: dict[str, Any] = {
    "requestBody": {"required": True, "content": {
        STRUCTURED: {"schema": _EVENT},
        BATCH: {"schema": {
            "type": "array", "items": _EVENT, "maxItems": MAX_BATCH_EVENTS,
            "description": f"at most {MAX_BATCH_EVENTS:,} events and {MAX_BATCH_BYTES:,} "
                           "bytes (else 413); an invalid event is listed in the answer's "
                           "rejected and dead-lettered, the valid ones are accepted"}},
        JSON: {"schema": {"type": "object",
                          "description": "binary mode: the event's data object; the "
                                         "envelope in ce-specversion, ce-id, ce-source, "
                                         "ce-type, ce-time and ce-subject headers"}},
    }},
    "responses": {
        "202": {"description": "every accepted event acknowledged by the broker",
                "content": {"application/json": {"schema": _ANSWER}}},
        **{str(code): {"description": text,
                       "content": {"application/json": {"schema": _REASON}}}
           for code, text in ((400, "an invalid single event (dead-lettered, as an invalid "
                                    "event of a batch is)"),
                              (401, "no or unknown token"),
                              (403, "a source the token may not send"),
                              (413, "over the size limits"), (415, "another content type"),
                              (503, "not confirmed: the broker did not acknowledge every "
                                    "record in time; some events may be stored already. "
                                    "Re-send the whole request with the same event ids "
                                    "after Retry-After seconds: an event is counted once"))},
    },
}
"""``openapi_extra`` of ``POST /v1/events``."""


__all__ = ["MAX_BATCH_BYTES", "MAX_BATCH_EVENTS", "POST_EVENTS", "RETRY_AFTER_SECONDS",
           "event_components"]
