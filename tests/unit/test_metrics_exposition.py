"""The KPI gauges as the real server serves them (cached per report): one sample per
non-null ratio and per count of every current report — own figures and totals — labels
escaped, nothing else in those two families (the score families, which the board computes
for snapshots without scores: tests/unit/test_metrics.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from consumers.kpi_board import FAMILIES, ITEMS, RATIO, KpiBoard, current_periods
from kpi.counters import COUNT_KEYS, Counters
from kpi.ratios import RATIO_KEYS
from kpi.report import build_report
from tests.scrape import Sample, samples, serving

NOW = datetime.fromisoformat("2025-05-20T10:00:00+07:00").timestamp()


def _reports() -> list[dict[str, Any]]:
    return [
        build_report(unit, period, Counters.from_mapping(counts), NOW, level="commune",
                     scope=scope, unit_name=name)
        for unit, period, scope, name, counts in [
            ("U1", "2025-05", "own", None, {"received": 10, "received_online": 7}),
            ("U1", "2025-Q2", "own", None,
             {"received": 3, "resolved": 3, "resolved_on_time": 1}),
            ("U1", "2025-Q2", "total", None,
             {"received": 8, "resolved": 5, "resolved_on_time": 4}),
            ('X "quoted" \\ back\nslash', "2025", "own", 'Xã "A" \\ B',
             {"received": 1}),  # label escaping
            ("U2", "2025-04", "own", None, {"received": 5}),  # not a current period
        ]
    ]


def _board() -> KpiBoard:
    board = KpiBoard()
    for report in _reports():
        board.put(report)
    return board


def _expected(reports: list[dict[str, Any]], periods: tuple[str, ...]) -> set[Sample]:
    """What the KPI gauges must say: for each report of ``periods``, its non-null ratios
    and all its counts, labelled unit, unit_name (empty when it has none), level, period,
    scope, view, kpi."""
    out: set[Sample] = set()
    for r in reports:
        if r["period"] not in periods:
            continue
        labels = {"unit": r["unit"], "unit_name": r.get("unit_name") or "",
                  "level": r.get("level") or "", "period": r["period"],
                  "scope": r["scope"], "view": r["view"]}
        for key in RATIO_KEYS:
            if r["ratios"].get(key) is not None:
                out.add(("motcua_kpi_ratio", tuple(sorted({**labels, "kpi": key}.items())),
                         float(r["ratios"][key])))
        for key in COUNT_KEYS:
            out.add(("motcua_kpi_items", tuple(sorted({**labels, "kpi": key}.items())),
                     float(r["counts"].get(key, 0))))
    return out


def test_served_kpi_gauges_are_the_current_reports() -> None:
    with serving(CollectorRegistry(), _board(), NOW) as scrape:
        every = samples(scrape())
    assert {name for name, _, _ in every} <= {name for name, _ in FAMILIES}
    served = {s for s in every if s[0] in (RATIO, ITEMS)}
    expected = _expected(_reports(), current_periods(NOW))
    assert served == expected
    # U1 2025-05: 7/10 online; the "2025-04" report is not current
    assert ("motcua_kpi_ratio", (("kpi", "online_receipt"), ("level", "commune"),
                                 ("period", "2025-05"), ("scope", "own"), ("unit", "U1"),
                                 ("unit_name", ""), ("view", "as_was")), 0.7) in served
    # the total of U1 for the quarter beside its own figures: 4/5 on time
    assert ("motcua_kpi_ratio", (("kpi", "on_time_resolved"), ("level", "commune"),
                                 ("period", "2025-Q2"), ("scope", "total"), ("unit", "U1"),
                                 ("unit_name", ""), ("view", "as_was")), 0.8) in served
    assert not any(dict(labels)["period"] == "2025-04" for _, labels, _ in served)
    # a ratio with a zero denominator has no sample (not a fake 0)
    assert not any(name == "motcua_kpi_ratio" and dict(labels)["kpi"] == "late_apology"
                   for name, labels, _ in served)
    # the escaped unit labels come back as they were
    assert any(dict(labels)["unit"] == 'X "quoted" \\ back\nslash'
               and dict(labels)["unit_name"] == 'Xã "A" \\ B' for _, labels, _ in served)


def test_cache_follows_updates() -> None:
    board = _board()
    with serving(CollectorRegistry(), board, NOW) as scrape:
        before = scrape()
        board.put(build_report("U1", "2025-05", Counters.from_mapping({"received": 4}),
                               NOW + 1, level="commune"))
        after_text = scrape()
        after = samples(after_text)
        assert before != after_text
        assert ("motcua_kpi_items", (("kpi", "received"), ("level", "commune"),
                                     ("period", "2025-05"), ("scope", "own"), ("unit", "U1"),
                                     ("unit_name", ""), ("view", "as_was")), 4.0) in after
        board.delete("U1", "2025-05")
        assert not any(dict(labels).get("period") == "2025-05"
                       for _, labels, _ in samples(scrape()))


def test_server_appends_kpis_to_the_registry() -> None:
    registry = CollectorRegistry()
    Counter("motcua_test_things", "a registry metric", registry=registry).inc(3)
    with serving(registry, _board(), NOW) as scrape:
        body = scrape()  # Content-Type text/plain (checked by tests.scrape.get)
        names = {s[0] for s in samples(body)}
        assert {"motcua_test_things_total", "motcua_kpi_ratio", "motcua_kpi_items"} <= names
        # gzip when asked, as Prometheus does
        assert scrape(compressed=True) == body
