"""``motcua units check``: a valid registry's summary, and one red line for a broken one."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner, Result

from motcua.cli import app
from tests.eventkit import EVENTS_REGISTRY

EXAMPLE = EVENTS_REGISTRY


def _check(path: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["units", "check", str(path), *args],
                              env={"COLUMNS": "200"})


def test_summary_of_a_valid_registry(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text(EXAMPLE, encoding="utf-8")
    result = _check(path, "--on", "2025-08-01")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "6 units, 6 versions" in out
    # in force on 1/8/2025: province 82 and commune 29901
    assert "ngày 2025-08-01" in out
    lines = [line.split("│") for line in out.splitlines() if "│" in line]
    cells = [[c.strip() for c in line if c.strip()] for line in lines]
    assert ["province", "1"] in cells and ["commune", "1"] in cells and ["tổng", "2"] in cells
    assert "Đơn vị đã chấm dứt: 4" in out
    assert ["870", "Huyện Tân Hồng", "district", "2025-06-30", "82 Tỉnh Đồng Tháp"] in cells
    assert ["30004", "Xã Tân Thành B", "commune", "2025-06-30", "29901 Xã Tân Thành"] in cells
    # before the merger: one province, one district, two communes
    before = _check(path, "--on", "2025-06-30").stdout
    cells = [[c.strip() for c in line.split("│") if c.strip()]
             for line in before.splitlines() if "│" in line]
    assert ["district", "1"] in cells and ["commune", "2"] in cells and ["tổng", "4"] in cells


def test_a_broken_registry_is_one_red_line(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text(EXAMPLE + "29901,Xã Tân Thành,commune,82,2025-09-01,,\n", encoding="utf-8")
    result = _check(path)
    assert result.exit_code == 1
    out = result.output.strip()
    assert f"{path}:8" in out and "overlaps" in out and "RegistryError" in out
    assert "Traceback" not in out
