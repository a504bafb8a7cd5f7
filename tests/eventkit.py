"""Builders of v1 events for tests (real schema models, validated)."""

from __future__ import annotations

import itertools
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


def ev(type_: str, time: str, subject: str = "H1", **data: Any) -> Event:
    return parse_obj(event_dict(type_, time, subject, **data))


def received(time: str, subject: str = "H1", unit: str = "U1", level: str = "district",
             channel: str = "online", **data: Any) -> Event:
    data.setdefault("processing_days", 2)
    return ev("dossier.received", time, subject, unit_code=unit, unit_level=level,
              procedure_code="P1", channel=channel, **data)
