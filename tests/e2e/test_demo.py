"""`motcua demo` end to end on the embedded broker, as `make demo` runs it (smaller): broker,
faust worker, SQL sink, /metrics and the HTTP ingest, scorecard from the live snapshots.

By default the simulated world (1/1/2025 to the last complete month) crosses the 1/7/2025
reorganisation and the demo runs with the registry it writes (own figures and totals, as it
was and restated); with ``--no-reorganisation`` it is the v1 demo (no registry, own figures
only). Its scorecards are for the year of the last complete month
(:func:`motcua.demo.demo_period`: 2026 until December 2026), scored with the six groups of
``portal-766-2026`` in the printout and the SQL store. Each run serves until SIGTERM, so its
HTTP ingest and /metrics are tried while it runs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest

from kpi.batch import aggregate, fold_file
from kpi.registry import UnitRegistry
from kpi.simulate.config import DEFAULT_SOURCE
from kpi.units import CalendarBook
from motcua.demo import demo_period, today
from runtime.broker import free_port
from runtime.children import spawn
from runtime.waiting import wait_for
from tests.eventkit import received_dict

SERVING = "serving (worker, sink, /metrics, HTTP ingest, web pages)"
PERIOD = demo_period(today())
"""The demo's scorecard period (2026 when run in 2026)."""
SIX_GROUPS = ["transparency", "progress", "online_services", "online_payment",
              "digitization", "satisfaction"]


def _post_to_the_demo_ingest(lines: list[str]) -> None:
    """While the demo serves: its ingest answers /healthz and accepts one event sent with
    the demo token it printed (unit DT.E2E, outside the simulated units)."""
    out = "".join(lines)
    (token,) = re.findall(r"^(mct_[A-Za-z0-9_-]+)$", out, re.M)
    url = re.search(r"HTTP ingest: (http://\S+)/v1/events", out)
    assert url, out[-3000:]
    assert f'-H "Authorization: Bearer {token}"' in out  # the printed curl line
    assert httpx.get(f"{url[1]}/healthz", timeout=10).status_code == 200
    event = received_dict("2025-06-02T08:00:00+07:00", "E2E-1", unit="DT.E2E",
                          source=DEFAULT_SOURCE, id_="e2e-http-1")
    answer = httpx.post(f"{url[1]}/v1/events", content=orjson.dumps(event), timeout=30,
                        headers={"Authorization": f"Bearer {token}",
                                 "Content-Type": "application/cloudevents+json"})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"accepted": 1, "rejected": []}


def _demo_metrics(env: dict[str, str]) -> str:
    """While the demo serves: its /metrics exposition."""
    answer = httpx.get(f"http://127.0.0.1:{env['MOTCUA_METRICS_PORT']}/metrics", timeout=30)
    assert answer.status_code == 200
    return answer.text

pytestmark = pytest.mark.integration


def _demo(tmp_path: Path, *options: str) -> tuple[dict[str, str], str, str]:
    """Run the demo until it serves, try its ingest, read its /metrics, stop it: (its
    environment, its output, its /metrics)."""
    env = {**os.environ, "MOTCUA_DATA_DIR": str(tmp_path),
           "MOTCUA_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
           "MOTCUA_METRICS_PORT": str(free_port()), "MOTCUA_HTTP_PORT": str(free_port()),
           "PYTHONUNBUFFERED": "1"}
    env.pop("MOTCUA_KAFKA_BOOTSTRAP", None)
    env.pop("MOTCUA_UNITS_FILE", None)
    # serving until SIGTERM (not --exit-when-idle), so its HTTP ingest is tried while it runs
    stderr = (tmp_path / "demo.stderr").open("w+")
    proc = spawn(
        [sys.executable, "-m", "motcua", "demo", "--scale", "0.03", *options],
        env=env, stdout=subprocess.PIPE, stderr=stderr, text=True,
    )
    lines: list[str] = []
    assert proc.stdout is not None

    def read() -> None:
        for line in proc.stdout or ():
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(lambda: any(SERVING in line for line in lines), timeout=300, poll=0.5,
                 process=proc, what="the demo to serve")  # type: ignore[arg-type]
        _post_to_the_demo_ingest(lines)
        metrics = _demo_metrics(env)
    finally:
        proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(timeout=120)
        reader.join(timeout=10)
        stderr.seek(0)
        errors = stderr.read()
        stderr.close()
    out = "".join(lines)
    assert returncode == 0, out[-3000:] + errors[-3000:]
    return env, out, metrics


