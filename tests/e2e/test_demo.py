"""`motcua demo` end to end on the embedded broker, as `make demo` runs it (smaller): broker,
faust worker, SQL sink and /metrics, scorecard from the live snapshots.

By default the simulated year crosses the 1/7/2025 reorganisation and the demo runs with
the registry it writes (own figures and totals, as it was and restated); with
``--no-reorganisation`` it is the v1 demo (no registry, own figures only)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kpi.batch import aggregate, fold_file
from kpi.registry import UnitRegistry
from kpi.units import CalendarBook
from runtime.broker import free_port

pytestmark = pytest.mark.integration


def _demo(tmp_path: Path, *options: str) -> tuple[dict[str, str], str]:
    env = {**os.environ, "MOTCUA_DATA_DIR": str(tmp_path),
           "MOTCUA_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
           "MOTCUA_METRICS_PORT": str(free_port())}
    env.pop("MOTCUA_KAFKA_BOOTSTRAP", None)
    env.pop("MOTCUA_UNITS_FILE", None)
    proc = subprocess.run(
        [sys.executable, "-m", "motcua", "demo", "--exit-when-idle", "--scale", "0.03",
         *options],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return env, proc.stdout


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
