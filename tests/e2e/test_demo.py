"""`motcua demo` end to end on the embedded broker, as `make demo` runs it (smaller): broker,
faust worker, SQL sink, /metrics and the HTTP ingest, scorecard from the live snapshots."""

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
from kpi.simulate.config import DEFAULT_SOURCE
from kpi.units import CalendarBook
from runtime.broker import free_port
from runtime.waiting import wait_for
from tests.eventkit import received_dict

SERVING = "serving (worker, sink, /metrics, HTTP ingest)"


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


def test_demo_scorecard_matches_the_batch_report(tmp_path: Path) -> None:
    env = {**os.environ, "MOTCUA_DATA_DIR": str(tmp_path),
           "MOTCUA_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
           "MOTCUA_METRICS_PORT": str(free_port()), "MOTCUA_HTTP_PORT": str(free_port()),
           "PYTHONUNBUFFERED": "1"}
    env.pop("MOTCUA_KAFKA_BOOTSTRAP", None)
    # serving until SIGTERM (not --exit-when-idle), so its HTTP ingest is tried while it runs
    stderr = (tmp_path / "demo.stderr").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "motcua", "demo", "--scale", "0.03"],
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
    assert returncode == 0, errors[-3000:]
    out = "".join(lines)
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
