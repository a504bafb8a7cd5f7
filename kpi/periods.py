"""Reporting periods (kỳ báo cáo): month ``2025-04``, quarter ``2025-Q2``, year ``2025``.

Periods are bounded in local time (Asia/Ho_Chi_Minh): a month runs from 00:00 local on its
first day to 00:00 local on the first day of the next. They are keys computed from business
time, not stream windows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from kpi.calendar import (
    DAY_SECONDS,
    LOCAL_OFFSET_SECONDS,
    date_to_day,
    day_to_date,
    local_date,
    local_day,
)
from schemas.errors import BadPeriod

_PERIOD_RE = re.compile(r"^(\d{4})(?:-(?:(0[1-9]|1[0-2])|Q([1-4])))?$")


@dataclass(frozen=True, slots=True)
class Period:
    key: str
    start: float
    """Epoch seconds of 00:00 local on the first day (inclusive)."""
    end: float
    """Epoch seconds of 00:00 local on the first day of the next period (exclusive)."""

    @property
    def first_day(self) -> date:
        """The local date the period begins on (the day catalogs are selected by)."""
        return local_date(self.start)

    @property
    def kind(self) -> str:
        if "-Q" in self.key:
            return "quarter"
        return "month" if "-" in self.key else "year"


def _midnight(d: date) -> float:
    return float(date_to_day(d) * DAY_SECONDS - LOCAL_OFFSET_SECONDS)


@lru_cache(maxsize=4096)
def parse_period(key: str) -> Period:
    m = _PERIOD_RE.match(key)
    if not m:
        raise BadPeriod(f"period {key!r}: expected YYYY, YYYY-MM or YYYY-Qn")
    year = int(m.group(1))
    if m.group(2):
        month = int(m.group(2))
        start = date(year, month, 1)
        end = date(year + (month == 12), month % 12 + 1, 1)
    elif m.group(3):
        q = int(m.group(3))
        start = date(year, 3 * q - 2, 1)
        end = date(year + (q == 4), (3 * q) % 12 + 1, 1)
    else:
        start, end = date(year, 1, 1), date(year + 1, 1, 1)
    return Period(key, _midnight(start), _midnight(end))


_KEYS_OF_DAY: dict[int, tuple[str, str, str]] = {}


def keys_of_day(day: int) -> tuple[str, str, str]:
    """(month, quarter, year) keys of a local day number."""
    keys = _KEYS_OF_DAY.get(day)
    if keys is None:
        d = day_to_date(day)
        keys = (f"{d.year}-{d.month:02d}", f"{d.year}-Q{(d.month - 1) // 3 + 1}", str(d.year))
        _KEYS_OF_DAY[day] = keys
    return keys


def period_keys(ts: float) -> tuple[str, str, str]:
    """(month, quarter, year) keys of the local date of an epoch instant."""
    return keys_of_day(int((ts + LOCAL_OFFSET_SECONDS) // DAY_SECONDS))


def next_month_start(ts: float) -> float:
    """Epoch seconds of the first local midnight of the month after the one holding ``ts``."""
    d = day_to_date(local_day(ts))
    return _midnight(date(d.year + (d.month == 12), d.month % 12 + 1, 1))


@lru_cache(maxsize=65536)
def _months_from(year: int, month: int, count: int) -> tuple[Period, ...]:
    out = []
    for _ in range(count):
        out.append(parse_period(f"{year}-{month:02d}"))
        year, month = year + (month == 12), month % 12 + 1
    return tuple(out)


@lru_cache(maxsize=65536)
def _month_index(day: int) -> int:
    d = day_to_date(day)
    return d.year * 12 + d.month - 1


@lru_cache(maxsize=65536)
def _periods_of_months(first: int, last: int) -> tuple[Period, ...]:
    months = _months_from(first // 12, first % 12 + 1, last - first + 1)
    quarters: dict[str, None] = {}
    years: dict[str, None] = {}
    for p in months:
        y, m = p.key.split("-")
        quarters[f"{y}-Q{(int(m) - 1) // 3 + 1}"] = None
        years[y] = None
    return (*months, *(parse_period(k) for k in quarters), *(parse_period(k) for k in years))


def periods_between(first_ts: float, last_ts: float) -> tuple[Period, ...]:
    """Every month, quarter and year whose span intersects [first_ts, last_ts]."""
    if last_ts < first_ts:
        return ()
    return _periods_of_months(_month_index(local_day(first_ts)), _month_index(local_day(last_ts)))


def previous_period(key: str) -> str:
    """The period of the same length just before ``key``: ``2026-01`` → ``2025-12``,
    ``2026-Q1`` → ``2025-Q4``, ``2026`` → ``2025`` (the period of that kind holding the
    day before ``key``'s first day)."""
    period = parse_period(key)
    month, quarter, year = keys_of_day(local_day(period.start) - 1)
    return {"month": month, "quarter": quarter, "year": year}[period.kind]


__all__ = [
    "BadPeriod",
    "Period",
    "keys_of_day",
    "next_month_start",
    "parse_period",
    "period_keys",
    "periods_between",
    "previous_period",
]
