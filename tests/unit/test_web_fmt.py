"""Vietnamese formats and period arithmetic of the web pages (hand-worked cases)."""

from __future__ import annotations

from kpi.calendar import local_instant
from motcua.web import fmt
from motcua.web.data import groups_of, last_months, previous_period, total_of


def test_numbers_use_dot_thousands_and_comma_decimals() -> None:
    assert fmt.number(184513) == "184.513"
    assert fmt.points(78.384) == "78,38"
    assert fmt.points(78.38) == "78,38"
    assert fmt.number(1234.5, 1) == "1.234,5"
    assert fmt.number(None) == "—"
    assert fmt.percent(0.9234) == "92,3%"


def test_changes_have_arrows() -> None:
    assert fmt.delta(1.25) == "▲ 1,25"
    assert fmt.delta(-0.4) == "▼ 0,40"
    assert fmt.delta(0.001) == "= 0,00"
    assert fmt.delta(None) == "—"


def test_dates_are_local_dd_mm_yyyy() -> None:
    # 08/12/2026 01:57 in Hanoi is 07/12/2026 18:57 UTC
    import datetime as dt

    ts = dt.datetime(2026, 12, 7, 18, 57, tzinfo=dt.UTC).timestamp()
    assert fmt.date_time(ts) == "08/12/2026 01:57"
    assert fmt.date(ts) == "08/12/2026"
    assert fmt.clock(ts) == "01:57"


def test_period_labels() -> None:
    assert fmt.period_label("2025-03") == "Tháng 03/2025"
    assert fmt.period_label("2025-Q3") == "Quý III/2025"
    assert fmt.period_label("2025-Q3", span=True) == "Quý III/2025 (01/07/2025 – 30/09/2025)"
    assert fmt.period_label("2025") == "Năm 2025"


def test_previous_period_and_last_months() -> None:
    assert previous_period("2025-01") == "2024-12"
    assert previous_period("2025-07") == "2025-06"
    assert previous_period("2025-Q1") == "2024-Q4"
    assert previous_period("2025-Q3") == "2025-Q2"
    assert previous_period("2025") == "2024"
    assert last_months("2025-03") == [
        "2024-04", "2024-05", "2024-06", "2024-07", "2024-08", "2024-09", "2024-10",
        "2024-11", "2024-12", "2025-01", "2025-02", "2025-03"]
    assert last_months("2025-Q2", 3) == ["2025-04", "2025-05", "2025-06"]
    assert last_months("2025", 2) == ["2025-11", "2025-12"]


def test_remaining_time_words() -> None:
    assert fmt.working_days_hours(2 * 86400 + 3 * 3600 + 59) == "2 ngày 3 giờ"
    assert fmt.working_days_hours(-(3600 + 5 * 60)) == "1 giờ 5 phút"
    assert fmt.working_days_hours(300) == "5 phút"
    assert local_instant  # the calendar the pages share with kpi


def test_groups_come_from_the_report_when_it_has_them() -> None:
    report = {"groups": [{"id": "transparency", "name": "Công khai, minh bạch", "points": 12.5,
                          "max_points": 18},
                         {"id": "progress", "name": "Tiến độ", "points": 20, "max_points": 20}],
              "total_points": 90.25, "total_max_points": 100, "criteria": []}
    assert [g["id"] for g in groups_of(report)] == ["transparency", "progress"]
    assert total_of(report) == (90.25, 100.0)


def test_groups_fall_back_to_the_criteria_of_the_first_grouped_catalog() -> None:
    def c(cid: str, group: str | None, points: float | None, mx: float,
          catalog: str = "decision-766@1") -> dict:
        return {"id": cid, "group": group, "points": points, "max_points": mx,
                "applicable": points is not None, "catalog": catalog, "grade": "M",
                "status": "scored" if points is not None else "not scored: no data"}

    report = {"criteria": [c("a", "transparency", 2.0, 5), c("b", "transparency", None, 4),
                           c("d", "progress", 10.0, 20), c("x", None, 3.0, 3, "par@1"),
                           c("y", "progress", 9.0, 9, "other@1")]}
    groups = groups_of(report)
    # 2 + (b not scored: 0) = 2 of 5 + 4 = 9; progress 10 of 20; the other catalogs left out
    assert [(g["id"], g["points"], g["max_points"]) for g in groups] == [
        ("transparency", 2.0, 9.0), ("progress", 10.0, 20.0)]
    assert total_of(report) == (12.0, 29.0)
    assert total_of(None) is None


def test_remaining_counts_working_days_between_the_local_dates() -> None:
    import datetime as dt

    from motcua.web.pages import remaining_text
    from motcua.web.warnings import Row

    def row(due: dt.datetime, ref: dt.datetime) -> Row:
        return Row("overdue", "H", "P", 0.0, due.timestamp(), due.timestamp() -
                   ref.timestamp(), "U", "U", "online")

    hcm = dt.timezone(dt.timedelta(hours=7))
    # due Monday 6/10/2025 17:00 seen on Friday 3/10 09:00: Monday is 1 working day on
    assert remaining_text(row(dt.datetime(2025, 10, 6, 17, tzinfo=hcm),
                              dt.datetime(2025, 10, 3, 9, tzinfo=hcm))) == \
        "còn 1 ngày làm việc"
    # due Friday 3/10 17:00 seen on Tuesday 7/10: Monday and Tuesday past it
    assert remaining_text(row(dt.datetime(2025, 10, 3, 17, tzinfo=hcm),
                              dt.datetime(2025, 10, 7, 10, tzinfo=hcm))) == \
        "quá 2 ngày làm việc"
    # due Friday 29/8/2025, seen Wednesday 3/9: the weekend and 1-2/9 (National Day) are off
    assert remaining_text(row(dt.datetime(2025, 8, 29, 17, tzinfo=hcm),
                              dt.datetime(2025, 9, 3, 8, tzinfo=hcm))) == \
        "quá 1 ngày làm việc"
    # the same day: hours and minutes
    assert remaining_text(row(dt.datetime(2025, 10, 3, 17, tzinfo=hcm),
                              dt.datetime(2025, 10, 3, 14, 55, tzinfo=hcm))) == \
        "còn 2 giờ 5 phút"
    # Friday 17:00 seen Saturday: only a day off between
    assert remaining_text(row(dt.datetime(2025, 10, 3, 17, tzinfo=hcm),
                              dt.datetime(2025, 10, 4, 9, tzinfo=hcm))) == \
        "quá 16 giờ 0 phút"
