"""The field types and limits of the event contract (docs/contract.md): instants,
identifiers, counts and flags as pydantic annotated types, and the closed value sets
(enums) of the ``data`` fields (:mod:`schemas.eventdata`); the envelope
(:mod:`schemas.events`) uses the identifier and instant types.

Limits beyond docs/contract.md, so that every event accepted here can be folded, judged, stored
in SQL and shown without error downstream (docs/operations.md, "Hostile input"):

* identifiers (``id``, ``source``, ``subject``: at most 255 characters; ``unit_code``,
  ``procedure_code``, ``from_unit``, ``to_unit``: at most 100 — the SQL column widths)
  must be printable (``str.isprintable()``: no control characters such as NUL, no
  invisible format characters such as RTL overrides or zero-width spaces, no line breaks);
  free-text fields (``reason``, ``apology_ref``, ``gateway``) may hold any character;
* timestamps are RFC 3339 text (not epoch numbers) between 2000-01-01 and 2099-12-31
  local time;
* ``processing_days`` is at most 1,000 working days; other counts at most 2⁵³ − 1.

The fast decoder (:mod:`kpi.fastparse`) derives its msgspec types from these
(:mod:`kpi.fastschema`), limits included.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

_LOCAL = timezone(timedelta(hours=7))
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=_LOCAL)
"""The earliest accepted timestamp (00:00 local on 1 January 2000)."""
LATEST_TIME = datetime(2100, 1, 1, tzinfo=_LOCAL)
"""Timestamps must be before this instant (00:00 local on 1 January 2100)."""
MIN_TS = EARLIEST_TIME.timestamp()
MAX_TS = LATEST_TIME.timestamp()

MAX_CODE_CHARS = 255
"""``id``, ``source`` and ``subject`` (the SQL store's key columns are this wide)."""
MAX_UNIT_CHARS = 100
"""``unit_code``, ``procedure_code``, ``from_unit``, ``to_unit``."""
MAX_PROCESSING_DAYS = 1000
"""About four years of working days; the due-date search walks the calendar day by day."""
MAX_COUNT = 2**53 - 1
"""Other counts (amounts, components): exact in every JSON reader and in a float."""

_DATE_TIME_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]")


def _must_be_text(value: Any) -> Any:
    """RFC 3339 timestamps arrive as JSON strings; numbers (epoch seconds) are refused, and
    so are strings of digits, which pydantic would otherwise read as epoch seconds."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE_TIME_SHAPE.match(value):
        raise ValueError("must be an RFC 3339 timestamp string with an offset")
    return value


def _in_range(value: datetime) -> datetime:
    try:
        inside = EARLIEST_TIME <= value < LATEST_TIME
    except OverflowError:  # an offset pushing year 1 or 9999 out of range
        inside = False
    if not inside:
        raise ValueError("must be between 2000-01-01 and 2099-12-31 (local time)")
    return value


def printable_problem(value: str) -> str | None:
    """Why ``value`` is not a valid identifier character-wise, or None if it is."""
    if value.isprintable():
        return None
    at, char = next((i, c) for i, c in enumerate(value) if not c.isprintable())
    return (f"must contain only printable characters (U+{ord(char):04X} at position {at} "
            "is a control, format or other invisible character)")


def _printable(value: str) -> str:
    problem = printable_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def is_valid_code(value: object) -> bool:
    """True if ``value`` is acceptable as a ``subject`` (dossier code)."""
    return (isinstance(value, str) and 0 < len(value) <= MAX_CODE_CHARS
            and value.isprintable())


Timestamp = Annotated[AwareDatetime, BeforeValidator(_must_be_text), AfterValidator(_in_range)]
"""An instant with an explicit UTC offset (``2025-04-29T08:00:00+07:00``); naive is refused."""

Code = Annotated[
    str, Field(min_length=1, max_length=MAX_CODE_CHARS), AfterValidator(_printable)
]
"""An identifier: ``id``, ``source``, ``subject``."""
UnitCode = Annotated[
    str, Field(min_length=1, max_length=MAX_UNIT_CHARS), AfterValidator(_printable)
]
"""A unit or procedure code."""
Count = Annotated[int, Field(strict=True, ge=0, le=MAX_COUNT)]
Days = Annotated[int, Field(strict=True, ge=0, le=MAX_PROCESSING_DAYS)]
Flag = Annotated[bool, Field(strict=True)]


class UnitLevel(StrEnum):
    """Cấp đơn vị: bộ / tỉnh / huyện (until 30/6/2025) / xã."""

    ministry = "ministry"
    province = "province"
    district = "district"
    commune = "commune"


class Channel(StrEnum):
    """Kênh tiếp nhận: trực tiếp, trực tuyến (dịch vụ công), bưu chính công ích."""

    direct = "direct"
    online = "online"
    postal = "postal"


class OnlineLevel(StrEnum):
    """Mức dịch vụ công trực tuyến: không / một phần / toàn trình."""

    none = "none"
    partial = "partial"
    full = "full"


class ReturnChannel(StrEnum):
    counter = "counter"
    online = "online"
    postal = "postal"


class PaymentMethod(StrEnum):
    online = "online"
    cash = "cash"
    transfer = "transfer"


class Rating(StrEnum):
    """Mức độ hài lòng: hài lòng / bình thường / không hài lòng."""

    satisfied = "satisfied"
    neutral = "neutral"
    dissatisfied = "dissatisfied"


class PetitionChannel(StrEnum):
    """Kênh tiếp nhận phản ánh, kiến nghị: trực tiếp, trực tuyến, bưu chính, đường dây nóng."""

    direct = "direct"
    online = "online"
    postal = "postal"
    hotline = "hotline"


__all__ = [
    "EARLIEST_TIME",
    "LATEST_TIME",
    "MAX_CODE_CHARS",
    "MAX_COUNT",
    "MAX_PROCESSING_DAYS",
    "MAX_TS",
    "MAX_UNIT_CHARS",
    "MIN_TS",
    "Channel",
    "Code",
    "Count",
    "Days",
    "Flag",
    "OnlineLevel",
    "PaymentMethod",
    "PetitionChannel",
    "Rating",
    "ReturnChannel",
    "Timestamp",
    "UnitCode",
    "UnitLevel",
    "is_valid_code",
    "printable_problem",
]
