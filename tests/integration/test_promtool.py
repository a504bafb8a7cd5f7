"""``promtool`` (Debian package ``prometheus``) checks the Prometheus config, the alert
rules it loads, and the PromQL syntax of every Grafana dashboard query."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.test_deploy import PROMETHEUS, dashboard_exprs

pytestmark = pytest.mark.integration


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: install the Debian package `prometheus` "
                    "(apt-get install -y --no-install-recommends prometheus); .ci/run does")
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=120)


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