def _check_own_scorecard_and_store(tmp_path: Path, env: dict[str, str], out: str,
                                   metrics: str) -> None:
    events = tmp_path / "demo-events.jsonl"
    assert events.exists()
    # every unit's received count for the demo's period appears in the scorecard row of
    # that unit, worked out independently by the batch path over the same file
    agg = aggregate(fold_file(events).states(), time.time(), CalendarBook())
    assert agg.levels, "the simulator produced no dossiers"
    assert {p for _, p in agg.counters} >= {"2025", PERIOD}  # the world runs into 2026
    shown = [u for u in agg.levels
             if (u, PERIOD) in agg.counters and agg.counters[(u, PERIOD)]["received"]]
    assert shown
    scorecard = _section(out, f"Bảng điểm kỳ {PERIOD} — Số liệu của đơn vị (own), Theo")
    for unit in shown:
        received = agg.counters[(unit, PERIOD)]["received"]
        row = next(line for line in scorecard if f" {unit} " in line)
        assert f" {received:,} " in row, (unit, received, row)
    assert "published" in out and "Bảng điểm" in out
    # scored by the catalog in force on the period's first day: the portal's six groups
    assert "bộ chỉ số portal-766-2026@2026.1" in out
    # the live pipeline's snapshots were reconciled with the batch path by the demo itself
    assert "live KPI snapshots equal the batch report" in out
    # and the SQL sink stored them, 2025 and the demo's period: `motcua report --db`
    for unit, period in ((shown[0], PERIOD), (sorted(shown)[-1], PERIOD),
                         ("DT.TANHONG", "2025")):
        stored = subprocess.run(
            [sys.executable, "-m", "motcua", "report", "--db", env["MOTCUA_DATABASE_URL"],
             "--unit", unit, "--period", period, "--json"],
            env=env, capture_output=True, text=True, timeout=60,
        )
        assert stored.returncode == 0, stored.stderr
        report = json.loads(stored.stdout)
        assert report["counts"]["received"] == agg.counters[(unit, period)]["received"]
        if period == PERIOD:
            assert report["catalog"] == "portal-766-2026@2026.1"
            assert [g["id"] for g in report["groups"]] == SIX_GROUPS
    # /metrics serves the year's live figures (the live snapshots carry no scores, so
    # /metrics has no score series: docs/decisions/streams-criteria-off.md)
    for unit in shown:
        served = re.findall(rf'^motcua_kpi_items{{unit="{re.escape(unit)}",[^}}]*'
                            rf'period="{PERIOD}",scope="own",[^}}]*kpi="received"}} (\S+)$',
                            metrics, re.M)
        assert [float(v) for v in served] == [agg.counters[(unit, PERIOD)]["received"]], unit


def _section(out: str, title: str) -> list[str]:
    """The lines of the table whose title contains ``title``, up to the next title."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if title in line)
    end = next((i for i in range(start + 1, len(lines)) if "Bảng điểm kỳ" in lines[i]),
               len(lines))
    return lines[start:end]


def test_demo_scorecard_matches_the_batch_report(tmp_path: Path) -> None:
    env, out, metrics = _demo(tmp_path)
    _check_own_scorecard_and_store(tmp_path, env, out, metrics)
    # the run crossed the reorganisation and wrote the registry it used
    registry = UnitRegistry.load(tmp_path / "units.csv")
    agg = aggregate(fold_file(tmp_path / "demo-events.jsonl").states(), time.time(),
                    CalendarBook(), registry=registry)
    assert {"DT.M01", "DT.TANHONG.X01"} <= {u for u, p in agg.counters if p == "2025"}
    # the totals table: the province's total for the period, named; the district ceased
    # in 2025, so it has none
    totals = _section(out, "Tổng hợp (total), Theo thời điểm phát sinh (as_was)")
    for unit in ("DT",):
        received = agg.totals[(unit, PERIOD)]["received"]
        row = next(line for line in totals if f" {unit} " in line)
        assert f" {received:,} " in row, (unit, received, row)
    assert ("DT.TANHONG", PERIOD) not in agg.totals
    assert "UBND tỉnh Đồng Tháp" in "\n".join(totals)
    # restated: each new commune's series is the sum of the units handed over to it
    restated = _section(out, "Số liệu của đơn vị (own), Quy đổi theo đơn vị hiện nay")
    for unit in ("DT.M01", "DT.M02", "DT.M03"):
        row = next(line for line in restated if f" {unit} " in line)
        mine = sum(c["received"] for (u, p), c in agg.counters.items()
                   if p == PERIOD and registry.in_force(u, time.time()) == unit)
        assert mine >= agg.counters[(unit, PERIOD)]["received"] > 0
        assert f" {mine:,} " in row, (unit, mine, row)
    # the province's tree, its six groups, the new communes below it
    tree = out[out.index("Cây đơn vị — UBND tỉnh Đồng Tháp"):]
    assert f"kỳ {PERIOD}; bộ chỉ số portal-766-2026@2026.1" in tree
    for group in ("transparency", "progress", "digitization"):
        assert f"({group})" in tree, group
    assert all(f" {u} " in tree for u in ("DT.M01", "DT.M02", "DT.M03"))
    top = agg.totals[("DT", PERIOD)]["received"]
    assert f"hồ sơ tiếp nhận: {top:,} as_was = {top:,} restated" in out
    # the equality covered own figures and totals
    assert re.search(r"live KPI snapshots equal the batch report \([\d,]+ own, [\d,]+ total\)",
                     out)


def test_demo_without_the_reorganisation(tmp_path: Path) -> None:
    env, out, metrics = _demo(tmp_path, "--no-reorganisation")
    _check_own_scorecard_and_store(tmp_path, env, out, metrics)
    assert not (tmp_path / "units.csv").exists()
    assert "Tổng hợp (total)" not in out
