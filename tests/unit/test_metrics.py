"""The gauges of ``/metrics`` with a fresh registry each (client_python style), read from
what the real server serves (:mod:`tests.scrape`)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from prometheus_client import CollectorRegistry

from consumers.flush import SinkMetrics
from consumers.health import HealthCollector, PipelineHealth
from consumers.kpi_board import KpiBoard, current_periods
from kpi.counters import Counters
from kpi.criteria import GROUP_LABELS_VI
from kpi.report import build_report, snapshot_key
from tests.scrape import sample_value, samples, scrape

NOW = datetime.fromisoformat("2025-05-20T10:00:00+07:00").timestamp()


def _report(unit: str, period: str, as_of: float = NOW, *, scope: str = "own",
            unit_name: str | None = None, level: str = "commune", **counts: int) -> dict:
    return build_report(unit, period, Counters.from_mapping(counts), as_of, level=level,
                        scope=scope, unit_name=unit_name)


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
            {"unit": "U1", "unit_name": "", "level": "commune", "period": period,
             "scope": "own", "view": "as_was", "kpi": kpi})

    def count(period: str, kpi: str) -> float | None:
        return sample_value(
            text, "motcua_kpi_items",
            {"unit": "U1", "unit_name": "", "level": "commune", "period": period,
             "scope": "own", "view": "as_was", "kpi": kpi})

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


def test_own_and_total_are_two_series_and_tombstones_name_their_scope() -> None:
    """A province's own figures and its total (docs/contract.md) are served side by side,
    told apart by ``scope``; a tombstone of ``unit|period|total`` deletes the total only."""
    board = KpiBoard()
    own = _report("DT", "2025-05", level="province", received=4, received_online=1)
    total = _report("DT", "2025-05", level="province", scope="total", received=40,
                    received_online=30)
    board.apply_record(snapshot_key("DT", "2025-05").encode(), orjson.dumps(own))
    board.apply_record(snapshot_key("DT", "2025-05", "total").encode(), orjson.dumps(total))
    text = scrape(CollectorRegistry(), board, NOW)
    labels = {"unit": "DT", "unit_name": "", "level": "province", "period": "2025-05",
              "view": "as_was", "kpi": "received"}
    assert sample_value(text, "motcua_kpi_items", {**labels, "scope": "own"}) == 4
    assert sample_value(text, "motcua_kpi_items", {**labels, "scope": "total"}) == 40
    assert sample_value(text, "motcua_kpi_ratio",
                        {**labels, "scope": "total", "kpi": "online_receipt"}) == 0.75
    board.apply_record(snapshot_key("DT", "2025-05", "total").encode(), None)
    assert board.reports_for(["2025-05"]) == [own]
    board.apply_record(b"not a snapshot key", None)  # deletes nothing
    assert len(board) == 1


def test_one_unit_name_per_unit() -> None:
    """``unit_name`` is a label only as long as each unit has one name in a scrape: the
    name of its newest snapshot, on every series of the unit (a snapshot still carrying the
    old name is served under the new one); a unit without a name has it empty (every series
    of a family has the same label set; Prometheus stores an empty label as none)."""
    board = _board(
        _report("DT", "2025-05", as_of=NOW - 60, unit_name="Tỉnh Đồng Tháp (cũ)"),
        _report("DT", "2025-05", scope="total", unit_name="Tỉnh Đồng Tháp", received=2),
        _report("DT", "2025", as_of=NOW - 30, unit_name="Tỉnh Đồng Tháp (cũ)"),
        _report("U9", "2025-05", received=1),
    )
    text = scrape(CollectorRegistry(), board, NOW)
    names: dict[str, set[str | None]] = {}
    for _name, labels, _value in samples(text):
        names.setdefault(dict(labels)["unit"], set()).add(dict(labels).get("unit_name"))
    assert names == {"DT": {"Tỉnh Đồng Tháp"}, "U9": {""}}
    # the series are the same as without names: one per (unit, period, scope, kpi or group)
    keys = [(dict(lb)["unit"], dict(lb)["period"], dict(lb)["scope"],
             dict(lb).get("kpi"), dict(lb).get("group"), n) for n, lb, _v in samples(text)]
    assert len(keys) == len(set(keys))
    # a newer snapshot with another name renames every series of the unit
    board.put(_report("DT", "2025", as_of=NOW + 1, unit_name="Tỉnh Đồng Tháp mới",
                      received=3))
    renamed = {dict(lb).get("unit_name") for _n, lb, _v in
               samples(scrape(CollectorRegistry(), board, NOW)) if dict(lb)["unit"] == "DT"}
    assert renamed == {"Tỉnh Đồng Tháp mới"}


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


SIX_GROUPS = [
    # by hand, a commune scored by a six-group catalog: digitization's maximum is 16 of 22
    # (6 points of metrics not scored, "chưa phát sinh"); satisfaction has no points at all
    # (nothing scored: null, so no sample, never a fake 0); total 15.2 + 19.6 + 6 + 8.5 +
    # 10.25 = 59.55 of 18 + 20 + 12 + 10 + 16 = 76
    {"id": "transparency", "name": "Công khai, minh bạch", "points": 15.2, "max_points": 18},
    {"id": "progress", "name": "Tiến độ, kết quả giải quyết", "points": 19.6,
     "max_points": 20},
    {"id": "online_services", "name": "Cung cấp dịch vụ trực tuyến", "points": 6,
     "max_points": 12},
    {"id": "online_payment", "name": "Thanh toán trực tuyến", "points": 8.5, "max_points": 10},
    {"id": "digitization", "name": "Số hóa hồ sơ", "points": 10.25, "max_points": 16},
    {"id": "satisfaction", "name": "Mức độ hài lòng", "points": None, "max_points": None},
]


def _scored(report: dict, groups: list[dict], total: float, total_max: float) -> dict:
    return {**report, "catalog": "portal-766-2026@2026-01-01", "groups": groups,
            "total_points": total, "total_max_points": total_max}


def test_group_points_and_total_per_unit() -> None:
    """Every group of the report's ``groups`` is a series of
    ``motcua_score_group_points`` / ``motcua_score_group_max_points`` (labels of the unit,
    plus catalog, group, group_name), in the report's order; the total is
    ``motcua_score_total_points`` / ``motcua_score_total_max_points``."""
    own = _scored(_report("X1", "2025-05", unit_name="Xã Một", received=3), SIX_GROUPS,
                  59.55, 76)
    unscored = _report("X2", "2025-05", received=1)  # a live snapshot: the board scores it
    text = scrape(CollectorRegistry(), _board(own, unscored), NOW)
    unit = {"unit": "X1", "unit_name": "Xã Một", "level": "commune", "period": "2025-05",
            "scope": "own", "view": "as_was", "catalog": "portal-766-2026@2026-01-01"}
    points = {g["id"]: sample_value(text, "motcua_score_group_points",
                                    {**unit, "group": g["id"], "group_name": g["name"]})
              for g in SIX_GROUPS}
    assert points == {"transparency": 15.2, "progress": 19.6, "online_services": 6,
                      "online_payment": 8.5, "digitization": 10.25, "satisfaction": None}
    maxima = {g["id"]: sample_value(text, "motcua_score_group_max_points",
                                    {**unit, "group": g["id"], "group_name": g["name"]})
              for g in SIX_GROUPS}
    assert maxima == {"transparency": 18, "progress": 20, "online_services": 12,
                      "online_payment": 10, "digitization": 16, "satisfaction": None}
    assert sample_value(text, "motcua_score_total_points", unit) == 59.55
    assert sample_value(text, "motcua_score_total_max_points", unit) == 76
    served = samples(text)
    # in the report's order, whatever their number
    order = [line.split('group="')[1].split('"')[0] for line in text.splitlines()
             if line.startswith("motcua_score_group_max_points{") and 'unit="X1"' in line]
    assert order == ["transparency", "progress", "online_services", "online_payment",
                     "digitization"]
    # X2 carried no scores: scored by the catalog valid in May 2025, the decision's own
    x2 = {dict(s[1])["catalog"] for s in served if s[0].startswith("motcua_score_")
          and dict(s[1])["unit"] == "X2"}
    assert len(x2) == 1 and x2.pop().startswith("decision-766-2022@")


def test_a_live_snapshot_is_scored_by_the_catalog_of_its_period() -> None:
    """Live snapshots carry counts only; the board scores them. Worked by hand for a commune
    in May 2026 (catalog portal-766-2026): 4 handled, 3 of them on time, nothing else.
    transparency: every metric 0/0, not scored (max 0); progress 20 × 3/4 = 15;
    online services: full_online null → 0 of 12; payment: A, B, C null → 0 of 10;
    digitization: the five handled metrics 0/4 → 0, e-certified copy with no commune in
    scope → its maximum 2, procedures connected 0/0 → 0: 2 of 22; satisfaction: no
    petitions → 6 + 6, dossiers (4 − 0)/4 → 6: 18 of 18. Total 35 of 82."""
    now = datetime(2026, 5, 20, 10, 0, tzinfo=UTC).timestamp()
    live = _report("X3", "2026-05", now, resolved=4, resolved_on_time=3, resolved_late=1,
                   handled=4)
    assert "groups" not in live
    text = scrape(CollectorRegistry(), _board(live), now)
    unit = {"unit": "X3", "unit_name": "", "level": "commune", "period": "2026-05",
            "scope": "own", "view": "as_was"}
    catalogs = {dict(s[1])["catalog"] for s in samples(text)
                if s[0] == "motcua_score_total_points"}
    assert len(catalogs) == 1
    unit["catalog"] = catalog = catalogs.pop()
    assert catalog.startswith("portal-766-2026@")
    assert sample_value(text, "motcua_score_total_points", unit) == 35
    assert sample_value(text, "motcua_score_total_max_points", unit) == 82

    def group(gid: str, family: str) -> float | None:
        return sample_value(text, family,
                            {**unit, "group": gid, "group_name": GROUP_LABELS_VI[gid]})

    assert group("progress", "motcua_score_group_points") == 15
    assert group("online_services", "motcua_score_group_points") == 0
    assert group("online_payment", "motcua_score_group_points") == 0
    assert group("digitization", "motcua_score_group_points") == 2
    assert group("digitization", "motcua_score_group_max_points") == 22
    assert group("satisfaction", "motcua_score_group_points") == 18
    assert group("transparency", "motcua_score_group_max_points") == 0


def test_every_series_of_a_family_has_the_same_labels() -> None:
    """Prometheus naming: one label set per family, whether a unit has a name, a level or
    scores (checked on a scrape with the health gauges, the sink's and every KPI family)."""
    registry = CollectorRegistry()
    HealthCollector(lambda: PipelineHealth(dlq_records=1, lag={("g", "t"): 2},
                                           newest_event_ts=NOW - 5),
                    clock=lambda: NOW, registry=registry)
    SinkMetrics(registry).records.labels("event").inc()
    board = _board(
        _scored(_report("X1", "2025-05", unit_name="Xã Một", received=3), SIX_GROUPS,
                59.55, 76),
        _scored(_report("P1", "2025-05", scope="total", level="province", received=9),
                SIX_GROUPS[:2], 34.8, 38),
        _report("X2", "2025-Q2", received=1),
        build_report("Y", "2025", Counters(), NOW),  # no level, no name
    )
    label_sets: dict[str, set[frozenset[str]]] = {}
    for name, labels, _value in samples(scrape(registry, board, NOW)):
        label_sets.setdefault(name, set()).add(frozenset(k for k, _v in labels))
    assert {"motcua_kpi_ratio", "motcua_kpi_items", "motcua_score_group_points",
            "motcua_score_total_points", "motcua_office_open"} <= set(label_sets)
    assert {n: s for n, s in label_sets.items() if len(s) != 1} == {}
