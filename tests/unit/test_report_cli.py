"""``motcua report --events``: counts, ratios and criteria (with gaps) of a hand-made file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from motcua.cli import app
from tests.eventkit import event_dict, received_dict, write_jsonl

AS_OF = "2025-05-01T00:00:00+07:00"
D766_IDS = [
    "766.1.1", "766.1.2", "766.1.3", "766.1.4", "766.2.1", "766.2.2", "766.3.1", "766.3.2",
    "766.3.3", "766.3.5", "766.3.6", "766.4.1", "766.4.2", "766.4.3", "766.4.4", "766.5.1",
    "766.5.2", "766.5.4",
]  # fmt: skip


def april_events() -> list[dict[str, Any]]:
    """Five dossiers of U1 (district) received in April 2025, judged as of 1/5/2025:

    H1 online, fee paid online, resolved early with an electronic result, rated satisfied;
    H2 direct, resolved on time; H3 direct, resolved late (no apology);
    H4 online, open and past its due at the end of April; H5 online, open and within limit.
    """
    return [
        received_dict("2025-04-01T08:00:00+07:00", "H1", channel="online",
                      due="2025-04-03T17:00:00+07:00", fee_required=True),
        event_dict("payment.completed", "2025-04-01T08:30:00+07:00", "H1",
                   amount_vnd=50000, method="online"),
        event_dict("dossier.resolved", "2025-04-02T10:00:00+07:00", "H1",
                   result_electronic=True),
        event_dict("feedback.rated", "2025-04-03T09:00:00+07:00", "H1", rating="satisfied"),
        received_dict("2025-04-01T09:00:00+07:00", "H2", channel="direct",
                      due="2025-04-10T17:00:00+07:00"),
        event_dict("dossier.resolved", "2025-04-10T16:00:00+07:00", "H2"),
        received_dict("2025-04-01T09:00:00+07:00", "H3", channel="direct",
                      due="2025-04-05T17:00:00+07:00"),
        event_dict("dossier.resolved", "2025-04-08T09:00:00+07:00", "H3"),
        received_dict("2025-04-20T10:00:00+07:00", "H4", channel="online",
                      due="2025-04-25T17:00:00+07:00"),
        received_dict("2025-04-28T10:00:00+07:00", "H5", channel="online",
                      due="2025-05-10T17:00:00+07:00"),
    ]


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "april.jsonl", april_events())


def _run(*args: str) -> Any:
    result = CliRunner().invoke(app, ["report", *args], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result


def test_report_json_counts_ratios_criteria(events_file: Path) -> None:
    result = _run("--events", str(events_file), "--unit", "U1", "--period", "2025-04",
                  "--as-of", AS_OF, "--json")
    report = json.loads(result.stdout)
    assert report["unit"] == "U1" and report["period"] == "2025-04"
    assert report["level"] == "district"
    counts = report["counts"]
    expected = {
        "received": 5, "received_online": 3, "received_direct": 2, "received_postal": 0,
        "resolved": 3, "resolved_early": 1, "resolved_on_time": 1, "resolved_late": 1,
        "late_with_apology": 0, "in_progress": 2, "in_progress_overdue": 1,
        "fee_dossiers": 1, "paid_online": 1, "digitized": 0, "e_results": 1,
        "paper_result_dossiers": 3, "rated": 1, "satisfied": 1,
    }
    assert {k: counts[k] for k in expected} == expected
    ratios = report["ratios"]
    assert ratios["online_receipt"] == pytest.approx(3 / 5)
    assert ratios["on_time_resolved"] == pytest.approx(2 / 3)
    assert ratios["on_time_766"] == pytest.approx(3 / 5)  # (1 + 1 + 2 − 1) / (3 + 2)
    assert ratios["late_apology"] == 0
    assert ratios["full_online"] is None

    criteria = report["criteria"]
    ids = [c["id"] for c in criteria]
    assert ids == [*D766_IDS, "PAR.DO.1", "PAR.DO.2", "PAR.DO.3", "PAR.DO.4", "PAR.DO.5",
                   "PAR.DO.6", "PAR.DO.7", "PAR.DO.8"]
    by_id = {c["id"]: c for c in criteria}
    points = {i: by_id[i]["points"] for i in by_id}
    assert points == {
        "766.1.1": None,   # not scored: no data
        "766.1.2": None,   # no catalog entries published → not applicable
        "766.1.3": None,   # not scored: no data
        "766.1.4": 0.0,    # 0/5 synced
        "766.2.2": None,   # not scored: no data
        "766.3.1": None,   # no catalog entries
        "766.3.2": None,
        "766.3.5": None,
        "766.4.3": None,   # not scored: no data
        "766.4.4": 0.0,    # 0/5 reused digitized data
        "766.5.1": None,   # no petitions
        "766.5.2": None,
        "PAR.DO.7": None,  # no catalog entry offers full-online service → not applicable
        "PAR.DO.8": None,  # no documents sent → not applicable
        "766.2.1": 12.0,   # 3/5 × 20
        "766.3.3": 12.0,   # 60% ≥ 50%
        "766.3.6": 6.0,    # 1/1 × 6
        "766.4.1": 2.0,    # 1/3 × 6
        "766.4.2": 0.0,    # nothing digitized
        "766.5.4": 4.0,    # 1 − 2/5 − 0/1 = 0.6 → 0.6 × 6 / 0.9
        "PAR.DO.1": 0.0,   # 2/3 < 95%
        "PAR.DO.2": 0.0,   # 0/1 with apology
        "PAR.DO.3": 0.75,  # 0.6 × 1 / 0.8
        "PAR.DO.4": 0.5,
        "PAR.DO.5": 0.0,
        "PAR.DO.6": 0.0,   # no eligible dossiers → zero
    }
    assert (by_id["766.2.1"]["numerator"], by_id["766.2.1"]["denominator"]) == (3, 5)
    assert by_id["766.2.1"]["gap"]["dossiers"] == 2
    assert by_id["766.2.1"]["gap_text"].startswith("cần thêm 2 hồ sơ đúng hạn")
    assert by_id["766.3.3"]["gap"] is None
    assert by_id["766.4.2"]["gap"]["dossiers"] == 4  # ⌈0.8 × 5⌉ − 0
    assert by_id["766.1.1"]["status"] == "not scored: no data"
    assert by_id["766.1.1"]["gap"] is None
    assert by_id["766.1.1"]["gap_text"] == "chưa chấm điểm: không có dữ liệu"
    assert {c["id"] for c in criteria if c["status"] == "not scored: no data"} == {
        "766.1.1", "766.1.3", "766.2.2", "766.4.3"}
    assert by_id["766.2.1"]["group"] == "progress" and by_id["766.2.1"]["grade"] == "S"


def test_report_table_shows_points_and_gaps(events_file: Path) -> None:
    result = _run("--events", str(events_file), "--unit", "U1", "--period", "2025-04",
                  "--as-of", AS_OF)
    out = result.stdout
    assert "12.00/20 (S)" in out  # points / max (grade)
    assert "cần thêm 2 hồ sơ đúng hạn" in out
    assert "Tổng điểm" in out
    # the Decision 766 criteria under their groups, those not scored listed as such
    assert "Nhóm: Công khai, minh bạch" in out and "Nhóm: Mức độ hài lòng" in out
    row = next(line for line in out.splitlines() if " 766.4.3 " in line)
    assert "chưa chấm (M)" in row and "chưa chấm điểm: không có dữ liệu" in row
    # per group: progress 12 of 20 (766.2.1 only; 766.2.2 not scored)
    row = next(line for line in out.splitlines() if "Tổng điểm nhóm Tiến độ" in line)
    assert "12.00/20 (S)" in row and "766.2.2" in row


def test_report_explicit_catalog(events_file: Path, tmp_path: Path) -> None:
    catalog = tmp_path / "par.yaml"
    catalog.write_text(
        """id: par-test
