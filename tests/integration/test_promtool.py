"""``promtool`` (Debian package ``prometheus``) checks the Prometheus config, the alert
rules it loads, the PromQL syntax of every Grafana dashboard query, and what ``/metrics``
serves (``promtool check metrics``: the naming conventions)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.test_deploy import PROMETHEUS, dashboard_exprs
from tests.unit.test_metrics import NOW, SIX_GROUPS, _board, _report, _scored

pytestmark = pytest.mark.integration


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: install the Debian package `prometheus` "
                    "(apt-get install -y --no-install-recommends prometheus); .ci/run does")
    return path


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=120,
                          input=stdin)


def test_prometheus_config_is_valid() -> None:
    result = run("check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def grafana_to_promql(expr: str) -> str:
    """A dashboard query with Grafana's variables replaced by plain values."""
    expr = re.sub(r"\$\{?__(rate_)?interval\}?", "5m", expr)
    expr = re.sub(r"\$\{?__range\}?", "1h", expr)
    return re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", "x", expr)


def test_dashboard_queries_parse(tmp_path: Path) -> None:
    exprs = dashboard_exprs()
    rules = [{"record": f"motcua:dashboard_query_{i}", "expr": grafana_to_promql(e)}
             for i, (_where, e) in enumerate(exprs)]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = run("check", "rules", str(path))
    where = "\n".join(f"motcua:dashboard_query_{i}: {w}" for i, (w, _e) in enumerate(exprs))
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\n{where}"


def test_alertmanager_config_is_valid() -> None:
    """``amtool`` (Debian package ``prometheus-alertmanager``) reads the receivers, routes
    and inhibition rules the compose service alertmanager loads."""
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.fail("amtool is missing: install the Debian package `prometheus-alertmanager`"
                    " (make debs does)")
    config = PROMETHEUS.parent / "alertmanager" / "alertmanager.yml"
    result = subprocess.run([amtool, "check-config", str(config)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 receivers" in result.stdout and "3 inhibit rules" in result.stdout


def test_a_real_scrape_passes_check_metrics() -> None:
    """``promtool check metrics`` prints nothing for what a real ``/metrics`` serves: the
    health gauges (``motcua_office_open``, a 0/1 flag, was ``motcua_working_hours``, read as
    a duration in hours), the sink's histogram and counters, and every KPI family —
    ``motcua_kpi_items`` (was ``motcua_kpi_count``, a gauge with a histogram's suffix) and
    the score gauges of a six-group catalog — for units with and without a name."""
    from prometheus_client import CollectorRegistry

    from consumers.flush import SinkMetrics
    from consumers.health import HealthCollector, PipelineHealth
    from tests.scrape import scrape

    registry = CollectorRegistry()
    HealthCollector(lambda: PipelineHealth(dlq_records=2, lag={("motcua-sql-sink", "t"): 4},
                                           newest_event_ts=NOW - 30),
                    clock=lambda: NOW, registry=registry)
    sink = SinkMetrics(registry)
    sink.records.labels("event").inc(3)
    sink.batch_seconds.observe(0.2)
    sink.db_errors.inc()
    board = _board(
        _scored(_report("X1", "2025-05", unit_name="Xã Một", received=3), SIX_GROUPS,
                59.55, 76),
        _scored(_report("P1", "2025-05", scope="total", level="province", received=9),
                SIX_GROUPS, 59.55, 76),
        _report("X2", "2025-Q2", received=1, resolved=1, resolved_on_time=1),
    )
    text = scrape(registry, board, NOW)
    assert "motcua_score_group_points{" in text and "motcua_office_open " in text
    result = run("check", "metrics", stdin=text)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
