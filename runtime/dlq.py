"""Dead-letter records: the one encoding of "this input was refused, here is why" — with
the refused record kept whole, so that once its producer is fixed it can be re-published
exactly as it came (``motcua dlq replay``, :mod:`runtime.replay`).

A DLQ record's value is a JSON object::

    {"reason": "data.channel: Input should be ...", "raw_b64": "<original value>",
     "key_b64": "<original key>", "headers": [["ce_id", "<b64 value>"], ...],
     "topic": "motcua.events.v1", "partition": 3, "offset": 1207}

``raw_b64`` is the refused record's value, ``key_b64`` its key and ``headers`` every one of
its headers in order (values base64, ``null`` for a header without a value); absent when the
input had none. The origin is ``topic``/``partition``/``offset`` of the refused record when
a Kafka record was refused (the stream worker), ``source_file``/``line`` when ``motcua
ingest`` refused a line of a file, and ``source_file`` = ``http`` with ``line`` = the index
in the request when the HTTP ingest refused an event of a batch. Absent fields are omitted.

The DLQ record's own key is the refused record's key; without one (a file line, an HTTP
event, an unkeyed record) it is the dossier code (``subject``) when it can be read from the
value or a ``ce_subject`` header and is a valid code (:func:`schemas.fields.is_valid_code`),
so a dossier's refused events sit next to each other; otherwise there is no key. The reason
and origin are repeated as headers (``motcua.dlq.*``) for tools that only look at headers;
the refused record's own headers are only in the value (copied to the DLQ record, ``ce_*``
headers would make it look like a binary-mode event).

So that a record always fits in a Kafka message (1 MB by default), at most
:data:`MAX_DLQ_RAW_BYTES` of the value are kept; when more were refused, ``raw_size`` gives
the original length (such a letter cannot be replayed exactly, and replay says so). The
reason is cut to 1,000 characters on one line. A record with no value (``None``) is kept as
empty bytes.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import orjson

from schemas.cloudevents import KAFKA_PREFIX, header
from schemas.fields import is_valid_code
from schemas.validate import MAX_EVENT_BYTES, one_line

HEADER_PREFIX = "motcua.dlq."
_ORIGIN_FIELDS = ("source_file", "line", "topic", "partition", "offset")

HTTP_ORIGIN = "http"
"""``source_file`` of the dead letters the HTTP ingest writes (``line``: index in the batch)."""

Header = tuple[str, bytes | None]

MAX_DLQ_RAW_BYTES = 4 * MAX_EVENT_BYTES
"""Raw bytes kept in one DLQ record (256 KiB; base64 makes it ~342 KiB on the wire)."""


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    raw: bytes
    source_file: str | None = None
    line: int | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    raw_size: int | None = None
    """The refused input's length when longer than the ``raw`` kept (else None)."""
    record_key: bytes | None = None
    """The refused record's key (None: it had none, or the input was not a record)."""
    record_headers: tuple[Header, ...] = field(default=())
    """Every header of the refused record, in order."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "record_headers", tuple(
            (str(name), None if value is None else bytes(value))
            for name, value in self.record_headers or ()))
        if self.record_key is not None and not isinstance(self.record_key, bytes):
            object.__setattr__(self, "record_key", bytes(self.record_key))
        if self.raw is None:  # a record with no value (a tombstone)
            object.__setattr__(self, "raw", b"")
        elif not isinstance(self.raw, bytes):
            object.__setattr__(self, "raw", bytes(self.raw))
        if len(self.raw) > MAX_DLQ_RAW_BYTES:
            object.__setattr__(self, "raw_size", self.raw_size or len(self.raw))
            object.__setattr__(self, "raw", self.raw[:MAX_DLQ_RAW_BYTES])
        object.__setattr__(self, "reason", one_line(_utf8(str(self.reason))))
        if self.source_file is not None:  # a file name may hold undecodable bytes
            object.__setattr__(self, "source_file", _utf8(self.source_file))

    @property
    def key(self) -> bytes | None:
        """The DLQ record's key: the refused record's key, else its dossier code."""
        if self.record_key is not None:
            return self.record_key
        subject = self.subject
        return subject.encode("utf-8") if subject is not None else None

    @property
    def subject(self) -> str | None:
        """The refused event's dossier code, if one can be read (value or ``ce_subject``)."""
        subject = recover_subject(self.raw)
        if subject is None and self.record_headers:
            value = header(self.record_headers, KAFKA_PREFIX + "subject")
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            subject = text if is_valid_code(text) else None
        return subject

    @property
    def replayable(self) -> bool:
        """True if the record can be re-published exactly (its value was kept whole)."""
        return self.raw_size is None

    def encode(self) -> bytes:
        obj: dict[str, Any] = {
            "reason": self.reason,
            "raw_b64": _b64(self.raw),
        }
        if self.record_key is not None:
            obj["key_b64"] = _b64(self.record_key)
        if self.record_headers:
            obj["headers"] = self.encode_headers(self.record_headers)
        for name in (*_ORIGIN_FIELDS, "raw_size"):
            value = getattr(self, name)
            if value is not None:
                obj[name] = value
        return orjson.dumps(obj)

    def headers(self) -> list[tuple[str, bytes]]:
        out = [(HEADER_PREFIX + "reason", self.reason.encode("utf-8"))]
        for name in _ORIGIN_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out.append((HEADER_PREFIX + name, str(value).encode("utf-8")))
        return out

    @staticmethod
    def encode_headers(headers: tuple[Header, ...]) -> list[list[str | None]]:
        """``headers`` as JSON: ``[[name, base64 value or null], ...]``."""
        return [[name, None if value is None else _b64(value)] for name, value in headers]

    @classmethod
    def decode(cls, value: bytes) -> DeadLetter:
        obj = orjson.loads(value)
        key = obj.get("key_b64")
        return cls(
            reason=obj["reason"],
            raw=base64.b64decode(obj["raw_b64"], validate=True),
            record_key=None if key is None else base64.b64decode(key, validate=True),
            record_headers=tuple(
                (str(name), None if v is None else base64.b64decode(v, validate=True))
                for name, v in obj.get("headers") or ()),
            **{name: obj[name] for name in (*_ORIGIN_FIELDS, "raw_size") if name in obj},
        )


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _utf8(text: str) -> str:
    """``text`` with anything UTF-8 cannot encode (lone surrogates) replaced."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def recover_subject(raw: bytes | str | None) -> str | None:
    """The ``subject`` of a (possibly invalid) event if it is a JSON object whose
    ``subject`` is a valid dossier code (non-empty, printable, at most 255 characters);
    else ``None``."""
    if not isinstance(raw, bytes | bytearray | str):
        return None
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if isinstance(obj, dict):
        subject = obj.get("subject")
        if is_valid_code(subject):
            return subject
    return None
