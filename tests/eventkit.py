"""Builders of v1 events for tests (real schema models, validated).

* :func:`event_dict`: any event as the JSON document a producer sends;
* :func:`received_dict`: a ``dossier.received`` document;
* :func:`envelope`: a document with the contract examples' envelope (fixed id, source, time
  and subject), ``data`` omitted when ``None``;
* :func:`ev` / :func:`received`: the same, parsed into schema models;
* :func:`json_line` / :func:`write_jsonl`: documents as JSON Lines;
* :func:`cloudevent`: a document as the official CloudEvents SDK's event, and
  :func:`kafka_binary` / :func:`kafka_structured` / :func:`http_binary` /
  :func:`http_structured`: the record or request the SDK's protocol bindings make of it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from schemas.events import Event
from schemas.validate import parse_obj

_ids = itertools.count(1)


def event_dict(type_: str, time: str, subject: str = "H1", source: str = "urn:test",
               id_: str | None = None, **data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": id_ or f"e{next(_ids)}",
        "source": source,
        "type": "vn.gov.motcua." + type_,
        "time": time,
        "subject": subject,
        "data": data,
    }


def received_dict(time: str, subject: str = "H1", unit: str = "U1", level: str = "district",
                  channel: str = "online", *, due: str | None = None, procedure: str = "P1",
                  source: str = "urn:test", id_: str | None = None,
                  **data: Any) -> dict[str, Any]:
    """A ``dossier.received`` document; ``due`` is its ``due_at``. With neither ``due_at``
    nor ``processing_days`` given, ``processing_days`` is 2 (the contract needs one)."""
    if due is not None:
        data = {"due_at": due, **data}
    if "due_at" not in data:
        data.setdefault("processing_days", 2)
    return event_dict("dossier.received", time, subject, source, id_, unit_code=unit,
                      unit_level=level, procedure_code=procedure, channel=channel, **data)


EXAMPLE_ENVELOPE: dict[str, str] = {
    "id": "evt-0001",
    "source": "urn:motcua:dvc:dong-thap",
    "time": "2025-04-29T08:15:00+07:00",
    "subject": "H29.01-250429-0001",
}
"""The envelope of the contract examples (EVENTS.md) that :func:`envelope` builds."""


def envelope(type_: str, data: dict[str, Any] | None, **over: Any) -> dict[str, Any]:
    """A ``type_`` document with :data:`EXAMPLE_ENVELOPE` and ``data`` (left out when
    ``None``); ``over`` replaces or adds envelope attributes."""
    doc: dict[str, Any] = {
        "specversion": "1.0",
        "id": EXAMPLE_ENVELOPE["id"],
        "source": EXAMPLE_ENVELOPE["source"],
        "type": f"vn.gov.motcua.{type_}",
        "time": EXAMPLE_ENVELOPE["time"],
        "subject": EXAMPLE_ENVELOPE["subject"],
    }
    if data is not None:
        doc["data"] = data
    doc.update(over)
    return doc


def ev(type_: str, time: str, subject: str = "H1", **data: Any) -> Event:
    return parse_obj(event_dict(type_, time, subject, **data))


def received(time: str, subject: str = "H1", unit: str = "U1", level: str = "district",
             channel: str = "online", **data: Any) -> Event:
    data.setdefault("processing_days", 2)
    return ev("dossier.received", time, subject, unit_code=unit, unit_level=level,
              procedure_code="P1", channel=channel, **data)


def json_line(document: Any) -> bytes:
    """One JSON document as UTF-8 bytes (non-ASCII kept as is), without a newline."""
    return json.dumps(document, ensure_ascii=False).encode()


def write_jsonl(path: Path, documents: Iterable[Any]) -> Path:
    """Write ``documents`` to ``path`` as JSON Lines (UTF-8); returns ``path``."""
    path.write_bytes(b"".join(json_line(d) + b"\n" for d in documents))
    return path


KafkaRecord = tuple[bytes | None, list[tuple[str, bytes]], bytes]
"""``(key, headers, value)`` of a Kafka record, as producer clients take them."""


def cloudevent(document: dict[str, Any]) -> Any:
    """``document`` as a ``cloudevents.http.CloudEvent`` (the official SDK, a dev
    dependency); ``data`` stays the same JSON object."""
    from cloudevents.http import CloudEvent

    attributes = {k: v for k, v in document.items() if k != "data"}
    return CloudEvent(attributes, document.get("data"))


def _kafka(message: Any, key: bytes | None) -> KafkaRecord:
    value = message.value if isinstance(message.value, bytes) else message.value.encode()
    return key, list(message.headers.items()), value


def kafka_binary(document: dict[str, Any], key: bytes | None = None) -> KafkaRecord:
    """The binary-mode Kafka record the SDK's Kafka binding makes of ``document`` (``ce_*``
    headers, ``content-type: application/json``, the value is ``data``'s JSON); the key is
    ``key``, or the subject when ``key`` is None."""
    from cloudevents.kafka import to_binary

    event = cloudevent({**document, "datacontenttype": "application/json"})
    return _kafka(to_binary(event), key or document["subject"].encode())


def kafka_structured(document: dict[str, Any], key: bytes | None = None) -> KafkaRecord:
    """The structured-mode Kafka record the SDK's Kafka binding makes of ``document``."""
    from cloudevents.kafka import to_structured

    return _kafka(to_structured(cloudevent(document)), key or document["subject"].encode())


def http_binary(document: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """Headers and body of the SDK's HTTP binding in binary mode."""
    from cloudevents.conversion import to_binary

    headers, body = to_binary(cloudevent({**document, "datacontenttype": "application/json"}))
    return dict(headers), body if isinstance(body, bytes) else body.encode()


def http_structured(document: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """Headers and body of the SDK's HTTP binding in structured mode."""
    from cloudevents.conversion import to_structured

    headers, body = to_structured(cloudevent(document))
    return dict(headers), body if isinstance(body, bytes) else body.encode()


EVENTS_REGISTRY = """code,name,level,parent,valid_from,valid_to,successor
87,Tỉnh Đồng Tháp (cũ),province,,2004-01-01,2025-06-30,82
82,Tỉnh Đồng Tháp,province,,2025-07-01,,
870,Huyện Tân Hồng,district,87,2004-01-01,2025-06-30,82
30001,Xã Tân Thành A,commune,870,2004-01-01,2025-06-30,29901
30004,Xã Tân Thành B,commune,870,2004-01-01,2025-06-30,29901
29901,Xã Tân Thành,commune,82,2025-07-01,,
"""
"""The unit registry example of EVENTS.md v1.1 (codes illustrative): a province, a district
and two communes that ceased on 30/6/2025, their successors from 1/7/2025."""


def merger_dossiers() -> list[dict[str, Any]]:
    """Three dossiers around the EVENTS_REGISTRY merger: A received by commune 30001 in June
    and resolved in July (by its successor 29901), B received and resolved in June by 30004,
    C filed at 29901's desk in August and handled by the province 82."""
    return [
        received_dict("2025-06-20T09:00:00+07:00", "A", "30001", "commune"),
        event_dict("dossier.resolved", "2025-07-10T09:00:00+07:00", "A"),
        received_dict("2025-06-23T09:00:00+07:00", "B", "30004", "commune"),
        event_dict("dossier.resolved", "2025-06-24T10:00:00+07:00", "B"),
        received_dict("2025-08-04T09:00:00+07:00", "C", "29901", "commune",
                      handling_unit_code="82", handling_unit_level="province"),
        event_dict("dossier.resolved", "2025-08-05T09:00:00+07:00", "C"),
    ]
