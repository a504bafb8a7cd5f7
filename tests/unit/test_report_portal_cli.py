"""``motcua report --events F --units U`` in 2026 (catalog portal-766-2026, docs/scoring.md):
per-metric ``code`` and ``points``, ``groups``, ``total_points``, ``delta``, and ``--tree``.

Hand-worked (as of 1/9/2026), on the metrics the dossier, payment and petition events
below decide (the rest read counts these events leave at 0 or that are worked out in
tests/unit/test_portal_scoring.py):

* C1 (commune), August: H1 resolved early, H2 resolved late and eight more resolved on time
  → DOSSIER_ON_TIME 20 × 9/10 = 18; no petitions → 6 and 6; July: H5 on time → 20; June: H6
  on time → 20. Every period of C1 is at least 90% on time, so dossier satisfaction (full
  at 90%) cannot tell them apart and the deltas come from progress alone: August − July =
  18 − 20 = −2; Q3 (10 of 11 on time: 20 × 10/11 = 18.1818) − Q2 (20) = −1.8182.
* C2 (commune), August: H3 and H4 resolved late → 0; petition Q1 answered after its due →
  PETITION_PROCESSING_ON_TIME 0, PETITION_HANDLING_SATISFACTION 0.
* S1 (department, level province), August: H7 full online (eligible), fee paid online,
  resolved early → DOSSIER_ON_TIME 20, FULL_ONLINE_DOSSIER 12, ONLINE_PAYMENT 6 (A = 1; no
  fee procedure in the catalog: B and C count 0); no petitions → 6 and 6.
* No procedure published: PUBLISH_ON_TIME not scored; CITIZEN_DATA_CONNECTED_FORMALITY 0.

Tree of 82 in August: C2 lowest (≈ 0–2 points), then C1 (≈ 32–36), then S1 (≈ 52–58); the
ceased C0 is not in it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from motcua.cli import app
from tests.eventkit import event_dict, petition_dict, received_dict, write_jsonl

AS_OF = "2026-09-01T00:00:00+07:00"
REGISTRY = """code,name,level,parent,valid_from,valid_to,successor
82,Tỉnh Thử,province,,2025-07-01,,
S1,Sở Thử,province,82,2025-07-01,,
C1,Xã Một,commune,82,2025-07-01,,
C2,Xã Hai,commune,82,2025-07-01,,
C0,Xã Cũ,commune,82,2025-07-01,2026-06-30,C1
"""
CODES = [
    "PUBLISH_ON_TIME", "PUBLIC_UPDATE_ON_TIME", "PUBLIC_CONTENT_FULL", "DOSSIER_SYNC",
    "DOSSIER_ON_TIME", "FULL_ONLINE_DOSSIER", "ONLINE_PAYMENT", "ORIGINAL_RESULT_AVAILABLE",
    "SO_HOA_GIAY_TO_GIAI_QUYET", "ELECTRONIC_CERTIFIED_COPY", "REUSED_DIGITIZED_DATA",
    "SYNCED_WITH_DVCQG_PERSONAL_STORAGE", "CITIZEN_DATA_CONNECTED_DOSSIER",
    "CITIZEN_DATA_CONNECTED_FORMALITY", "PETITION_PROCESSING_ON_TIME",
    "PETITION_HANDLING_SATISFACTION", "DOSSIER_RECEIVING_SATISFACTION",
]
GROUP_IDS = ["transparency", "progress", "online_services", "online_payment",
             "digitization", "satisfaction"]


def _events() -> list[dict[str, Any]]:
    t = "2026-{}:00+07:00".format
    e = event_dict
    return [
        # C1
        received_dict(t("08-03T08:00"), "H1", "C1", "commune", due=t("08-10T17:00")),
        e("dossier.resolved", t("08-05T10:00"), "H1"),
        received_dict(t("08-03T08:00"), "H2", "C1", "commune", due=t("08-05T17:00")),
        e("dossier.resolved", t("08-12T10:00"), "H2"),
        *[x for i in range(8) for x in (
            received_dict(t("08-10T08:00"), f"H1{i}", "C1", "commune", due=t("08-20T17:00")),
            e("dossier.resolved", t("08-20T10:00"), f"H1{i}"))],
        received_dict(t("07-01T08:00"), "H5", "C1", "commune", due=t("07-10T17:00")),
        e("dossier.resolved", t("07-03T10:00"), "H5"),
        received_dict(t("06-10T08:00"), "H6", "C1", "commune", due=t("06-20T17:00")),
        e("dossier.resolved", t("06-11T10:00"), "H6"),
        # C2
        received_dict(t("08-04T08:00"), "H3", "C2", "commune", due=t("08-06T17:00")),
        e("dossier.resolved", t("08-14T10:00"), "H3"),
        received_dict(t("08-04T08:00"), "H4", "C2", "commune", due=t("08-06T17:00")),
        e("dossier.resolved", t("08-14T10:00"), "H4"),
        petition_dict(t("08-01T09:00"), "Q1", "C2", due=t("08-05T17:00")),
        e("petition.answered", t("08-10T10:00"), "Q1"),
        # S1
        received_dict(t("08-04T08:00"), "H7", "S1", "province", due=t("08-20T17:00"),
                      online_level="full", full_online_eligible=True, fee_required=True),
        e("payment.completed", t("08-04T09:00"), "H7", amount_vnd=50000, method="online"),
        e("dossier.resolved", t("08-07T10:00"), "H7"),
    ]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    units = tmp_path / "units.csv"
    units.write_text(REGISTRY, encoding="utf-8")
    return write_jsonl(tmp_path / "events.jsonl", _events()), units


def _json(files: tuple[Path, Path], *args: str) -> Any:
    events, units = files
    result = CliRunner().invoke(app, ["report", "--events", str(events), "--units", str(units),
                                      "--as-of", AS_OF, "--json", *args],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _points(report: dict[str, Any]) -> dict[str, Any]:
    return {c["code"]: c["points"] for c in report["criteria"] if c.get("group")}


def test_report_json_codes_points_groups_total(files: tuple[Path, Path]) -> None:
    report = _json(files, "--unit", "S1", "--period", "2026-08")
    assert report["catalog"] == "portal-766-2026@2026.1"
    points = _points(report)
    assert list(points) == CODES
    assert {c["group"] for c in report["criteria"] if c.get("group")} == set(GROUP_IDS)
    assert points["DOSSIER_ON_TIME"] == 20
    assert points["FULL_ONLINE_DOSSIER"] == 12
    assert points["ONLINE_PAYMENT"] == 6
    assert points["PETITION_PROCESSING_ON_TIME"] == 6
    assert points["PETITION_HANDLING_SATISFACTION"] == 6
    assert points["PUBLISH_ON_TIME"] is None
    assert points["CITIZEN_DATA_CONNECTED_FORMALITY"] == 0
    assert [g["id"] for g in report["groups"]] == GROUP_IDS
    assert report["groups"][1] == {"id": "progress", "name": "Tiến độ, kết quả giải quyết",
                                   "points": 20, "max_points": 20}
    assert report["total_points"] == pytest.approx(
        sum(p for p in points.values() if p is not None), abs=1e-9)
    assert report["total_points"] == pytest.approx(
        sum(g["points"] for g in report["groups"]), abs=1e-9)
    assert report["total_max_points"] == sum(g["max_points"] for g in report["groups"])
    assert report["delta"] is None  # no July figures for S1


def test_commune_points_and_delta_against_july(files: tuple[Path, Path]) -> None:
    august = _json(files, "--unit", "C1", "--period", "2026-08")
    july = _json(files, "--unit", "C1", "--period", "2026-07")
    assert _points(august)["DOSSIER_ON_TIME"] == 18
    assert _points(july)["DOSSIER_ON_TIME"] == 20
    # August loses 2 points of progress; everything else these events decide is equal
    assert august["delta"] == pytest.approx(august["total_points"] - july["total_points"],
                                            abs=1e-9)
    assert august["delta"] == pytest.approx(-2, abs=1e-9)
    c2 = _json(files, "--unit", "C2", "--period", "2026-08")
    assert _points(c2)["PETITION_PROCESSING_ON_TIME"] == 0
    assert _points(c2)["PETITION_HANDLING_SATISFACTION"] == 0
    assert c2["delta"] is None


def test_delta_against_previous_quarter(files: tuple[Path, Path]) -> None:
    q3 = _json(files, "--unit", "C1", "--period", "2026-Q3")
    q2 = _json(files, "--unit", "C1", "--period", "2026-Q2")
    # Q3: 10 of 11 on time → 20 × 10/11 = 18.1818; Q2: H6 on time → 20
    assert _points(q3)["DOSSIER_ON_TIME"] == pytest.approx(18.1818, abs=1e-9)
    assert q3["delta"] == pytest.approx(q3["total_points"] - q2["total_points"], abs=1e-9)
    assert q3["delta"] == pytest.approx(-1.8182, abs=1e-9)


def test_tree_children_lowest_first(files: tuple[Path, Path]) -> None:
    tree = _json(files, "--unit", "82", "--period", "2026-08", "--tree")
    assert tree["catalog"] == "portal-766-2026@2026.1"
    assert tree["parent"]["unit"] == "82" and tree["parent"]["scope"] == "total"
    assert [c["unit"] for c in tree["children"]] == ["C2", "C1", "S1"]
    totals = [c["total_points"] for c in tree["children"]]
    assert totals == sorted(totals)
    for row in [tree["parent"], *tree["children"]]:
        assert [g["id"] for g in row["groups"]] == GROUP_IDS
    assert tree["children"][1]["unit_name"] == "Xã Một"
    assert tree["children"][1]["delta"] == pytest.approx(-2, abs=1e-9)


def test_tree_table(files: tuple[Path, Path]) -> None:
    events, units = files
    result = CliRunner().invoke(app, ["report", "--events", str(events), "--units", str(units),
                                      "--as-of", AS_OF, "--unit", "82", "--period", "2026-08",
                                      "--tree"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    order = [next(i for i, line in enumerate(lines) if line.startswith(f"│ {code} "))
             for code in ("82", "C2", "C1", "S1")]
    assert order == sorted(order)
    assert "(online_payment)" in result.stdout and "Thanh toán trực" in result.stdout
    assert "-2.00" in next(line for line in lines if line.startswith("│ C1 "))


def test_tree_needs_unit_and_period(files: tuple[Path, Path]) -> None:
    events, units = files
    result = CliRunner().invoke(app, ["report", "--events", str(events), "--tree"])
    assert result.exit_code == 2
    assert "--tree needs --unit and --period" in result.output


def test_evidence_bundle_of_a_2026_period(files: tuple[Path, Path], tmp_path: Path) -> None:
    """The evidence bundle reads the portal catalog's scoring-only ratios too: one sheet per
    metric, keyed by its code."""
    events, units = files
    result = CliRunner().invoke(app, ["evidence", "--events", str(events), "--units",
                                      str(units), "--unit", "S1", "--period", "2026-08",
                                      "--as-of", AS_OF, "--out", str(tmp_path / "ev")])
    assert result.exit_code == 0, result.output
    written = {p.name for p in (tmp_path / "ev" / "S1_2026-08").iterdir()}
    assert {f"criterion_{code}.csv" for code in CODES} <= written