version: "t1"
kind: par_index
issuer: "test"
level: commune
valid_from: 2030-01-01
source: "test"
criteria:
  - id: "T.1"
    name: "Đúng hạn"
    ratio: on_time_resolved
    max_points: 3
    rule: linear
    no_dossiers: full
    grade: M
""",
        encoding="utf-8",
    )
    result = _run("--events", str(events_file), "--unit", "U1", "--period", "2025-04",
                  "--as-of", AS_OF, "--json", "--catalog", str(catalog))
    report = json.loads(result.stdout)
    ids = [c["id"] for c in report["criteria"]]
    assert ids[:18] == D766_IDS
    assert ids[18:] == ["T.1"]
    assert report["criteria"][18]["points"] == 2.0  # 2/3 × 3
    assert report["criteria"][18]["catalog"] == "par-test@t1"


def test_report_catalog_by_id_or_file(events_file: Path) -> None:
    """--catalog takes a shipped id (the former id decision-766 too) or a file; a Decision
    766 catalog replaces the one selected by date."""
    for choice in ("decision-766", "decision-766-2022",
                   str(Path(__file__).resolve().parents[2] / "kpi" / "data"
                       / "portal-766-2026.yaml")):
        result = _run("--events", str(events_file), "--unit", "U1", "--period", "2025-04",
                      "--as-of", AS_OF, "--json", "--catalog", choice)
        report = json.loads(result.stdout)
        expected = ("portal-766-2026@2026.1" if choice.endswith(".yaml")
                    else "decision-766-2022@2022-06-23")
        assert report["catalog"] == expected
    result = CliRunner().invoke(app, ["report", "--events", str(events_file),
                                      "--catalog", "decision-999"])
    assert result.exit_code == 2
    assert "no catalog 'decision-999'" in result.output


