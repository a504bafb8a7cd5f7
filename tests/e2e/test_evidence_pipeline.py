"""From a generated stream to an appraisal-ready bundle: demo (broker, faust pipeline, SQL
sink) → `motcua evidence --db` → the workbook re-read and checked against the stored
report, the manifest hashes recomputed, a formula-looking dossier code kept as text."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import openpyxl
import orjson
import pytest

from kpi.simulate import SimulationConfig, generate_lines
from runtime.broker import free_port
from tests.eventkit import event_dict

pytestmark = pytest.mark.integration

EVIL = '=HYPERLINK("x")'
UNIT = "DT.TANHONG"


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "motcua", *args], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (args, proc.stdout[-2000:], proc.stderr[-3000:])
    return proc


def _rows(ws: Any) -> list[dict[str, Any]]:
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def test_bundle_from_the_pipeline_store(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    lines = list(generate_lines(SimulationConfig(scale=0.03, shuffle=True, duplicates=0.01)))
    # a dossier code that a spreadsheet would run as a formula, late against its due date
    evil = [
        event_dict("dossier.received", "2025-03-03T09:00:00+07:00", EVIL, unit_code=UNIT,
                   unit_level="district", procedure_code="P", channel="direct",
                   due_at="2025-03-05T17:00:00+07:00"),
        event_dict("dossier.resolved", "2025-03-07T10:00:00+07:00", EVIL),
    ]
    events.write_bytes(b"\n".join([*lines, *(orjson.dumps(e) for e in evil)]) + b"\n")
    db = f"sqlite:///{tmp_path / 'store.db'}"
    env = {**os.environ, "MOTCUA_DATA_DIR": str(tmp_path), "MOTCUA_DATABASE_URL": db,
           "MOTCUA_METRICS_PORT": str(free_port())}
    env.pop("MOTCUA_KAFKA_BOOTSTRAP", None)

    demo = _run(["demo", "--exit-when-idle", "--events", str(events)], env)
    assert "live KPI snapshots equal the batch report" in demo.stdout
    report = json.loads(_run(["report", "--unit", UNIT, "--period", "2025", "--json"],
                             env).stdout)
    out = tmp_path / "bundle"
    _run(["evidence", "--unit", UNIT, "--period", "2025", "--out", str(out)], env)
    bundle = out / f"{UNIT}_2025"

    # every criterion's numerator and denominator, dossier by dossier, equal the report
    wb = openpyxl.load_workbook(bundle / "evidence.xlsx")
    summary = _rows(wb.worksheets[0])
    sheet_of = {r["Mã tiêu chí"]: r["Trang chi tiết"] for r in summary if r["Trang chi tiết"]}
    ids = [c["id"] for c in report["criteria"]]
    assert {"766.2.1", "766.3.3", "766.3.6", "766.4.1", "766.4.2", "766.5.4"} <= set(ids)
    for entry in report["criteria"]:
        if entry["ratio"] is None:  # listed, not scored: no data, no detail sheet
            assert entry["status"] == "not scored: no data" and entry["points"] is None
            assert entry["id"] not in sheet_of
            continue
        rows = _rows(wb[sheet_of[entry["id"]]])
        terms = ({k: tuple(v) for k, v in entry["terms"].items()} if "terms" in entry
                 else {entry["ratio"]: (entry["numerator"], entry["denominator"])})
        for term, (num, den) in terms.items():
            mine = [r for r in rows if r["Thành phần"] == term]
            assert sum(r["Tính vào tử số"] == "có" for r in mine) == num, (entry["id"], term)
            assert sum(r["Tính vào mẫu số"] == "có" for r in mine) == den, (entry["id"], term)
    assert report["counts"]["resolved_late"] >= 1  # the formula-looking dossier is late

    # the formula-looking code is text, never a formula
    codes = [row[1] for row in wb["766.2.1"].iter_rows(min_row=2)]
    evil_cells = [c for c in codes if "HYPERLINK" in str(c.value)]
    assert [(c.value, c.data_type) for c in evil_cells] == [("'" + EVIL, "s")]

    # the manifest: a SHA-256 per file, recomputed; the log range of the stored events
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == digest, name
    assert set(manifest["files"]) == {p.name for p in bundle.iterdir()} - {"manifest.json"}
    ranges = manifest["input"]["log_range"]["motcua.events.v1"]
    stored = sum(last - first + 1 for first, last in ranges.values())
    assert stored >= manifest["input"]["lines"]  # duplicates are stored once
