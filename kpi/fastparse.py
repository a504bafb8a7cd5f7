"""A fast recognizer of well-formed v1 events for the batch path.

``fast_fact(raw)`` decodes one line with orjson and checks it against a *conservative
subset* of the contract: plain RFC 3339 timestamps, the exact enums, strict types. What it
accepts, the pydantic models (:mod:`schemas.events`) accept too and turn into the same
fact; anything unusual returns ``None`` and the caller falls back to the full pydantic
validation, which alone decides rejections and words their reasons. So the fast path can
only be faster, never more lenient: ``tests/unit/test_fastparse.py`` checks the two agree.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import orjson

from kpi.calendar import DAY_SECONDS, date_to_day
from kpi.dossier import KEY_SEPARATOR, Fact

_TIME_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2})T([01]\d|2[0-3]):([0-5]\d):([0-5]\d)(?:\.(\d{1,6}))?"
    r"(?:(Z)|([+-])([01]\d|2[0-3]):([0-5]\d))\Z"
)
_DAYS: dict[str, int] = {}

_LEVELS = frozenset(("province", "district", "commune"))
_CHANNELS = frozenset(("direct", "online", "postal"))
_ONLINE = frozenset(("none", "partial", "full"))
_RETURN = frozenset(("counter", "online", "postal"))
_METHODS = frozenset(("online", "cash", "transfer"))
_RATINGS = frozenset(("satisfied", "neutral", "dissatisfied"))
_PREFIX = "vn.gov.motcua."


_CLOCKS: dict[str, int] = {}
"""``THH:MM:SS±hh:mm`` → seconds after local midnight, in UTC terms (cache)."""
_MAX_CLOCKS = 500_000


def fast_time(text: Any) -> float | None:
    """Epoch seconds of a plain RFC 3339 timestamp with an offset, else None.

    Computed in integer microseconds then divided, exactly as ``datetime.timestamp()``.
    Whole-second stamps are split into a cached date part and a cached clock part."""
    if type(text) is not str:
        return None
    if len(text) == 25:
        day = _DAYS.get(text[:10])
        clock = _CLOCKS.get(text[10:])
        if day is not None and clock is not None:
            return float(day * DAY_SECONDS + clock)
    m = _TIME_RE.match(text)
    if m is None:
        return None
    day_text, hh, mm, ss, frac, zulu, sign, oh, om = m.groups()
    day = _DAYS.get(day_text)
    if day is None:
        try:
            day = date_to_day(date.fromisoformat(day_text))
        except ValueError:
            return None
        _DAYS[day_text] = day
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


def _text(v: Any) -> bool:
    return type(v) is str and v != ""


def _count(v: Any) -> bool:
    return type(v) is int and v >= 0


def _fact(kind: str, ts: float, data: dict[str, Any]) -> Fact | None:  # noqa: C901
    if kind == "dossier.received":
        unit, level, proc, channel = (
            data.get("unit_code"), data.get("unit_level"), data.get("procedure_code"),
            data.get("channel"),
        )
        if not (_text(unit) and level in _LEVELS and _text(proc) and channel in _CHANNELS):
            return None
        online = data.get("online_level", "none")
        foe = data.get("full_online_eligible", False)
        fee = data.get("fee_required", False)
        paper = data.get("paper_result", True)
        if online not in _ONLINE or type(foe) is not bool or type(fee) is not bool:
            return None
        if type(paper) is not bool:
            return None
        due_text = data.get("due_at")
        days = data.get("processing_days")
        due = None
        if due_text is not None:
            due = fast_time(due_text)
            if due is None:
                return None
        if days is not None and not _count(days):
            return None
        if due is None and days is None:
            return None
        return ("received", ts, unit, level, proc, channel, online, foe, due, days, fee, paper)
    if kind == "dossier.transferred":
        a, b = data.get("from_unit"), data.get("to_unit")
        return ("transferred", ts, a, b) if _text(a) and _text(b) else None
    if kind in ("dossier.supplement_requested", "dossier.rejected"):
        reason = data.get("reason")
        return (kind[8:], ts) if reason is None or type(reason) is str else None
    if kind in ("dossier.supplemented", "dossier.withdrawn"):
        return (kind[8:], ts)
    if kind == "dossier.extended":
        ref = data.get("apology_ref")
        due = fast_time(data.get("new_due_at"))
        if due is None or not (ref is None or type(ref) is str):
            return None
        return ("extended", ts, due)
    if kind == "dossier.resolved":
        e = data.get("result_electronic", False)
        return ("resolved", ts, e) if type(e) is bool else None
    if kind == "dossier.returned":
        ch = data.get("return_channel")
        return ("returned", ts) if ch is None or ch in _RETURN else None
    if kind == "dossier.digitized":
        total: Any = data.get("components_total")
        done: Any = data.get("components_digitized")
        reused = data.get("components_reused", 0)
        if _count(total) and _count(done) and _count(reused) and done <= total:
            return ("digitized", ts, total, done)
        return None
    if kind == "payment.completed":
        method, gateway = data.get("method"), data.get("gateway")
        if _count(data.get("amount_vnd")) and method in _METHODS and (
            gateway is None or type(gateway) is str
        ):
            return ("payment", ts, method)
        return None
    if kind == "feedback.rated":
        rating = data.get("rating")
        return ("rated", ts, rating) if rating in _RATINGS else None
    return None


def fast_fact(raw: bytes) -> tuple[str, str, Fact] | None:
    """(subject, fact key, fact) of a well-formed event, or None to fall back to pydantic."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(obj) is not dict:
        return None
    try:
        eid, source, subject, kind = obj["id"], obj["source"], obj["subject"], _KINDS[obj["type"]]
        if obj["specversion"] != "1.0":
            return None
        data = obj["data"]
    except (KeyError, TypeError):  # missing field or unhashable/unknown type: full check
        return None
    if type(eid) is not str or type(source) is not str or type(subject) is not str:
        return None
    if not (eid and source and subject) or type(data) is not dict:
        return None
    dct = obj.get("datacontenttype")
    if dct is not None and dct != "application/json":
        return None
    ts = fast_time(obj.get("time"))
    if ts is None:
        return None
    fact = _fact(kind, ts, data)
    if fact is None:
        return None
    return subject, f"{source}{KEY_SEPARATOR}{eid}", fact


_KINDS = {
    _PREFIX + k: k
    for k in (
        "dossier.received", "dossier.transferred", "dossier.supplement_requested",
        "dossier.supplemented", "dossier.extended", "dossier.resolved", "dossier.returned",
        "dossier.rejected", "dossier.withdrawn", "dossier.digitized", "payment.completed",
        "feedback.rated",
    )
}
"""Full type → short type. (Events without ``data`` take the pydantic path.)"""
