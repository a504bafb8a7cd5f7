"""The gauges of ``/metrics`` with a fresh registry each (client_python style), read from
what the real server serves (:mod:`tests.scrape`)."""

from __future__ import annotations

from datetime import datetime

import orjson
from prometheus_client import CollectorRegistry

from consumers.health import HealthCollector, PipelineHealth
from consumers.kpi_board import KpiBoard, current_periods
from consumers.sink import SinkMetrics
from kpi.counters import Counters
from kpi.report import build_report
from tests.scrape import sample_value, scrape

NOW = datetime.fromisoformat("2025-05-20T10:00:00+07:00").timestamp()


def _report(unit: str, period: str, as_of: float = NOW, **counts: int) -> dict:
    return build_report(unit, period, Counters.from_mapping(counts), as_of, level="commune")


def _board(*reports: dict) -> KpiBoard:
    board = KpiBoard()
    for r in reports:
        board.put(r)
    return board


def test_current_periods_are_local() -> None:
    assert current_periods(NOW) == ("2025-05", "2025-Q2", "2025")
    # 2025-06-30T17:30Z is already 1 July in Asia/Ho_Chi_Minh
    assert current_periods(datetime.fromisoformat("2025-06-30T17:30:00+00:00").timestamp()) \
        == ("2025-07", "2025-Q3", "2025")


def test_kpi_gauges_current_periods_only_and_no_fake_zero() -> None:
    board = _board(
        _report("U1", "2025-05", received=10, received_online=7),
        _report("U1", "2025-Q2", received=30, received_online=15, resolved=4,
                resolved_on_time=3, resolved_late=1),
        _report("U1", "2025", received=100),
        _report("U1", "2025-04", received=20, received_online=20),  # not current
    )
    text = scrape(CollectorRegistry(), board, NOW)

    def ratio(period: str, kpi: str) -> float | None:
        return sample_value(
            text, "motcua_kpi_ratio",
            {"unit": "U1", "level": "commune", "period": period, "kpi": kpi})

    def count(period: str, kpi: str) -> float | None:
        return sample_value(
            text, "motcua_kpi_count",
            {"unit": "U1", "level": "commune", "period": period, "kpi": kpi})

    assert ratio("2025-05", "online_receipt") == 0.7
    assert ratio("2025-Q2", "on_time_resolved") == 0.75
    assert ratio("2025-Q2", "online_receipt") == 0.5
    assert ratio("2025-05", "on_time_resolved") is None  # 0/0: no sample, not 0
    assert count("2025", "received") == 100
    assert count("2025-05", "resolved") == 0
    assert count("2025-04", "received") is None  # only current month/quarter/year
    assert 'period="2025-04"' not in text


def test_board_last_as_of_wins_and_tombstones_delete() -> None:
    board = KpiBoard()
    new = _report("U1", "2025-05", received=5)
    old = _report("U1", "2025-05", as_of=NOW - 60, received=1)
    board.apply_record(b"U1|2025-05", orjson.dumps(new))
    board.apply_record(b"U1|2025-05", orjson.dumps(old))
    board.apply_record(b"U1|2025-05", b"{garbage")  # logged and skipped
    assert board.reports_for(["2025-05"]) == [new]
    board.apply_record(b"U1|2025-05", None)
    assert len(board) == 0


def test_health_gauges() -> None:
    registry = CollectorRegistry()
    health = PipelineHealth(dlq_records=7, lag={("motcua-sql-sink", "motcua.events.v1"): 42},
                            newest_event_ts=NOW - 30)
    HealthCollector(lambda: health, clock=lambda: NOW, registry=registry)
    text = scrape(registry, None, NOW)
    assert sample_value(text, "motcua_dlq_records") == 7
    assert sample_value(
        text, "motcua_consumer_lag",
        {"group": "motcua-sql-sink", "topic": "motcua.events.v1"}) == 42
    assert sample_value(text, "motcua_newest_event_age_seconds") == 30
    assert sample_value(text, "motcua_health_probe_up") == 1


def test_health_probe_failure_does_not_break_the_scrape() -> None:
    registry = CollectorRegistry()

    def broken() -> PipelineHealth:
        raise OSError("broker away")

    HealthCollector(broken, registry=registry)
    text = scrape(registry, None, NOW)
    assert sample_value(text, "motcua_health_probe_up") == 0
    assert sample_value(text, "motcua_dlq_records") is None


def test_sink_metrics_names() -> None:
    registry = CollectorRegistry()
    m = SinkMetrics(registry)
    m.db_errors.inc()
    m.batch_seconds.observe(0.2)
    m.records.labels("event").inc(3)
    text = scrape(registry, None, NOW)
    assert sample_value(text, "motcua_sink_db_errors_total") == 1
    assert sample_value(text, "motcua_sink_batch_seconds_count") == 1
    assert sample_value(text, "motcua_sink_records_total", {"kind": "event"}) == 3
