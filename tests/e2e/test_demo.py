"""`motcua demo` end to end on the embedded broker, as `make demo` runs it (smaller): broker,
faust worker, SQL sink and /metrics, scorecard from the live snapshots."""

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
from runtime.broker import free_port

pytestmark = pytest.mark.integration


def test_demo_scorecard_matches_the_batch_report(tmp_path: Path) -> None:
    env = {**os.environ, "MOTCUA_DATA_DIR": str(tmp_path),
           "MOTCUA_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
           "MOTCUA_METRICS_PORT": str(free_port())}
    env.pop("MOTCUA_KAFKA_BOOTSTRAP", None)
    proc = subprocess.run(
        [sys.executable, "-m", "motcua", "demo", "--exit-when-idle", "--scale", "0.03"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
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
