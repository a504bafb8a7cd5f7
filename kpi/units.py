"""Per-unit working calendars (lịch làm việc của đơn vị).

The unit registry (versions, validity, successors) is :mod:`kpi.registry`; which unit a
count goes to is :mod:`kpi.attribution`.
"""

from __future__ import annotations

from collections.abc import Mapping

from kpi.calendar import DEFAULT_RULES, CalendarRules, WorkingCalendar


class CalendarBook:
    """The working calendar of each unit: national by default, overridden per unit."""

    def __init__(self, overrides: Mapping[str, CalendarRules] | None = None) -> None:
        self._default = WorkingCalendar(DEFAULT_RULES)
        self._by_unit = {code: WorkingCalendar(r) for code, r in (overrides or {}).items()}

    def __call__(self, unit: str) -> WorkingCalendar:
        return self._by_unit.get(unit, self._default)
