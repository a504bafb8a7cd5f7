"""A fast recognizer of well-formed v1 events for the batch path.

``fast_fact(raw)`` decodes one line with msgspec into typed structs mirroring
:mod:`schemas.events` (strict types, the exact enums, non-empty strings, counts ≥ 0) and
accepts only plain RFC 3339 timestamps. What it accepts, the pydantic models accept too
and turn into the same fact; anything unusual returns ``None`` and the caller falls back to
the full pydantic validation, which alone decides rejections and words their reasons. So
the fast path can only be faster, never more lenient: ``tests/unit/test_fastparse.py``
and ``tests/unit/test_hostile_input.py`` check the two agree. The limits of
:mod:`schemas.events` and :mod:`schemas.validate` (size, lengths, printable identifiers,
the timestamp range, counts) are applied here too, so nothing the models refuse gets in.
"""

from __future__ import annotations

import operator
import re
from datetime import date
from functools import reduce
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from kpi.calendar import DAY_SECONDS, date_to_day
from kpi.dossier import KEY_SEPARATOR, KIND_OF_TYPE, PORTAL_GATEWAY, Fact
from schemas.fields import (
    MAX_CODE_CHARS,
    MAX_COUNT,
    MAX_PROCESSING_DAYS,
    MAX_TS,
    MAX_UNIT_CHARS,
    MIN_TS,
)
from schemas.validate import MAX_EVENT_BYTES

_TIME_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2})T([01]\d|2[0-3]):([0-5]\d):([0-5]\d)(?:\.(\d{1,6}))?"
    r"(?:(Z)|([+-])([01]\d|2[0-3]):([0-5]\d))\Z"
)
_DAYS: dict[str, int] = {}
"""``YYYY-MM-DD`` → day number (cache of validated dates)."""
_DAY_STARTS: dict[str, int] = {}
"""``YYYY-MM-DD`` → epoch seconds of its UTC midnight (cache of validated dates)."""

_PREFIX = "vn.gov.motcua."


_CLOCKS: dict[str, int] = {}
"""``THH:MM:SS±hh:mm`` → seconds after local midnight, in UTC terms (cache)."""
_MAX_CLOCKS = 500_000


def fast_time(text: Any) -> float | None:
    """Epoch seconds of a plain RFC 3339 timestamp with an offset in the accepted range
    (:data:`schemas.fields.MIN_TS` ≤ t < :data:`schemas.fields.MAX_TS`), else None.

    Computed in integer microseconds then divided, exactly as ``datetime.timestamp()``.
    Whole-second stamps are split into a cached date part and a cached clock part."""
    try:  # both halves seen and validated before: the whole stamp is valid
        ts = float(_DAY_STARTS[text[:10]] + _CLOCKS[text[10:]])
    except (KeyError, TypeError):  # new half, fractions, or not a string at all
        found = _parse_time(text)
        if found is None:
            return None
        ts = found
    return ts if MIN_TS <= ts < MAX_TS else None


def _parse_time(text: Any) -> float | None:
    if type(text) is not str:
        return None
    m = _TIME_RE.match(text)
    if m is None:
        return None
    day_text, hh, mm, ss, frac, zulu, sign, oh, om = m.groups()
    day = _DAYS.get(day_text)
    if day is None:
        if not "1999" <= day_text[:4] <= "2100":  # outside the range: keep it out of the cache
            return None
        try:
            day = date_to_day(date.fromisoformat(day_text))
        except ValueError:
            return None
        _DAYS[day_text] = day
        _DAY_STARTS[day_text] = day * DAY_SECONDS
    clock = int(hh) * 3600 + int(mm) * 60 + int(ss)
    if not zulu:
        offset = int(oh) * 3600 + int(om) * 60
        clock -= offset if sign == "+" else -offset
        if not frac and len(_CLOCKS) < _MAX_CLOCKS:
            _CLOCKS[text[10:]] = clock
    seconds = day * DAY_SECONDS + clock
    micros = seconds * 1_000_000
    if frac:
        micros += int(frac.ljust(6, "0"))
    return micros / 1_000_000


Text = Annotated[str, Meta(min_length=1, max_length=MAX_CODE_CHARS)]
UnitText = Annotated[str, Meta(min_length=1, max_length=MAX_UNIT_CHARS)]
Count = Annotated[int, Meta(ge=0, le=MAX_COUNT)]
Days = Annotated[int, Meta(ge=0, le=MAX_PROCESSING_DAYS)]


class _Envelope(Struct, kw_only=True):
    specversion: Literal["1.0"]
    id: Text
    source: Text
    time: str
    subject: Text
    datacontenttype: Literal["application/json"] | None = None


class _ReceivedData(Struct):
    unit_code: UnitText
    unit_level: Literal["ministry", "province", "district", "commune"]
    procedure_code: UnitText
    channel: Literal["direct", "online", "postal"]
    online_level: Literal["none", "partial", "full"] = "none"
    full_online_eligible: bool = False
    due_at: str | None = None
    processing_days: Days | None = None
    fee_required: bool = False
    paper_result: bool = True
    handling_unit_code: UnitText | None = None
    handling_unit_level: Literal["ministry", "province", "district", "commune"] | None = None
    reuse_eligible: bool = False
    citizen_data_used: bool = False


class _TransferredData(Struct):
    from_unit: UnitText
    to_unit: UnitText


class _ReasonData(Struct):
    reason: str | None = None


