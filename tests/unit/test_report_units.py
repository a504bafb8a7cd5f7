"""``motcua report --units/--view/--scope``: a unit's own figures and total, as they were
and restated, across the 1 July 2025 reorganisation. Numbers worked out by hand first.

Registry and dossiers as tests/unit/test_evidence_units.py (docs/contract.md example): A received
20/6 by 30001 (due 24/6, open and overdue at the end of June), resolved 10/7 by 29901
(late); B received 23/6 by 30004, resolved 24/6 (early, due 25/6 met); C received 4/8 at
29901's desk, handled by province 82, resolved 5/8 (early, due 6/8 met). As of 1/10/2025.

* as_was, 870, June, total: received 2, resolved 1, in progress 1 (overdue 1), due 2 (met 1);
  its own figures are all 0 (the communes received and handled them).
* as_was, year 2025, totals: 87 (the old province, until 30/6) received 2, resolved 1, due 2
  (met 1); 82 (from 1/7) received 1 (C), resolved 2 (A, C), due 1 (met 1).
* restated, year 2025, total of 82: every unit replaced by its unit in force on 1/10/2025
  (30001, 30004 → 29901 under 82): received 3, resolved 3, due 3 (met 2) — the sum of the
  two as_was totals at the top.
* restated, 29901, June, own: the June figures of 30001 and 30004: received 2, resolved 1,
  in progress 1 (overdue 1), due 2 (met 1).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from motcua.cli import app
from tests.eventkit import EVENTS_REGISTRY, merger_dossiers, write_jsonl

AS_OF = "2025-10-01T00:00:00+07:00"
REGISTRY = EVENTS_REGISTRY
KEYS = ("received", "resolved", "in_progress", "in_progress_overdue", "due", "due_met")


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    events = write_jsonl(tmp_path / "events.jsonl", merger_dossiers())
    units = tmp_path / "units.csv"
    units.write_text(REGISTRY, encoding="utf-8")
    return events, units


def _report(events: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    result = CliRunner().invoke(app, ["report", "--events", str(events), "--as-of", AS_OF,
                                      "--json", *args], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _pick(report: dict[str, Any]) -> tuple[int, ...]:
    return tuple(report["counts"][k] for k in KEYS)


def test_own_and_total_as_they_were(files: tuple[Path, Path]) -> None:
    events, units = files
    total = _report(events, "--units", str(units), "--unit", "870", "--period", "2025-06",
                    "--scope", "total")
    assert (total["view"], total["scope"], total["unit_name"]) == (
        "as_was", "total", "Huyện Tân Hồng")
    assert _pick(total) == (2, 1, 1, 1, 2, 1)
    own = _report(events, "--units", str(units), "--unit", "870", "--period", "2025-06")
    assert (own["view"], own["scope"]) == ("as_was", "own")
    assert _pick(own) == (0, 0, 0, 0, 0, 0)
    year = {r["unit"]: r for r in _report(events, "--units", str(units), "--period", "2025",
                                          "--scope", "total")}
    assert _pick(year["87"]) == (2, 1, 0, 0, 2, 1)
    assert _pick(year["82"]) == (1, 2, 0, 0, 1, 1)


def test_restated_totals_agree_with_as_was_at_the_top(files: tuple[Path, Path]) -> None:
    events, units = files
    restated = _report(events, "--units", str(units), "--unit", "82", "--period", "2025",
                       "--scope", "total", "--view", "restated")
    assert (restated["view"], restated["unit_name"]) == ("restated", "Tỉnh Đồng Tháp")
    assert _pick(restated) == (3, 3, 0, 0, 3, 2)
    as_was = {r["unit"]: r for r in _report(events, "--units", str(units), "--period",
                                            "2025", "--scope", "total")}
    assert restated["counts"] == {k: as_was["82"]["counts"][k] + as_was["87"]["counts"][k]
                                  for k in restated["counts"]}
    assert as_was["87"]["unit_name"] == "Tỉnh Đồng Tháp (cũ)"
    june = _report(events, "--units", str(units), "--unit", "29901", "--period", "2025-06",
                   "--view", "restated")
    assert _pick(june) == (2, 1, 1, 1, 2, 1)
    # without --unit, restated own figures name only units in force on --as-of
    every = _report(events, "--units", str(units), "--period", "2025", "--view", "restated")
    assert sorted(r["unit"] for r in every) == ["29901", "82"]


def test_units_file_from_the_settings(files: tuple[Path, Path]) -> None:
    events, units = files
    report = _report(events, "--unit", "870", "--period", "2025-06", "--scope", "total",
                     env={"MOTCUA_UNITS_FILE": str(units)})
    assert _pick(report) == (2, 1, 1, 1, 2, 1) and report["unit_name"] == "Huyện Tân Hồng"
    # without a registry every code stands for itself: 870 has no dossiers of its own
    bare = _report(events, "--unit", "870", "--period", "2025-06", "--scope", "total",
                   env={"MOTCUA_UNITS_FILE": ""})
    assert _pick(bare) == (0, 0, 0, 0, 0, 0) and "unit_name" not in bare


def test_table_names_view_scope_and_unit(files: tuple[Path, Path]) -> None:
    events, units = files
    result = CliRunner().invoke(app, [
        "report", "--events", str(events), "--as-of", AS_OF, "--units", str(units),
        "--unit", "82", "--period", "2025", "--scope", "total", "--view", "restated"],
        env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Tỉnh Đồng Tháp" in result.stdout
    assert "Tổng hợp (total)" in result.stdout
    assert "Quy đổi theo đơn vị hiện nay (restated)" in result.stdout
    own = CliRunner().invoke(app, ["report", "--events", str(events), "--as-of", AS_OF,
                                   "--unit", "U9", "--period", "2025"], env={"COLUMNS": "200"})
    assert "Số liệu của đơn vị (own)" in own.stdout
    assert "Theo thời điểm phát sinh (as_was)" in own.stdout


def test_refusals(files: tuple[Path, Path], tmp_path: Path) -> None:
    events, units = files
    runner = CliRunner()
    bad = runner.invoke(app, ["report", "--events", str(events), "--view", "today"])
    assert bad.exit_code == 2 and "--view" in bad.output
    # the store holds the latest snapshots (totals and the restated view: see
    # tests/integration/test_report_store.py); an --as-of needs the events
    store = runner.invoke(app, ["report", "--db", f"sqlite:///{tmp_path / 'x.db'}",
                                "--scope", "total", "--as-of", AS_OF])
    assert store.exit_code == 2 and "needs --events" in store.output
    broken = tmp_path / "broken.csv"
    broken.write_text(REGISTRY + "30001,Xã X,commune,870,2025-06-01,,\n", encoding="utf-8")
    result = runner.invoke(app, ["report", "--events", str(events), "--units", str(broken)])
    assert result.exit_code == 1
    assert f"{broken}:8" in result.output and "overlaps" in result.output
