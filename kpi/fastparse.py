"""A fast recognizer of well-formed v1 events for the batch path.

``fast_fact(raw)`` decodes one line with msgspec into typed structs derived from the
pydantic models of :mod:`schemas.events` by :mod:`kpi.fastschema` (strict types, the exact
enums, non-empty strings, counts ≥ 0; the models are the one declaration of the fields) and
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
from collections.abc import Callable
from datetime import date
from functools import reduce
from typing import Any

import msgspec

from kpi.calendar import DAY_SECONDS, date_to_day
from kpi.dossier import KEY_SEPARATOR, KIND_OF_TYPE, PORTAL_GATEWAY, Fact
from kpi.fastschema import PRINTABLE, TIME, derive_event
from schemas.events import MODEL_BY_TYPE, TYPE_PREFIX
from schemas.fields import MAX_TS, MIN_TS
from schemas.validate import MAX_EVENT_BYTES

_TIME_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2})T([01]\d|2[0-3]):([0-5]\d):([0-5]\d)(?:\.(\d{1,6}))?"
    r"(?:(Z)|([+-])([01]\d|2[0-3]):([0-5]\d))\Z"
)
_DAYS: dict[str, int] = {}
"""``YYYY-MM-DD`` → day number (cache of validated dates)."""
_DAY_STARTS: dict[str, int] = {}
"""``YYYY-MM-DD`` → epoch seconds of its UTC midnight (cache of validated dates)."""

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


_FAST_TYPES = (
    "dossier.received", "dossier.transferred", "dossier.supplement_requested",
    "dossier.supplemented", "dossier.extended", "dossier.resolved", "dossier.returned",
    "dossier.rejected", "dossier.withdrawn", "dossier.stopped", "dossier.synced",
    "dossier.digitized", "payment.completed", "feedback.rated",
)
"""The types whose fact :func:`fast_fact` builds; the others always go to pydantic."""
_ENVELOPE_BY_HAND = ("id", "source", "subject", "time")
"""The envelope's late checks that :func:`fast_fact` applies itself (printable, the time)."""
_DATA_BY_HAND: dict[str, tuple[str, ...]] = {
    "dossier.received": ("unit_code", "procedure_code", "handling_unit_code", "due_at",
                         "_due_known"),
    "dossier.transferred": ("from_unit", "to_unit"),
    "dossier.extended": ("new_due_at",),
    "dossier.digitized": ("_bounded",),
}
"""Type → the late checks and model validators of its ``data`` that :func:`fast_fact`
applies itself; any other runs in the struct's ``__post_init__`` (:mod:`kpi.fastschema`)."""
_CHECKS: dict[str, Callable[[Any], bool]] = {
    PRINTABLE: str.isprintable,
    TIME: lambda text: fast_time(text) is not None,
}
_KIND = {
    derive_event(MODEL_BY_TYPE[TYPE_PREFIX + short], _CHECKS, _ENVELOPE_BY_HAND,
                 _DATA_BY_HAND.get(short, ())): KIND_OF_TYPE[short]
    for short in _FAST_TYPES
}
"""Struct class (derived from the pydantic model of its type) → fact kind."""
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
