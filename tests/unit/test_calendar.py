"""The 2025 civil-service calendar, worked by hand from the government's 2025 decisions."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi.calendar import (
    CalendarRules,
    WorkingCalendar,
    local_date,
    local_instant,
    local_ordinal,
    to_local_datetime,
)

CAL = WorkingCalendar()


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 1, 24), True),  # Friday before Tết
        (date(2025, 1, 27), False),  # Tết 2025: Mon 27/1 .. Sat 1/2 off
        (date(2025, 1, 31), False),
        (date(2025, 2, 3), True),  # first Monday after Tết
        (date(2025, 4, 7), False),  # Hùng Kings (10/3 lunar)
        (date(2025, 4, 26), True),  # Saturday swapped into a working day
        (date(2025, 4, 30), False),
        (date(2025, 5, 1), False),
        (date(2025, 5, 2), False),  # Friday off in exchange for 26/4
        (date(2025, 5, 3), False),  # ordinary Saturday
        (date(2025, 9, 1), False),
        (date(2025, 9, 2), False),  # National Day
        (date(2025, 9, 3), True),
        (date(2026, 11, 24), False),  # Vietnam Culture Day, from 2026
    ],
)
def test_working_days_2025(day: date, working: bool) -> None:
    assert CAL.is_working_day(day) is working


def test_due_from_processing_days_spans_the_april_holidays() -> None:
    # Received Tue 29/4/2025, 2 working days: 30/4, 1/5, 2/5 off, 3-4/5 weekend,
    # so day 1 = Mon 5/5, day 2 = Tue 6/5 → 6/5/2025 17:00 (docs/domain.md's example).
    due = CAL.due_instant(local_instant(date(2025, 4, 29), 9), 2)
    assert to_local_datetime(due).isoformat() == "2025-05-06T17:00:00+07:00"


def test_swapped_saturday_counts() -> None:
    # Received Fri 25/4/2025, 1 working day → Saturday 26/4 (a working day that year).
    due = CAL.due_instant(local_instant(date(2025, 4, 25), 10), 1)
    assert to_local_datetime(due).date() == date(2025, 4, 26)


def test_zero_days_is_within_the_day() -> None:
    due = CAL.due_instant(local_instant(date(2025, 3, 4), 8), 0)
    assert to_local_datetime(due).isoformat() == "2025-03-04T17:00:00+07:00"


def test_unit_overrides() -> None:
    # A desk counting Saturdays: Fri 7/3/2025 + 1 → Sat 8/3.
    sat = WorkingCalendar(CalendarRules(saturday_is_working=True))
    assert to_local_datetime(sat.due_instant(local_instant(date(2025, 3, 7), 9), 1)).day == 8
    # An extra day off on Mon 10/3 pushes Fri 7/3 + 1 to Tue 11/3.
    off = WorkingCalendar(CalendarRules(extra_days_off=frozenset({date(2025, 3, 10)})))
    assert to_local_datetime(off.due_instant(local_instant(date(2025, 3, 7), 9), 1)).day == 11


def test_afternoon_cutoff_is_optional() -> None:
    # Off by default: received Mon 3/3/2025 16:00 + 1 day → Tue 4/3.
    assert to_local_datetime(CAL.due_instant(local_instant(date(2025, 3, 3), 16), 1)).day == 4
    # With a 15:00 cutoff it counts from Tue 4/3 → due Wed 5/3; online dossiers are exempt.
    cut = WorkingCalendar(CalendarRules(afternoon_cutoff_hour=15))
    ts = local_instant(date(2025, 3, 3), 16)
    assert to_local_datetime(cut.due_instant(ts, 1)).day == 5
    assert to_local_datetime(cut.due_instant(ts, 1, paper=False)).day == 4
    # Received Fri 7/3 16:00 with the cutoff → counts from Mon 10/3 → 1 day → Tue 11/3.
    assert to_local_datetime(cut.due_instant(local_instant(date(2025, 3, 7), 16), 1)).day == 11


@pytest.mark.parametrize(
    ("ts", "day"),
    [
        # 2025-06-30 16:59:59 UTC = 23:59:59 local, still 30 June
        (1751302799.0, date(2025, 6, 30)),
        # one second later: midnight local, 1 July (the reorganisation's first day)
        (1751302800.0, date(2025, 7, 1)),
        # 1970-01-01 00:00 UTC = 07:00 local, 1 January 1970; 7 hours before: 1 January too
        (0.0, date(1970, 1, 1)),
        (-25200.0, date(1970, 1, 1)),
        (-25200.5, date(1969, 12, 31)),
    ],
)
def test_local_ordinal_by_hand(ts: float, day: date) -> None:
    assert local_ordinal(ts) == day.toordinal()


@given(st.floats(min_value=946_659_600.0, max_value=4_102_419_600.0))  # 2000 … 2099 local
def test_local_ordinal_is_the_local_dates(ts: float) -> None:
    assert local_ordinal(ts) == local_date(ts).toordinal()
