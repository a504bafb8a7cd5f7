"""`motcua demo` end to end on the embedded broker, as `make demo` runs it (smaller): broker,
faust worker, SQL sink, /metrics and the HTTP ingest, scorecard from the live snapshots.

By default the simulated year crosses the 1/7/2025 reorganisation and the demo runs with
the registry it writes (own figures and totals, as it was and restated); with
``--no-reorganisation`` it is the v1 demo (no registry, own figures only). Each run serves
until SIGTERM, so its HTTP ingest is tried while it runs."""

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
from runtime.broker import free_port
from runtime.children import spawn
from runtime.waiting import wait_for
from tests.eventkit import received_dict

SERVING = "serving (worker, sink, /metrics, HTTP ingest, web pages)"


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

pytestmark = pytest.mark.integration


def _demo(tmp_path: Path, *options: str) -> tuple[dict[str, str], str]:
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
    finally:
        proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(timeout=120)
        reader.join(timeout=10)
        stderr.seek(0)
        errors = stderr.read()
        stderr.close()
    out = "".join(lines)
    assert returncode == 0, out[-3000:] + errors[-3000:]
    return env, out


def _check_own_scorecard_and_store(tmp_path: Path, env: dict[str, str], out: str) -> None:
    events = tmp_path / "demo-events.jsonl"
    assert events.exists()
    # every unit's received count for 2025 appears in the scorecard row of that unit,
    # worked out independently by the batch path over the same file
    agg = aggregate(fold_file(events).states(), time.time(), CalendarBook())
    assert agg.levels, "the simulator produced no dossiers"
    for unit in agg.levels:
        received = agg.counters[(unit, "2025")]["received"]
        row = next(line for line in out.splitlines() if f" {unit} " in line)
        assert f" {received:,} " in row, (unit, received, row)
    assert "published" in out and "Bảng điểm" in out
    # the live pipeline's snapshots were reconciled with the batch path by the demo itself
    assert "live KPI snapshots equal the batch report" in out
    # and the SQL sink stored them: the store answers `motcua report --db`
    stored = subprocess.run(
        [sys.executable, "-m", "motcua", "report", "--db", env["MOTCUA_DATABASE_URL"],
         "--unit", "DT.TANHONG", "--period", "2025", "--json"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert stored.returncode == 0, stored.stderr
    assert json.loads(stored.stdout)["counts"]["received"] == (
        agg.counters[("DT.TANHONG", "2025")]["received"]
    )


def _section(out: str, title: str) -> list[str]:
    """The lines of the table whose title contains ``title``, up to the next title."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if title in line)
    end = next((i for i in range(start + 1, len(lines)) if "Bảng điểm kỳ" in lines[i]),
               len(lines))
    return lines[start:end]


def test_demo_scorecard_matches_the_batch_report(tmp_path: Path) -> None:
    env, out = _demo(tmp_path)
    _check_own_scorecard_and_store(tmp_path, env, out)
    # the run crossed the reorganisation and wrote the registry it used
    registry = UnitRegistry.load(tmp_path / "units.csv")
    agg = aggregate(fold_file(tmp_path / "demo-events.jsonl").states(), time.time(),
                    CalendarBook(), registry=registry)
    assert {"DT.M01", "DT.TANHONG.X01"} <= {u for u, p in agg.counters if p == "2025"}
    # the totals table: the province's and the district's totals for 2025, named
    totals = _section(out, "Tổng hợp (total), Theo thời điểm phát sinh (as_was)")
    for unit in ("DT", "DT.TANHONG"):
        received = agg.totals[(unit, "2025")]["received"]
        row = next(line for line in totals if f" {unit} " in line)
        assert f" {received:,} " in row, (unit, received, row)
    assert "UBND huyện Tân Hồng" in "\n".join(totals)
    # restated: the new communes' 2025 series include their predecessors' first half
    restated = _section(out, "Số liệu của đơn vị (own), Quy đổi theo đơn vị hiện nay")
    for unit in ("DT.M01", "DT.M02", "DT.M03"):
        row = next(line for line in restated if f" {unit} " in line)
        mine = sum(c["received"] for (u, p), c in agg.counters.items()
                   if p == "2025" and registry.in_force(u, time.time()) == unit)
        assert mine > agg.counters[(unit, "2025")]["received"]
        assert f" {mine:,} " in row, (unit, mine, row)
    top = agg.totals[("DT", "2025")]["received"]
    assert f"hồ sơ tiếp nhận: {top:,} as_was = {top:,} restated" in out
    # the equality covered own figures and totals
    assert re.search(r"live KPI snapshots equal the batch report \([\d,]+ own, [\d,]+ total\)",
                     out)


def test_demo_without_the_reorganisation(tmp_path: Path) -> None:
    env, out = _demo(tmp_path, "--no-reorganisation")
    _check_own_scorecard_and_store(tmp_path, env, out)
    assert not (tmp_path / "units.csv").exists()
    assert "Tổng hợp (total)" not in out