class _NoData(Struct):
    pass


class _ExtendedData(Struct):
    new_due_at: str
    apology_ref: str | None = None


class _ResolvedData(Struct):
    result_electronic: bool = False


class _ReturnedData(Struct):
    return_channel: Literal["counter", "online", "postal"] | None = None


class _DigitizedData(Struct):
    components_total: Count
    components_digitized: Count
    components_reused: Count = 0


class _SyncedData(Struct):
    target: str = "dvcqg"


class _PaymentData(Struct):
    amount_vnd: Count
    method: Literal["online", "cash", "transfer"]
    gateway: str | None = None


class _RatedData(Struct):
    rating: Literal["satisfied", "neutral", "dissatisfied"]


def _event(tag: str, data_type: type, required: bool) -> type:
    """A tagged envelope struct whose ``data`` is ``data_type`` (with a default if optional)."""
    ns: dict[str, Any] = {"__annotations__": {"data": data_type}}
    if not required:
        ns["data"] = msgspec.field(default_factory=data_type)
    return type(tag, (_Envelope,), ns, tag_field="type", tag=_PREFIX + tag)


_TYPES = {
    "dossier.received": (_ReceivedData, True),
    "dossier.transferred": (_TransferredData, True),
    "dossier.supplement_requested": (_ReasonData, False),
    "dossier.supplemented": (_NoData, False),
    "dossier.extended": (_ExtendedData, True),
    "dossier.resolved": (_ResolvedData, False),
    "dossier.returned": (_ReturnedData, False),
    "dossier.rejected": (_ReasonData, False),
    "dossier.withdrawn": (_NoData, False),
    "dossier.stopped": (_ReasonData, False),
    "dossier.synced": (_SyncedData, False),
    "dossier.digitized": (_DigitizedData, True),
    "payment.completed": (_PaymentData, True),
    "feedback.rated": (_RatedData, True),
}
_KIND = {_event(tag, dt, req): KIND_OF_TYPE[tag] for tag, (dt, req) in _TYPES.items()}
"""Struct class → fact kind."""
_DECODER: msgspec.json.Decoder[Any] = msgspec.json.Decoder(reduce(operator.or_, _KIND))


_FEW_BRACKETS = 150
"""With fewer ``[`` and ``{`` than this, nesting cannot reach the 200 levels pydantic's JSON
parser refuses (msgspec skips unknown fields of any depth up to its own, larger limit)."""


def fast_fact(raw: bytes) -> tuple[str, str, Fact] | None:
    """(subject, fact key, fact) of a well-formed event, or None to fall back to pydantic."""
    size = len(raw)
    if size > MAX_EVENT_BYTES:
        return None
    if size > 2 * _FEW_BRACKETS and raw.count(b"[") + raw.count(b"{") >= _FEW_BRACKETS:
        return None  # maybe nested past pydantic's depth limit, which msgspec does not share
    if not raw.isascii():  # msgspec skips unknown fields without checking their UTF-8
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    try:
        ev = _DECODER.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None  # (msgspec raises RecursionError on deeply nested unknown fields)
    if not (ev.subject.isprintable() and ev.id.isprintable() and ev.source.isprintable()):
        return None
    text = ev.time
    try:  # fast_time's cached path, inlined: this runs for every event
        ts = float(_DAY_STARTS[text[:10]] + _CLOCKS[text[10:]])
    except KeyError:
        found = _parse_time(text)
        if found is None:
            return None
        ts = found
    if not MIN_TS <= ts < MAX_TS:
        return None
    kind = _KIND[type(ev)]
    d = ev.data
    fact: Fact
    if kind == "received":
        if not (d.unit_code.isprintable() and d.procedure_code.isprintable()):
            return None
        handling = d.handling_unit_code
        if handling is not None and not handling.isprintable():
            return None
        due = None
        if d.due_at is not None:
            due = fast_time(d.due_at)
            if due is None:
                return None
        elif d.processing_days is None:
            return None
        fact = ("received", ts, d.unit_code, d.unit_level, d.procedure_code, d.channel,
                d.online_level, d.full_online_eligible, due, d.processing_days,
                d.fee_required, d.paper_result, handling, d.handling_unit_level)
        if d.reuse_eligible or d.citizen_data_used:  # v1.2, as kpi.dossier.fact_of
            fact += (d.reuse_eligible, d.citizen_data_used)
    elif kind == "resolved":
        fact = ("resolved", ts, d.result_electronic)
    elif kind == "digitized":
        if d.components_digitized > d.components_total:
            return None
        fact = ("digitized", ts, d.components_total, d.components_digitized,
                d.components_reused)
    elif kind == "payment":
        fact = ("payment", ts, d.method, True) if d.gateway == PORTAL_GATEWAY else (
            "payment", ts, d.method)
    elif kind == "rated":
        fact = ("rated", ts, d.rating)
    elif kind == "extended":
        due = fast_time(d.new_due_at)
        if due is None:
            return None
        fact = ("extended", ts, due)
    elif kind == "transferred":
        if not (d.from_unit.isprintable() and d.to_unit.isprintable()):
            return None
        fact = ("transferred", ts, d.from_unit, d.to_unit)
    elif kind == "synced":
        fact = ("synced", ts, d.target)
    else:
        fact = (kind, ts)
    return ev.subject, f"{ev.source}{KEY_SEPARATOR}{ev.id}", fact
