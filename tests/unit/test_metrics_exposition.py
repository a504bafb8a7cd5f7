"""The served KPI text (cached per report) says exactly what KpiCollector says."""

from __future__ import annotations

import gzip
import urllib.request
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from consumers.metrics import KpiBoard, KpiCollector, current_periods, serve_metrics
from kpi.counters import Counters
from kpi.report import build_report
from runtime.broker import free_port

NOW = datetime.fromisoformat("2025-05-20T10:00:00+07:00").timestamp()


def _board() -> KpiBoard:
    board = KpiBoard()
    for unit, period, counts in [
        ("U1", "2025-05", {"received": 10, "received_online": 7}),
        ("U1", "2025-Q2", {"received": 3, "resolved": 3, "resolved_on_time": 1}),
        ('X "quoted" \\ back\nslash', "2025", {"received": 1}),  # label escaping
        ("U2", "2025-04", {"received": 5}),  # not a current period
    ]:
        board.put(build_report(unit, period, Counters.from_mapping(counts), NOW,
                               level="commune"))
    return board


def _samples(text: str) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    return {(s.name, tuple(sorted(s.labels.items())), s.value)
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_exposition_equals_the_collector() -> None:
    board = _board()
    registry = CollectorRegistry()
    KpiCollector(board, clock=lambda: NOW, registry=registry)
    expected = _samples(generate_latest(registry).decode())
    served = board.exposition(current_periods(NOW)).decode()
    assert _samples(served) == expected
    # U1 2025-05: 7/10 online; the "2025-04" report is not current
    assert ("motcua_kpi_ratio", (("kpi", "online_receipt"), ("level", "commune"),
                                 ("period", "2025-05"), ("unit", "U1")), 0.7) in expected
    assert not any(dict(labels)["period"] == "2025-04" for _, labels, _ in expected)
    # a ratio with a zero denominator has no sample (not a fake 0)
    assert not any(name == "motcua_kpi_ratio" and dict(labels)["kpi"] == "late_apology"
                   for name, labels, _ in expected)


def test_cache_follows_updates() -> None:
    board = _board()
    before = board.exposition(["2025-05"])
    board.put(build_report("U1", "2025-05", Counters.from_mapping({"received": 4}),
                           NOW + 1, level="commune"))
    after = _samples(board.exposition(["2025-05"]).decode())
    assert before != board.exposition(["2025-05"])
    assert ("motcua_kpi_count", (("kpi", "received"), ("level", "commune"),
                                 ("period", "2025-05"), ("unit", "U1")), 4.0) in after
    board.delete("U1", "2025-05")
    assert not _samples(board.exposition(["2025-05"]).decode())


def test_server_appends_kpis_to_the_registry() -> None:
    registry = CollectorRegistry()
    Counter("motcua_test_things", "a registry metric", registry=registry).inc(3)
    port = free_port()
    server = serve_metrics(registry, _board(), port, "127.0.0.1", clock=lambda: NOW)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            body = resp.read().decode()
            assert resp.headers["Content-Type"].startswith("text/plain")
    finally:
        server.shutdown()
        server.server_close()
    names = {s[0] for s in _samples(body)}
    assert {"motcua_test_things_total", "motcua_kpi_ratio", "motcua_kpi_count"} <= names
    # gzip when asked, as Prometheus does
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics",
                                     headers={"Accept-Encoding": "gzip"})
    server = serve_metrics(registry, _board(), port, "127.0.0.1", clock=lambda: NOW)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.headers["Content-Encoding"] == "gzip"
            assert gzip.decompress(resp.read()).decode() == body
    finally:
        server.shutdown()
        server.server_close()
