"""`motcua demo` end to end on the embedded broker, as `make demo` runs it (smaller)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kpi.batch import aggregate, fold_file
from kpi.units import CalendarBook

pytestmark = pytest.mark.integration


def test_demo_scorecard_matches_the_batch_report(tmp_path: Path) -> None:
    env = {**os.environ, "MOTCUA_DATA_DIR": str(tmp_path)}
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
