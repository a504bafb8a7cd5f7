"""``motcua_office_open``: office hours of working days of the national calendar, the
gate of the "pipeline stalled" alert (deploy/prometheus/rules/motcua.yml)."""

from __future__ import annotations

from datetime import datetime

import pytest
from prometheus_client import CollectorRegistry

from consumers.health import HealthCollector, PipelineHealth, is_working_hour
from kpi.calendar import WorkingCalendar
from tests.scrape import sample_value, scrape


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@pytest.mark.parametrize(("instant", "working"), [
    ("2025-05-20T10:00:00+07:00", True),    # a Tuesday morning
    ("2025-05-20T07:30:00+07:00", True),    # opening
    ("2025-05-20T07:29:59+07:00", False),
    ("2025-05-20T17:00:00+07:00", False),   # closing
    ("2025-05-20T03:00:00+00:00", True),    # 10:00 in Vietnam, whatever the host's zone
    ("2025-05-24T10:00:00+07:00", False),   # Saturday
    ("2025-04-30T09:00:00+07:00", False),   # Reunification Day
    ("2025-09-02T10:00:00+07:00", False),   # National Day
])
def test_office_hours_of_working_days(instant: str, working: bool) -> None:
    assert is_working_hour(_ts(instant), WorkingCalendar()) is working


def test_the_gauge_is_served_even_when_the_probe_fails() -> None:
    def broken() -> PipelineHealth:
        raise OSError("broker away")

    for instant, value in (("2025-05-20T10:00:00+07:00", 1), ("2025-05-24T10:00:00+07:00", 0)):
        registry = CollectorRegistry()
        HealthCollector(broken, clock=lambda i=instant: _ts(i), registry=registry)
        text = scrape(registry, None, _ts(instant))
        assert sample_value(text, "motcua_office_open") == value
        assert sample_value(text, "motcua_health_probe_up") == 0
