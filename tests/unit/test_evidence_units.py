"""Evidence bundles with a v1.1 registry (kpi.evidence): own and total of a unit, the units
below it during the period, the view and scope every table names, and a dossier listed for
the unit that handled it although another desk received it. Numbers worked out by hand
(comments) before the code.

Registry: the docs/contract.md example (87 → 82, district 870 and communes 30001/30004 until
30/6/2025; commune 29901 under province 82 from 1/7/2025). Dossiers (2 working days each):

* A: received Fri 20/6/2025 09:00 by 30001 → due Tue 24/6 17:00; resolved 10/7 by the unit
  in force for 30001 then (29901): late. June: in progress and overdue at the month's end.
* B: received Mon 23/6 09:00 by 30004 → due Wed 25/6 17:00; resolved Tue 24/6 10:00: early,
  due met.
* C: received Mon 4/8 09:00 at the desk of 29901, handled by province 82 (phi địa giới) →
  due Wed 6/8 17:00; resolved Tue 5/8: early, due met.

Horizon 1/10/2025.

District 870, June 2025 — own: nothing (its communes did the work); total (870 and the
communes below it): received 2 (A, B), resolved 1 (B, early), in progress 1 (A, overdue),
due 2 (A not met, B met). Units below it in June: 30001 (received 1, in progress 1, overdue
1) and 30004 (received 1, resolved 1).

Province 82, Q3 2025 — own: resolved 1 (C, early), due 1, due met 1; received 0 (C's
receipt is 29901's). Total: + 29901's own: received 1 (C), resolved 2 (A late, C early).
Units below it in Q3: 29901 only (870 was below 87, and ceased).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from kpi.batch import aggregate, fold_lines
from kpi.calendar import local_instant
from kpi.evidence import Bundle, build_bundle
from kpi.registry import UnitRegistry
from kpi.sla import summarize
from kpi.units import CalendarBook
from tests.eventkit import EVENTS_REGISTRY, json_line, merger_dossiers

HORIZON = local_instant(dt.date(2025, 10, 1))
REGISTRY = EVENTS_REGISTRY


def _events() -> list[dict[str, Any]]:
    return merger_dossiers()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> UnitRegistry:
    path = tmp_path_factory.mktemp("units") / "units.csv"
    path.write_text(REGISTRY, encoding="utf-8")
    return UnitRegistry.load(path)


def _bundle(registry: UnitRegistry, unit: str, period: str) -> Bundle:
    batch = fold_lines([json_line(e) for e in _events()])
    assert batch.invalid == 0, batch.errors
    book = CalendarBook()
    states = list(batch.states())
    agg = aggregate(states, HORIZON, book, registry=registry)
    dossiers = [d for s in states if (d := summarize(s, HORIZON, book)) is not None]
    return build_bundle(unit=unit, period=period, dossiers=dossiers, counters=agg.counters,
                        totals=agg.totals, levels=agg.levels, horizon=HORIZON,
                        generated_at=HORIZON, registry=registry)


KEYS = ("received", "resolved", "resolved_early", "resolved_late", "in_progress",
        "in_progress_overdue", "due", "due_met")


def _pick(counts: dict[str, int]) -> tuple[int, ...]:
    return tuple(counts[k] for k in KEYS)


def test_district_before_the_merger_own_and_total(registry: UnitRegistry) -> None:
    b = _bundle(registry, "870", "2025-06")
    assert [p.scope for p in b.parts] == ["own", "total"]
    assert _pick(b.report["counts"]) == (0, 0, 0, 0, 0, 0, 0, 0)
    assert b.total_counts is not None
    assert _pick(b.total_counts) == (2, 1, 1, 0, 1, 1, 2, 1)
    assert b.report["unit_name"] == "Huyện Tân Hồng"
    assert (b.report["view"], b.report["scope"]) == ("as_was", "own")
    total = b.total
    assert total is not None and total.report["scope"] == "total"
    assert [(s.code, s.scope) for s in b.subunits] == [("30001", "own"), ("30004", "own")]
    assert [_pick(s.counts) for s in b.subunits] == [(1, 0, 0, 0, 1, 1, 1, 0),
                                                    (1, 1, 1, 0, 0, 0, 1, 1)]


def test_province_after_the_merger_lists_what_it_handled(registry: UnitRegistry) -> None:
    b = _bundle(registry, "82", "2025-Q3")
    assert _pick(b.report["counts"]) == (0, 1, 1, 0, 0, 0, 1, 1)
    assert b.total_counts is not None
    assert _pick(b.total_counts) == (1, 2, 1, 1, 0, 0, 1, 1)
    assert [s.code for s in b.subunits] == ["29901"]
    assert b.manifest["unit_name"] == "Tỉnh Đồng Tháp"
    assert b.manifest["view"] == "as_was" and list(b.manifest["scopes"]) == ["own", "total"]
    # C was received at 29901's desk: it stands behind the province's own resolved count
    rows = b.criteria_rows["766.2.1"]
    assert {r.code for r in rows} == {"C"}
    total = b.total
    assert total is not None
    assert {r.code for r in total.criteria_rows["766.2.1"]} == {"A", "C"}
    # before its first version the province had no units below it
    assert _bundle(registry, "82", "2025-06").subunits == []


def _sheet_rows(ws: Any) -> list[dict[str, Any]]:
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def test_every_table_names_its_view_and_scope(registry: UnitRegistry) -> None:
    b = _bundle(registry, "870", "2025-06")
    wb = openpyxl.load_workbook(io.BytesIO(b.files["evidence.xlsx"]))
    assert wb.sheetnames[:5] == ["Tổng hợp", "Số liệu", "TH Tổng hợp", "TH Số liệu",
                                 "Đơn vị trực thuộc"]
    for ws in wb.worksheets:
        header = next(ws.iter_rows(values_only=True))
        assert header[-2:] == ("Góc nhìn", "Phạm vi"), ws.title
        for r in _sheet_rows(ws):  # the own criterion sheets are empty: 870 handled nothing
            assert r["Góc nhìn"] == "Theo thời điểm phát sinh", ws.title
            expected = "Tổng hợp" if ws.title.startswith("TH ") else None
            if expected:
                assert r["Phạm vi"] == expected, ws.title
            elif ws.title != "Đơn vị trực thuộc":
                assert r["Phạm vi"] == "Số liệu của đơn vị", ws.title
    sub = _sheet_rows(wb["Đơn vị trực thuộc"])
    assert [(r["Mã đơn vị"], r["Phạm vi"]) for r in sub] == [
        ("30001", "Số liệu của đơn vị"), ("30004", "Số liệu của đơn vị"),
        ("870", "Số liệu của đơn vị"), ("870", "Tổng hợp")]
    # the total's criterion sheets add up to the total's report
    total = b.total
    assert total is not None
    for entry in total.report["criteria"]:
        if entry["status"] == "not scored: no data":
            assert "TH " + entry["id"] not in wb.sheetnames  # no rows: no sheet
            continue
        if "terms" in entry:
            continue
        rows = _sheet_rows(wb["TH " + entry["id"]])
        assert sum(r["Tính vào tử số"] == "có" for r in rows) == entry["numerator"]
        assert sum(r["Tính vào mẫu số"] == "có" for r in rows) == entry["denominator"]
    data = b.files["summary_total.csv"].decode("utf-8-sig")
    assert {r["Phạm vi"] for r in csv.DictReader(io.StringIO(data))} == {"Tổng hợp"}
    md = b.files["summary.md"].decode()
    assert "Số liệu của đơn vị" in md and "Tổng hợp (đơn vị và các đơn vị trực thuộc)" in md
    assert "Theo thời điểm phát sinh" in md
    assert json.loads(b.files["manifest.json"])["scopes"]["total"]["totals"]


def test_a_unit_with_nothing_below_has_only_its_own_figures(registry: UnitRegistry,
                                                           tmp_path: Path) -> None:
    b = _bundle(registry, "29901", "2025-07")
    assert [p.scope for p in b.parts] == ["own"] and b.total_counts is None
    assert _pick(b.report["counts"]) == (0, 1, 0, 1, 0, 0, 0, 0)
    assert b.subunits == [] and "summary_total.csv" not in b.files


def test_cli_evidence_with_a_registry(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from motcua.cli import app
    from tests.eventkit import write_jsonl

    events = write_jsonl(tmp_path / "events.jsonl", _events())
    units = tmp_path / "units.csv"
    units.write_text(REGISTRY, encoding="utf-8")
    result = CliRunner().invoke(app, [
        "evidence", "--events", str(events), "--units", str(units), "--unit", "870",
        "--unit", "82", "--period", "2025-06", "--period", "2025-Q3",
        "--as-of", "2025-10-01", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    target = tmp_path / "out" / "870_2025-06"
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["registry"]["path"] == str(units) and manifest["view"] == "as_was"
    assert manifest["unit_name"] == "Huyện Tân Hồng"
    total = list(csv.DictReader(io.StringIO(
        (target / "counts_total.csv").read_text(encoding="utf-8-sig"))))
    assert {r["Khóa"]: r["Giá trị"] for r in total}["received"] == "2"
    q3 = json.loads((tmp_path / "out" / "82_2025-Q3" / "manifest.json").read_text("utf-8"))
    assert list(q3["scopes"]) == ["own", "total"]
