"""The civil-service working calendar (lịch làm việc) and due instants (ngày hẹn trả).

Holidays come from the ``holidays`` package (``holidays.VN``): the 11 public holidays of
Labour Code 2019 art. 112, lunar Tết and Hùng Kings day, the days off moved by government
decision and the swapped working Saturdays (e.g. Saturday 26/4/2025 worked, Friday 2/5/2025
off). A unit may override it: extra days off, extra working days, or a desk that counts
Saturdays. Nothing here is a hand-written holiday table.

All "local" dates are in Asia/Ho_Chi_Minh, a fixed UTC+7 (no daylight saving since 1975),
so a local date is computed from an epoch instant with integer arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

import holidays

LOCAL_OFFSET_SECONDS = 7 * 3600
LOCAL_TZ = timezone(timedelta(seconds=LOCAL_OFFSET_SECONDS), "ICT")
DAY_SECONDS = 86400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

DUE_HOUR = 17
"""Due instants fall at the end of the working day, 17:00 local."""


def local_day(ts: float) -> int:
    """Days since 1970-01-01 of the local (UTC+7) date of an epoch instant."""
    return int((ts + LOCAL_OFFSET_SECONDS) // DAY_SECONDS)


def day_to_date(day: int) -> date:
    return date.fromordinal(day + _EPOCH_ORDINAL)


def date_to_day(d: date) -> int:
    return d.toordinal() - _EPOCH_ORDINAL


def local_date(ts: float) -> date:
    return day_to_date(local_day(ts))


def local_ordinal(ts: float) -> int:
    """``local_date(ts).toordinal()`` without building the date (a key of the per-day
    caches, computed for every count of every dossier)."""
    return local_day(ts) + _EPOCH_ORDINAL


def local_instant(d: date, hour: int = 0, minute: int = 0) -> float:
    """Epoch seconds of a local wall-clock time on date ``d``."""
    return float(date_to_day(d) * DAY_SECONDS + hour * 3600 + minute * 60 - LOCAL_OFFSET_SECONDS)


def to_local_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, LOCAL_TZ)


@dataclass(frozen=True)
class CalendarRules:
    """How one unit counts working days. Defaults: the national civil-service calendar.

    * ``extra_days_off``: dates the unit does not work (e.g. a local flood closure).
    * ``extra_working_days``: dates the unit works although the national calendar rests.
    * ``saturday_is_working``: a desk that counts Saturdays as working days.
    * ``afternoon_cutoff_hour``: paper dossiers received at or after this local hour count
      from the next working day (a provincial rule; ``None`` = off, the default).
    """

    extra_days_off: frozenset[date] = field(default_factory=frozenset)
    extra_working_days: frozenset[date] = field(default_factory=frozenset)
    saturday_is_working: bool = False
    afternoon_cutoff_hour: int | None = None


DEFAULT_RULES = CalendarRules()


@lru_cache(maxsize=64)
def _national(year: int) -> holidays.HolidayBase:
    return holidays.VN(years=year)


class WorkingCalendar:
    """Working days of one unit, from ``holidays.VN`` plus the unit's overrides."""

    def __init__(self, rules: CalendarRules = DEFAULT_RULES) -> None:
        self.rules = rules
        self._cache: dict[int, bool] = {}
        self._due_cache: dict[tuple[int, int, bool], float] = {}

    def is_working_day(self, d: date) -> bool:
        day = date_to_day(d)
        cached = self._cache.get(day)
        if cached is None:
            cached = self._compute_working(d)
            self._cache[day] = cached
        return cached

    def _compute_working(self, d: date) -> bool:
        if d in self.rules.extra_days_off:
            return False
        if d in self.rules.extra_working_days:
            return True
        national = _national(d.year)
        if d in national:
            return False
        if d in national.weekend_workdays:
            return True
        weekday = d.weekday()
        if weekday == 5 and self.rules.saturday_is_working:
            return True
        return weekday < 5

    def nth_working_day_after(self, d: date, n: int) -> date:
        """The Nth working day strictly after ``d`` (``n = 0`` gives ``d`` itself)."""
        current = d
        remaining = n
        while remaining > 0:
            current += timedelta(days=1)
            if self.is_working_day(current):
                remaining -= 1
        return current

    def due_instant(self, received_ts: float, processing_days: int, paper: bool = True) -> float:
        """Ngày hẹn trả: 17:00 local on the Nth working day after the local receipt date.

        With ``afternoon_cutoff_hour`` set, a paper dossier received at or after that hour
        counts from the next day. ``processing_days = 0`` means "within the day".
        """
        day = local_day(received_ts)
        late = False
        cutoff = self.rules.afternoon_cutoff_hour
        if cutoff is not None and paper:
            seconds_into_day = (received_ts + LOCAL_OFFSET_SECONDS) - day * DAY_SECONDS
            late = seconds_into_day >= cutoff * 3600
        key = (day, processing_days, late)
        cached = self._due_cache.get(key)
        if cached is None:
            start = day_to_date(day)
            if late:  # as if received on the next working day
                start = self.nth_working_day_after(start, 1)
            due_date = self.nth_working_day_after(start, processing_days)
            cached = local_instant(due_date, DUE_HOUR)
            self._due_cache[key] = cached
        return cached


__all__ = [
    "CalendarRules",
    "DEFAULT_RULES",
    "LOCAL_TZ",
    "WorkingCalendar",
    "date_to_day",
    "day_to_date",
    "local_date",
    "local_day",
    "local_instant",
    "local_ordinal",
    "to_local_datetime",
]
