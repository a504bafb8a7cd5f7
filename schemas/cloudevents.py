"""CloudEvents content modes → the structured event (Kafka and HTTP protocol bindings 1.0).

docs/contract.md, "Transport bindings": an event arrives either in *structured* mode (the
value is the whole event JSON) or in *binary* mode (the envelope attributes in headers —
``ce_<name>`` on Kafka, ``ce-<name>`` on HTTP — and the value is the ``data`` object's
JSON). Both mean the same event. :func:`event_bytes` turns either into the structured JSON
bytes, which the one parse boundary (:func:`kpi.decode.decode_record`,
:func:`schemas.validate.parse_event`) then validates — so the same validation applies to
both modes and every reason stays one line.

Contract of the binary → structured conversion (:func:`binary_to_structured`):

* a record is binary mode if and only if it has a ``<prefix>specversion`` header;
* header names are matched case-insensitively; every ``<prefix><name>`` header becomes the
  attribute ``<name>`` with the header's value read as UTF-8 (HTTP values are
  percent-decoded first, as the HTTP binding writes them); a repeated attribute header, an
  attribute named ``data``/``data_base64`` or a value that is not UTF-8 is refused;
* ``<prefix>datacontenttype`` or a ``content-type`` header (parameters such as
  ``charset=utf-8`` ignored) must be ``application/json`` when present; the structured event
  then carries ``"datacontenttype": "application/json"``;
* the value (at most :data:`schemas.validate.MAX_EVENT_BYTES`) must be JSON and becomes
  ``data``; an empty value means no ``data``.

For structured mode a ``content-type`` header, if present, must be
``application/cloudevents+json`` — or ``application/json`` with no ``ce_*`` header, which
the official CloudEvents Python SDK's Kafka ``to_structured`` writes for an event with a
``datacontenttype``: the value must then still be a whole CloudEvent (the parse boundary
decides). Everything
refused raises :class:`InvalidEvent` with a
one-line reason. Pure: a list of ``(name, value)`` headers in, bytes out — no Kafka or HTTP
library involved.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson

from schemas.errors import InvalidEvent
from schemas.validate import MAX_EVENT_BYTES, one_line, too_large

KAFKA_PREFIX = "ce_"
"""Attribute header prefix of the Kafka protocol binding."""
HTTP_PREFIX = "ce-"
"""Attribute header prefix of the HTTP protocol binding."""

JSON = "application/json"
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"

HeaderValue = bytes | str | None
Headers = Iterable[tuple[str, HeaderValue]]
"""Headers as ``(name, value)`` pairs: Kafka clients' lists, or an HTTP header mapping's
``items()``."""

_NOT_ATTRIBUTES = frozenset({"data", "data_base64"})
_PERCENT = re.compile(rb"%([0-9A-Fa-f]{2})")


def media_type(value: str | None) -> str | None:
    """The media type of a ``Content-Type`` value, lower-case, parameters dropped."""
    if value is None:
        return None
    return value.split(";", 1)[0].strip().lower()


def header(headers: Headers, name: str) -> HeaderValue:
    """The value of the first header called ``name`` (case-insensitive), else None."""
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value if value is not None else b""
    return None


def is_binary(headers: Headers | None, prefix: str = KAFKA_PREFIX) -> bool:
    """True if the headers carry a ``<prefix>specversion`` attribute (binary mode)."""
    return bool(headers) and header(headers or (), prefix + "specversion") is not None


def _text(name: str, value: HeaderValue, *, percent: bool) -> str:
    raw = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value or b""
    if percent:
        raw = _PERCENT.sub(lambda m: bytes((int(m.group(1), 16),)), raw)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent(f"header {_name(name)}: not UTF-8 ({exc.reason})") from exc


def _name(name: str) -> str:
    return one_line(repr(name)[1:-1], 100)


def _check_json_type(name: str, value: str) -> None:
    if media_type(value) != JSON:
        raise InvalidEvent(one_line(
            f"header {_name(name)}: binary-mode data must be {JSON}, not {value[:100]!r}"))


def binary_to_structured(headers: Headers, data: bytes | str | None, *,
                         prefix: str = KAFKA_PREFIX,
                         max_bytes: int = MAX_EVENT_BYTES) -> bytes:
    """The structured JSON of a binary-mode event (``headers`` + the ``data`` value)."""
    percent = prefix == HTTP_PREFIX
    attributes: dict[str, Any] = {}
    content_type: str | None = None
    for name, value in headers:
        lower = name.lower()
        if lower.startswith(prefix):
            attr = lower[len(prefix):]
            if not attr or attr in _NOT_ATTRIBUTES:
                raise InvalidEvent(f"header {_name(name)}: not a CloudEvents attribute")
            if attr in attributes:
                raise InvalidEvent(f"header {_name(name)}: given more than once")
            attributes[attr] = _text(name, value, percent=percent)
        elif lower == "content-type":
            content_type = _text(name, value, percent=False)
            _check_json_type(name, content_type)
    if "datacontenttype" in attributes:
        _check_json_type(prefix + "datacontenttype", attributes["datacontenttype"])
    if content_type is not None or "datacontenttype" in attributes:
        attributes["datacontenttype"] = JSON
    if data:
        size = len(data) if isinstance(data, bytes | bytearray) else len(data.encode())
        if size > max_bytes:
            raise InvalidEvent(too_large(size, max_bytes))
        try:
            attributes["data"] = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise InvalidEvent(one_line(f"data: not JSON: {exc}")) from exc
    return orjson.dumps(attributes)


def check_structured(headers: Headers | None) -> None:
    """Refuse a structured-mode record whose ``content-type`` is neither a CloudEvent's nor
    plain JSON, or is plain JSON beside ``ce_*`` headers (a binary record that lost its
    ``ce_specversion``: the reason says so)."""
    value = header(headers or (), "content-type")
    if value is None:
        return
    text = _text("content-type", value, percent=False)
    kind = media_type(text)
    half_binary = kind == JSON and any(
        name.lower().startswith(KAFKA_PREFIX) for name, _ in headers or ())
    if kind not in (STRUCTURED, JSON) or half_binary:
        raise InvalidEvent(one_line(
            f"header content-type: {text[:100]!r} without a {KAFKA_PREFIX}specversion header "
            f"(a structured event is {STRUCTURED}; a binary one has {KAFKA_PREFIX}* headers)"))


def event_bytes(value: bytes | str | None, headers: Headers | None, *,
                prefix: str = KAFKA_PREFIX) -> bytes | str | None:
    """The structured event of a record in either mode: ``value`` itself for structured
    mode (after the ``content-type`` check), the converted JSON for binary mode."""
    if headers:
        headers = list(headers)
        if is_binary(headers, prefix):
            return binary_to_structured(headers, value, prefix=prefix)
        check_structured(headers)
    return value


__all__ = [
    "BATCH", "HTTP_PREFIX", "JSON", "KAFKA_PREFIX", "STRUCTURED", "Headers",
    "binary_to_structured", "check_structured", "event_bytes", "header", "is_binary",
    "media_type",
]
