"""The docs/contract.md families' keys in every output: ``motcua report --events`` (JSON and
table) and ``/metrics`` carry each count of :data:`kpi.counters.COUNT_KEYS` and each ratio
of :data:`kpi.ratios.RATIO_KEYS`, with the numbers hand-worked in
tests/unit/test_families.py for commune C1's 2025-Q4 of
:func:`tests.eventkit.families_quarter` (copied here as literals: an independent check).
The SQL store's side is tests/integration/test_report_store.py."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from consumers.kpi_board import KpiBoard, current_periods
from kpi.counters import COUNT_KEYS, COUNT_LABELS_VI
from kpi.ratios import RATIO_KEYS, RATIO_LABELS_VI
from motcua.cli import app
from tests.eventkit import families_quarter, write_jsonl
from tests.scrape import samples, serving

AS_OF = "2026-01-01T00:00:00+07:00"

HAND_WORKED_COUNTS = {
    # petitions: received P1 P2 P3 P4 P5 P8; answered P1 P2 P3 P7 P8, on time all but P2;
    # open P4 (overdue) and P5; unsatisfied P2 (late) and P3 (dissatisfied)
    "petitions_received": 6, "petitions_answered": 5, "petitions_answered_on_time": 4,
    "petitions_open": 2, "petitions_open_overdue": 1, "petitions_unsatisfied": 2,
    # H2 (late) named by P8, H3 (open) by P9
    "dossiers_petitioned": 2, "dossiers_petitioned_late": 1,
    "resolved": 3, "resolved_late": 1, "in_progress": 1,
    # catalog: in force PR1 (full, payment) PR4 (none) PR5 (partial); first published in
    # Q4 PR2 (late) PR4 PR5; PR1 used by H1 (online, full, paid online)
    "procedures": 3, "procedures_published": 3, "procedures_published_on_time": 2,
    "procedures_online": 2, "procedures_full_online": 1, "procedures_online_payment": 1,
    "procedures_online_used": 1, "procedures_full_online_used": 1,
    "procedures_online_payment_used": 1,
    # documents D1 (e-signed) D2 (electronic) D3 (paper) D4 (e-signed)
    "documents_issued": 4, "documents_e_signed": 2,
}
HAND_WORKED_RATIOS = {
    "petition_on_time": (4 + 2 - 1) / (5 + 2), "petition_satisfaction": (5 - 2) / 5,
    "procedures_on_time": 2 / 3, "procedures_online_share": 2 / 3,
    "online_procedures_used": 1 / 2, "full_online_procedures_used": 1.0,
    "online_payment_procedures_used": 1.0, "e_signed_documents": 2 / 4,
}


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "families.jsonl", families_quarter())


def _report(events: Path, *extra: str) -> Any:
    result = CliRunner().invoke(app, ["report", "--events", str(events), "--unit", "C1",
                                      "--period", "2025-Q4", "--as-of", AS_OF, *extra],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result


def families_report(events: Path) -> dict[str, Any]:
    """C1's 2025-Q4 report as ``motcua report --events … --json`` prints it."""
    report: dict[str, Any] = json.loads(_report(events, "--json").stdout)
    return report


def test_report_json_carries_every_key_with_the_hand_worked_numbers(events_file: Path
                                                                     ) -> None:
    report = families_report(events_file)
    assert list(report["counts"]) == list(COUNT_KEYS)
    assert list(report["ratios"]) == list(RATIO_KEYS)
    assert {k: report["counts"][k] for k in HAND_WORKED_COUNTS} == HAND_WORKED_COUNTS
    assert {k: report["ratios"][k] for k in HAND_WORKED_RATIOS} == \
        pytest.approx(HAND_WORKED_RATIOS, abs=1e-12)


def test_report_table_shows_every_key_and_label(events_file: Path) -> None:
    out = _report(events_file).stdout
    lines = out.splitlines()
    for key in (*COUNT_KEYS, *RATIO_KEYS):
        row = next((line for line in lines if f" {key} " in line), None)
        assert row is not None, key
        label = COUNT_LABELS_VI.get(key) or RATIO_LABELS_VI[key]
        assert label in row, (key, row)
    for key, n in HAND_WORKED_COUNTS.items():
        row = next(line for line in lines if f" {key} " in line)
        assert row.split("│")[3].strip() == f"{n:,}", row
    # ratios as percentages: e.g. 5/7 petitions on time
    row = next(line for line in lines if " petition_on_time " in line)
    assert row.split("│")[3].strip() == "71.43%"


def test_metrics_serve_every_key_of_the_report(events_file: Path) -> None:
    report = families_report(events_file)
    board = KpiBoard()
    board.put(report)
    now = datetime.fromisoformat("2025-12-31T12:00:00+07:00").timestamp()
    assert "2025-Q4" in current_periods(now)
    with serving(CollectorRegistry(), board, now) as scrape:
        served = samples(scrape())
    counts = {dict(labels)["kpi"]: v for name, labels, v in served
              if name == "motcua_kpi_items"}
    ratios = {dict(labels)["kpi"]: v for name, labels, v in served
              if name == "motcua_kpi_ratio"}
    assert set(counts) == set(COUNT_KEYS)
    assert counts == {k: float(v) for k, v in report["counts"].items()}
    assert {k: counts[k] for k in HAND_WORKED_COUNTS} == \
        {k: float(v) for k, v in HAND_WORKED_COUNTS.items()}
    # every non-null ratio, none of the null ones (satisfaction: nobody rated a dossier)
    assert set(ratios) == {k for k in RATIO_KEYS if report["ratios"][k] is not None}
    assert "satisfaction" not in ratios and set(HAND_WORKED_RATIOS) <= set(ratios)
    assert {k: ratios[k] for k in HAND_WORKED_RATIOS} == \
        pytest.approx(HAND_WORKED_RATIOS, abs=1e-12)
    labels = {dict(labels)["period"] for _, labels, _ in served}
    assert labels == {"2025-Q4"}
