"""Dead-letter records: the one encoding of "this input was refused, here is why".

A DLQ record's value is a JSON object::

    {"reason": "data.channel: Input should be ...", "raw_b64": "<original bytes>",
     "source_file": "events.jsonl", "line": 7}

``source_file``/``line`` are set by ``motcua ingest``; a stream worker sets ``topic``,
``partition`` and ``offset`` of the refused record instead. Absent origins are omitted.
The key is the dossier code (``subject``) when it can be read from the raw bytes and is a
valid code (:func:`schemas.events.is_valid_code`), so a dossier's refused events sit next
to each other; otherwise there is no key. The reason and origin are repeated as headers
(``motcua.dlq.*``) for tools that only look at headers.

So that a record always fits in a Kafka message (1 MB by default), at most
:data:`MAX_DLQ_RAW_BYTES` of the raw bytes are kept; when more were refused, ``raw_size``
gives the original length. The reason is cut to 1,000 characters on one line. A record
with no value at all (``None``) is kept as empty bytes.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson

from schemas.events import is_valid_code
from schemas.validate import MAX_EVENT_BYTES, one_line

HEADER_PREFIX = "motcua.dlq."
_ORIGIN_FIELDS = ("source_file", "line", "topic", "partition", "offset")

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

    def __post_init__(self) -> None:
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
        subject = recover_subject(self.raw)
        return subject.encode("utf-8") if subject is not None else None

    def encode(self) -> bytes:
        obj: dict[str, Any] = {
            "reason": self.reason,
            "raw_b64": base64.b64encode(self.raw).decode("ascii"),
        }
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

    @classmethod
    def decode(cls, value: bytes) -> DeadLetter:
        obj = orjson.loads(value)
        return cls(
            reason=obj["reason"],
            raw=base64.b64decode(obj["raw_b64"], validate=True),
            **{name: obj[name] for name in (*_ORIGIN_FIELDS, "raw_size") if name in obj},
        )


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
