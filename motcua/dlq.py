"""Dead-letter records: the one encoding of "this input was refused, here is why".

A DLQ record's value is a JSON object::

    {"reason": "data.channel: Input should be ...", "raw_b64": "<original bytes>",
     "source_file": "events.jsonl", "line": 7}

``source_file``/``line`` are set by ``motcua ingest``; a stream worker sets ``topic``,
``partition`` and ``offset`` of the refused record instead. Absent origins are omitted.
The key is the dossier code (``subject``) when it can be read from the raw bytes, so a
dossier's refused events sit next to each other; otherwise there is no key. The reason and
origin are repeated as headers (``motcua.dlq.*``) for tools that only look at headers.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson

HEADER_PREFIX = "motcua.dlq."
_ORIGIN_FIELDS = ("source_file", "line", "topic", "partition", "offset")


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    raw: bytes
    source_file: str | None = None
    line: int | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None

    @property
    def key(self) -> bytes | None:
        subject = recover_subject(self.raw)
        return subject.encode("utf-8") if subject is not None else None

    def encode(self) -> bytes:
        obj: dict[str, Any] = {
            "reason": self.reason,
            "raw_b64": base64.b64encode(self.raw).decode("ascii"),
        }
        for name in _ORIGIN_FIELDS:
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
            **{name: obj[name] for name in _ORIGIN_FIELDS if name in obj},
        )


def recover_subject(raw: bytes | str) -> str | None:
    """The ``subject`` of a (possibly invalid) event if it is a JSON object with a
    non-empty string ``subject``; else ``None``."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if isinstance(obj, dict):
        subject = obj.get("subject")
        if isinstance(subject, str) and subject:
            return subject
    return None
