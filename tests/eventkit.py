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
"""The envelope of the contract examples (docs/contract.md) that :func:`envelope` builds."""


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
"""The unit registry example of docs/contract.md (codes illustrative): a province, a district
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


# ------------------------------------------------------------------ v1.1 families


def petition_dict(time: str, subject: str, unit: str = "C1", *, due: str,
                  level: str = "commune", source: str = "urn:test", id_: str | None = None,
                  **data: Any) -> dict[str, Any]:
    """A ``petition.received`` document (PAKN) due at ``due``."""
    return event_dict("petition.received", time, subject, source, id_, unit_code=unit,
                      unit_level=level, due_at=due, **data)


def published_dict(time: str, unit: str, procedure: str, online_level: str = "none",
                   online_payment: bool = False, *, level: str = "commune",
                   source: str = "urn:test", id_: str | None = None,
                   **data: Any) -> dict[str, Any]:
    """A ``procedure.published`` document of the catalog entry ``unit/procedure``."""
    return event_dict("procedure.published", time, f"{unit}/{procedure}", source, id_,
                      unit_code=unit, unit_level=level, procedure_code=procedure,
                      online_level=online_level, online_payment=online_payment, **data)


def document_dict(time: str, subject: str, unit: str = "C1", *, electronic: bool,
                  signed: bool, level: str = "commune", source: str = "urn:test",
                  id_: str | None = None) -> dict[str, Any]:
    """A ``document.issued`` document (văn bản đi)."""
    return event_dict("document.issued", time, subject, source, id_, unit_code=unit,
                      unit_level=level, electronic=electronic, digitally_signed=signed)


def families_quarter() -> list[dict[str, Any]]:
    """The hand-worked quarter of the v1.1 families (petitions, the procedure catalog,
    documents, and the dossiers their joins need), commune C1, 2025-Q4; the expected
    counts are worked out in tests/unit/test_families.py."""
    t = "2025-{}:00+07:00".format
    e = event_dict
    return [
        # petitions (PAKN)
        petition_dict(t("10-01T09:00"), "P1", due=t("10-10T17:00")),
        e("petition.answered", t("10-08T10:00"), "P1"),
        e("petition.rated", t("10-09T10:00"), "P1", rating="satisfied"),
        petition_dict(t("10-05T09:00"), "P2", due=t("10-15T17:00")),
        e("petition.answered", t("10-20T10:00"), "P2"),
        e("petition.rated", t("10-21T10:00"), "P2", rating="satisfied"),
        petition_dict(t("11-03T09:00"), "P3", due=t("11-20T17:00"), channel="hotline"),
        e("petition.answered", t("11-18T10:00"), "P3"),
        e("petition.rated", t("11-19T10:00"), "P3", rating="dissatisfied"),
        petition_dict(t("12-01T09:00"), "P4", due=t("12-10T17:00")),
        petition_dict(t("12-20T09:00"), "P5", due="2026-01-15T17:00:00+07:00"),
        petition_dict(t("10-02T09:00"), "P6", due=t("10-12T17:00"), within_competence=False),
        e("petition.answered", t("10-03T10:00"), "P6"),
        petition_dict(t("09-25T09:00"), "P7", due=t("10-03T17:00")),
        e("petition.answered", t("10-02T10:00"), "P7"),
        petition_dict(t("11-10T09:00"), "P8", due=t("11-25T17:00"), dossier_code="H2"),
        e("petition.answered", t("11-20T10:00"), "P8"),
        petition_dict(t("12-05T09:00"), "P9", due=t("12-20T17:00"), dossier_code="H3",
                      within_competence=False),
        # dossiers
        received_dict(t("10-06T09:00"), "H1", "C1", "commune", "online", procedure="PR1",
                      due=t("10-10T17:00"), online_level="full", fee_required=True),
        e("payment.completed", t("10-06T10:00"), "H1", amount_vnd=50000, method="online"),
        e("dossier.resolved", t("10-09T10:00"), "H1"),
        received_dict(t("11-03T09:00"), "H2", "C1", "commune", "direct", procedure="PR1",
                      due=t("11-05T17:00")),
        e("dossier.resolved", t("11-10T10:00"), "H2"),
        received_dict(t("12-01T09:00"), "H3", "C1", "commune", "online", procedure="PR2",
                      due="2026-01-10T17:00:00+07:00", online_level="partial"),
        received_dict(t("10-15T09:00"), "H4", "C1", "commune", "online", procedure="PR3",
                      due=t("10-20T17:00")),
        e("dossier.resolved", t("10-16T10:00"), "H4"),
        # the procedure catalog
        published_dict(t("09-20T09:00"), "C1", "PR1", "full", True, due_at=t("09-30T17:00")),
        published_dict(t("10-10T09:00"), "C1", "PR2", "partial", False,
                       due_at=t("10-05T17:00")),
        e("procedure.withdrawn", t("12-15T09:00"), "C1/PR2"),
        published_dict(t("11-01T08:00"), "C1", "PR4"),
        published_dict(t("10-01T08:00"), "C1", "PR5", "full", True),
        published_dict(t("12-01T09:00"), "C1", "PR5", "partial", False),
        # documents
        document_dict(t("10-03T09:00"), "D1", electronic=True, signed=True),
        document_dict(t("11-04T09:00"), "D2", electronic=True, signed=False),
        document_dict(t("12-05T09:00"), "D3", electronic=False, signed=False),
        document_dict(t("12-06T09:00"), "D4", electronic=True, signed=True),
    ]


# ------------------------------------------------------------------ v1.2 portal counts

PORTAL_REGISTRY = """code,name,level,parent,valid_from,valid_to,successor
P,Tỉnh Thử,province,,2025-07-01,,
S1,Sở Tư pháp,province,P,2025-07-01,,
X1,Xã Một,commune,P,2025-07-01,,
X2,Xã Hai,commune,P,2025-07-01,,
"""
"""A province P with a department S1 (level province, no commune below it) and two
communes X1, X2: the hand-worked month of :func:`portal_month`."""


def portal_month() -> list[dict[str, Any]]:
    """The hand-worked month (August 2026) of the v1.2 counts; the expected counts are
    worked out in tests/unit/test_portal_counts.py. Catalog: X1/F1 and X2/F1 (one fee
    procedure at two communes), X1/F3 (two updates, on time), S1/F2 (one late update).
    Dossiers D1 (X1, every v1.2 fact, synced on time), D2 (X2, synced late, rated
    dissatisfied), D3 (S1, open overdue, never synced), D5 (X1, withdrawn, synced exactly
    24 hours after its receipt)."""
    t = "2026-08-{}:00+07:00".format
    e = event_dict
    return [
        # the catalog
        published_dict(t("03T10:00"), "X1", "F1", "full", True, due_at=t("05T17:00"),
                       fee_required=True, citizen_data_connected=True,
                       e_certified_copy=True),
        published_dict(t("03T10:00"), "X2", "F1", "full", True, fee_required=True,
                       content_complete=False),
        published_dict(t("03T10:00"), "X1", "F3", "partial"),
        published_dict(t("10T10:00"), "X1", "F3", "partial", due_at=t("12T17:00")),
        published_dict(t("25T10:00"), "X1", "F3", "partial"),
        published_dict(t("03T10:00"), "S1", "F2", "partial", level="province"),
        published_dict(t("20T10:00"), "S1", "F2", "partial", level="province",
                       due_at=t("15T17:00")),
        # D1: X1, F1
        received_dict(t("03T09:00"), "D1", "X1", "commune", procedure="F1",
                      fee_required=True, citizen_data_used=True, reuse_eligible=True),
        e("dossier.digitized", t("03T10:00"), "D1", components_total=2,
          components_digitized=2, components_reused=1),
        e("payment.completed", t("03T10:00"), "D1", amount_vnd=2000, method="online",
          gateway="dvcqg"),
        e("dossier.synced", t("03T12:00"), "D1", target="dvcqg"),
        e("dossier.resolved", t("04T09:00"), "D1", result_electronic=True),
        e("dossier.synced", t("04T12:00"), "D1", target="personal_storage"),
        e("dossier.synced", t("04T20:00"), "D1", target="dvcqg"),
        # D2: X2, F1
        received_dict(t("04T09:00"), "D2", "X2", "commune", procedure="F1",
                      fee_required=True),
        e("payment.completed", t("04T10:00"), "D2", amount_vnd=2000, method="online",
          gateway="provincial"),
        e("dossier.synced", t("04T10:00"), "D2", target="dvcqg"),
        e("dossier.resolved", t("06T09:00"), "D2"),
        e("dossier.synced", t("07T12:00"), "D2", target="dvcqg"),
        e("feedback.rated", t("07T15:00"), "D2", rating="dissatisfied"),
        # D3: S1, F2
        received_dict(t("25T09:00"), "D3", "S1", "province", procedure="F2",
                      due=t("26T17:00")),
        # D5: X1, F3
        received_dict(t("10T09:00"), "D5", "X1", "commune", procedure="F3"),
        e("dossier.withdrawn", t("11T08:00"), "D5"),
        e("dossier.synced", t("11T09:00"), "D5"),
    ]
