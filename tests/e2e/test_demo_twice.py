"""Two `motcua demo --exit-when-idle` in a row on one data directory and one SQLite store
(issue 26): the second starts a new in-memory broker while the store holds the first
broker's offsets. Both must end 0 with the same scorecard, an up-to-date store that answers
`motcua report --db`, and no dead service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kpi.batch import aggregate, fold_file
from kpi.units import CalendarBook
from motcua.demo import demo_period, today
from runtime.broker import free_port

pytestmark = pytest.mark.integration


def _run(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "motcua", "demo", "--scale", "0.03", "--exit-when-idle"],
        env=env, capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    return out


def _scorecards(out: str) -> list[str]:
    """The demo's output from its first scorecard on, without run-specific lines."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "Bảng điểm" in line)
    return lines[start:]


def test_a_second_demo_gives_the_same_result(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    env = {**os.environ, "MOTCUA_DATA_DIR": str(tmp_path),
           "MOTCUA_DATABASE_URL": f"sqlite:///{db}",
           "MOTCUA_METRICS_PORT": str(free_port()), "MOTCUA_HTTP_PORT": str(free_port()),
           "PYTHONUNBUFFERED": "1"}
    env.pop("MOTCUA_KAFKA_BOOTSTRAP", None)
    env.pop("MOTCUA_UNITS_FILE", None)
    outs = [_run(env), _run(env)]
    first, second = outs
    assert "previous SQL store" not in first
    assert f"the previous SQL store {db}" in second and f"{db}.previous" in second
    agg = aggregate(fold_file(tmp_path / "demo-events.jsonl").states(), time.time(),
                    CalendarBook())
    period = demo_period(today())  # the demo's scorecard period (2026 in 2026)
    want = {(unit, p): agg.counters[(unit, p)]["received"]
            for unit, p in (("DT.TANHONG", "2025"), ("DT.M01", period))}
    for out in outs:
        assert "SQL store up to date" in out, out[-3000:]
        assert "live KPI snapshots equal the batch report" in out
    assert _scorecards(first) == _scorecards(second)
    for (unit, p), received in want.items():
        stored = subprocess.run(
            [sys.executable, "-m", "motcua", "report", "--db", env["MOTCUA_DATABASE_URL"],
             "--unit", unit, "--period", p, "--json"],
            env=env, capture_output=True, text=True, timeout=60)
        assert stored.returncode == 0, stored.stderr
        assert json.loads(stored.stdout)["counts"]["received"] == received
    assert not (tmp_path / "broker.addr").exists()  # removed when the demo ended
