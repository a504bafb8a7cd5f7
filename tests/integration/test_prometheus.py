"""The Prometheus side of the deployment: the alert rules in ``deploy/prometheus`` pass
``promtool check`` and their unit tests, and a real Prometheus server scrapes the metrics
service (``consumers.metrics.start_metrics``) fed from the KPI topic on the broker, so the
on-time ratio worked out by hand below comes back through PromQL — and the rules loaded in
that server turn it into a pending ``MotcuaOnTimeRatioLow`` alert.

Needs ``promtool`` and ``prometheus`` on PATH (Debian: ``apt-get install prometheus``); the
tests fail, not skip, without them.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from consumers.kpi_board import current_periods
from consumers.metrics import start_metrics
from kpi.counters import Counters
from kpi.report import build_report, snapshot_key
from runtime.broker import free_port
from runtime.children import spawn
from runtime.kafka import producer
from runtime.settings import Settings
from runtime.topics import declared_topics, ensure_topics
from runtime.waiting import wait_for
from tests.scrape import LOCAL
from tests.unit.test_metrics import SIX_GROUPS

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not on PATH; install Prometheus (Debian: apt-get install "
                    f"prometheus) to run the alert-rule and scrape tests")
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


# --------------------------------------------------------------------------- promtool


def test_promtool_checks_the_rules_and_the_config() -> None:
    promtool = _tool("promtool")
    rules = sorted(str(p) for p in (DEPLOY / "rules").glob("*.yml"))
    assert rules, f"no rule files in {DEPLOY / 'rules'}"
    done = _run(promtool, "check", "rules", *rules)
    assert done.returncode == 0, f"promtool check rules failed:\n{done.stdout}{done.stderr}"
    config = DEPLOY / "prometheus.yml"
    if config.exists():
        done = _run(promtool, "check", "config", str(config))
        assert done.returncode == 0, f"promtool check config failed:\n{done.stdout}{done.stderr}"


def test_promtool_rule_unit_tests_pass() -> None:
    promtool = _tool("promtool")
    tests = sorted(str(p) for p in (DEPLOY / "tests").glob("*.yml"))
    assert tests, f"no rule unit tests in {DEPLOY / 'tests'}"
    done = _run(promtool, "test", "rules", *tests)
    assert done.returncode == 0, f"promtool test rules failed:\n{done.stdout}{done.stderr}"
    # every alert of the rule files has at least one unit test
    alerts = {line.split(":", 1)[1].strip() for p in (DEPLOY / "rules").glob("*.yml")
              for line in p.read_text(encoding="utf-8").splitlines()
              if line.strip().startswith("- alert:")}
    tested = "\n".join(Path(t).read_text(encoding="utf-8") for t in tests)
    untested = sorted(a for a in alerts if f"alertname: {a}" not in tested)
    assert not untested, f"alerts without a promtool unit test: {untested}"


# --------------------------------------------------------------------------- a real server


def _get_json(url: str) -> Any:
    with LOCAL.open(url, timeout=5) as resp:
        return json.loads(resp.read())


def _query(base: str, promql: str) -> list[dict[str, Any]]:
    answer = _get_json(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


@contextlib.contextmanager
def _prometheus(tmp_path: Path, target: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Prometheus of our own (own port, own data dir) scraping ``target`` every second and
    evaluating the deploy rules every second; stopped with SIGTERM (then killed)."""
    binary = _tool("prometheus")
    port = free_port()
    rules = sorted(str(p) for p in (DEPLOY / "rules").glob("*.yml"))
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({  # JSON is YAML
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                   "evaluation_interval": "1s"},
        "rule_files": rules,
        "scrape_configs": [{"job_name": "motcua",
                            "static_configs": [{"targets": [target]}]}],
    }), encoding="utf-8")
    log = (tmp_path / "prometheus.log").open("wb")
    proc = spawn(
        [binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        def ready() -> bool:
            with LOCAL.open(f"{base}/-/ready", timeout=2) as resp:
                return bool(resp.status == 200)

        wait_for(ready, timeout=60, what="prometheus /-/ready", process=proc,
                 errors=(OSError,))
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        log.close()
    assert proc.returncode == 0, (
        f"prometheus did not stop cleanly (rc {proc.returncode}):\n"
        + (tmp_path / "prometheus.log").read_text(errors="replace")[-3000:])


def test_real_prometheus_scrapes_the_kpi_ratio(
    topic_settings: Callable[..., Settings], kafka_bootstrap: str, tmp_path: Path,
) -> None:
    _tool("prometheus")
    settings = topic_settings()
    ensure_topics(kafka_bootstrap, declared_topics(settings), settings)
    now = time.time()
    month, _quarter, year = current_periods(now)
    # by hand: on_time_766 = (early + on time + in progress − in progress overdue)
    #                        / (resolved + in progress) = (6 + 12 + 12 − 3) / (24 + 12) = 0.75
    # (24 resolved: above the alert's minimum volume of 20)
    counts = {"received": 36, "received_online": 27, "resolved": 24, "resolved_early": 6,
              "resolved_on_time": 12, "resolved_late": 6, "in_progress": 12,
              "in_progress_overdue": 3}
    expected_on_time = 27 / 36
    month_report = build_report("U1", month, Counters.from_mapping(counts), now,
                                level="commune")
    year_report = build_report("U1", year, Counters.from_mapping({"received": 40}), now,
                               level="commune")
    old_report = build_report("U1", "2001-01", Counters.from_mapping(counts), now,
                              level="commune")  # not a current period: never exported
    # a province above U1: its own desk on time (1.0), its total (own + U1) at
    # (6 + 12 + 12 − 3 + 9) / (24 + 12 + 9) = 36/45 = 0.8 — below 95%, yet no alert: alerts
    # read own figures; the total is recorded as a province total
    province_own = {"received": 9, "resolved": 9, "resolved_on_time": 9}
    province_total = {k: counts.get(k, 0) + province_own.get(k, 0)
                      for k in {*counts, *province_own}}
    p_own = build_report("P1", month, Counters.from_mapping(province_own), now,
                         level="province", unit_name="Tỉnh Một")
    p_total = build_report("P1", month, Counters.from_mapping(province_total), now,
                           level="province", scope="total", unit_name="Tỉnh Một")
    # the province's scores (a six-group catalog; hand-written, as the report carries them)
    p_total = {**p_total, "catalog": "portal-766-2026@2026-01-01", "groups": SIX_GROUPS,
               "total_points": 59.55, "total_max_points": 76}
    prod = producer(settings, kafka_bootstrap)
    try:
        for report in (month_report, year_report, old_report, p_own, p_total):
            key = snapshot_key(report["unit"], report["period"], report["scope"]).encode()
            prod.send(settings.topics.kpi, key=key, value=orjson.dumps(report))
        prod.flush(30)
    finally:
        prod.close()

    metrics_port = free_port()
    served = start_metrics(settings, kafka_bootstrap, registry=CollectorRegistry(),
                           port=metrics_port, addr="127.0.0.1")
    try:
        wait_for(lambda: len(served.board) == 5, timeout=60,
                 what="the KPI feed to read 5 snapshots")
        with _prometheus(tmp_path, f"127.0.0.1:{metrics_port}") as (base, proc):
            selector = f'motcua_kpi_ratio{{unit="U1",kpi="on_time_766",period="{month}"}}'
            result = wait_for(lambda: _query(base, selector), timeout=60, what=selector,
                              process=proc, errors=(OSError,))
            assert len(result) == 1
            sample = result[0]
            assert sample["metric"] == {
                "__name__": "motcua_kpi_ratio", "job": "motcua",
                "instance": f"127.0.0.1:{metrics_port}", "unit": "U1", "level": "commune",
                "period": month, "scope": "own", "view": "as_was", "kpi": "on_time_766",
            }
            assert float(sample["value"][1]) == pytest.approx(expected_on_time, abs=1e-12)

            online = _query(base, f'motcua_kpi_ratio{{unit="U1",kpi="online_receipt",'
                                  f'period="{month}"}}')
            assert float(online[0]["value"][1]) == pytest.approx(0.75)
            count = _query(base, f'motcua_kpi_items{{unit="U1",kpi="received",'
                                 f'period="{year}"}}')
            assert float(count[0]["value"][1]) == 40
            assert _query(base, 'motcua_kpi_ratio{period="2001-01"}') == []
            # no resolved dossiers in the year: its on-time ratio is null, so no sample
            assert _query(base, f'motcua_kpi_ratio{{kpi="on_time_resolved",'
                                f'period="{year}"}}') == []
            # own and total of the province, told apart by scope; the recorded total
            p1 = f'motcua_kpi_ratio{{unit="P1",kpi="on_time_766",period="{month}"}}'
            assert {s["metric"]["scope"]: float(s["value"][1]) for s in _query(base, p1)} \
                == {"own": 1.0, "total": pytest.approx(0.8)}
            recorded = wait_for(
                lambda: _query(base, f'motcua:province_kpi_ratio{{kpi="on_time_766",'
                                     f'period="{month}"}}'),
                timeout=30, what="the province total recorded", process=proc,
                errors=(OSError,))
            assert [(s["metric"]["unit"], s["metric"]["unit_name"], float(s["value"][1]))
                    for s in recorded] == [("P1", "Tỉnh Một", pytest.approx(0.8))]
            # the national total: the sum over provinces (here P1 alone) of their totals,
            # the ratio recomputed from the summed counts — (36 + 9) received, 36/45
            national = wait_for(
                lambda: _query(base, f'motcua:national_kpi_ratio{{kpi="on_time_766",'
                                     f'period="{month}"}}'),
                timeout=30, what="the national total recorded", process=proc,
                errors=(OSError,))
            assert [(s["metric"], float(s["value"][1])) for s in national] == [(
                {"__name__": "motcua:national_kpi_ratio", "kpi": "on_time_766",
                 "period": month, "view": "as_was"}, pytest.approx(0.8))]
            received = _query(base, f'motcua:national_kpi_items{{kpi="received",'
                                    f'period="{month}"}}')
            assert [float(s["value"][1]) for s in received] == [45.0]
            # the scores: one series per group with points (five: satisfaction has none),
            # named in Vietnamese; the total beside them (P1's own figures, a snapshot
            # without scores, are scored by the board: other series)
            groups = _query(base, f'motcua_score_group_points{{unit="P1",scope="total",'
                                  f'period="{month}"}}')
            assert {(s["metric"]["group"], s["metric"]["group_name"], float(s["value"][1]))
                    for s in groups} == {(g["id"], g["name"], g["points"])
                                         for g in SIX_GROUPS if g["points"] is not None}
            total = _query(base, f'motcua_score_total_points{{unit="P1",scope="total",'
                                 f'period="{month}"}}')
            assert [(s["metric"]["catalog"], float(s["value"][1])) for s in total] \
                == [("portal-766-2026@2026-01-01", 59.55)]
            up = _query(base, 'up{job="motcua"}')
            assert [float(s["value"][1]) for s in up] == [1.0]

            # the deploy rules run in this server: 75% < 95% makes the on-time alert pend
            # (it needs 30 minutes to fire) — for U1's own figures, not for P1's total
            def pending() -> list[dict[str, Any]]:
                alerts = _get_json(f"{base}/api/v1/alerts")["data"]["alerts"]
                return [a for a in alerts if a["labels"].get("alertname")
                        == "MotcuaOnTimeRatioLow" and a["labels"].get("kpi") == "on_time_766"]

            alerts = wait_for(pending, timeout=30, what="MotcuaOnTimeRatioLow pending",
                              process=proc, errors=(OSError,))
            assert [(a["state"], a["labels"]["unit"], a["labels"]["period"])
                    for a in alerts] == [("pending", "U1", month)]
            groups = _get_json(f"{base}/api/v1/rules")["data"]["groups"]
            assert all(r["health"] != "err" for g in groups for r in g["rules"]), groups
    finally:
        served.close()
