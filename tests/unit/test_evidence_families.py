"""Evidence bundles of the docs/contract.md families (kpi.evidence.families): the petitions,
procedure catalog and documents sheets of the hand-worked quarter
(:func:`tests.eventkit.families_quarter`, commune C1; its counts are worked out in
tests/unit/test_families.py) list exactly the items behind the report's counts — one truth
with the counts — and every criterion ratio's rows, dossiers and families together, add up
to its numerator and denominator.

Hand-worked lists, 2025-Q4 (judged 1/1/2026 00:00):

* petitions answered late: P2 (due 15/10 17:00, answered 20/10); open and overdue at the
  end: P4 (due 10/12). P5 is open but due 15/1/2026; P8 (naming H2) answered on time.
* catalog: in force at the end PR1 (full, online payment; used by H1 online, full, paid
  online), PR4 (none), PR5 (republished 1/12 partial, no payment; no dossier); first
  published in Q4 but withdrawn 15/12: PR2 (published 10/10, due 5/10: late). PR4 and PR5
  were first published in Q4 without a deadline (on time); PR1 on 20/9 (before its due
  30/9), so not "published in the period".
* documents: D1 (electronic, signed), D2 (electronic, unsigned), D3 (paper), D4
  (electronic, signed).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import openpyxl
import pytest

from kpi.attribution import Attribution, scoped
from kpi.batch import aggregate, fold_lines
from kpi.calendar import local_instant
from kpi.criteria import SATISFACTION_766
from kpi.evidence import Bundle, build_bundle, families_behind
from kpi.evidence.families import (
    Families,
    document_rows_for,
    family_criterion_rows,
    petition_rows_for,
    procedure_rows_for,
)
from kpi.evidence.select import contributions_to, criterion_rows, ratio_terms
from kpi.ratios import RATIO_KEYS, fraction
from kpi.registry import UnitRegistry, UnitVersion
from kpi.sla import summarize
from kpi.units import CalendarBook
from tests.eventkit import families_quarter, json_line, write_jsonl

HORIZON = local_instant(dt.date(2026, 1, 1))
BOOK = CalendarBook()
PERIODS = ("2025-Q3", "2025-10", "2025-11", "2025-12", "2025-Q4", "2025")

REGISTRY = UnitRegistry([
    UnitVersion("P", "Tỉnh P", "province", None, dt.date.min, None),
    UnitVersion("D1", "Huyện Một", "district", "P", dt.date.min, None),
    UnitVersion("C1", "Xã Một", "commune", "D1", dt.date.min, None),
])


def _inputs(registry: UnitRegistry | None = None, units: tuple[str, ...] = ("C1",)
            ) -> tuple[Any, list[Any], Families]:
    batch = fold_lines(json_line(d) for d in families_quarter())
    assert batch.invalid == 0, batch.errors
    states = list(batch.states())
    agg = aggregate(states, HORIZON, BOOK, registry=registry)
    dossiers = [d for s in states if (d := summarize(s, HORIZON, BOOK)) is not None]
    families = families_behind(states, units, HORIZON, BOOK, Attribution(registry))
    return agg, dossiers, families


def _bundle(unit: str = "C1", period: str = "2025-Q4",
            registry: UnitRegistry | None = None) -> Bundle:
    agg, dossiers, families = _inputs(registry, (unit,))
    return build_bundle(unit=unit, period=period, dossiers=dossiers, counters=agg.counters,
                        totals=agg.totals, levels=agg.levels, horizon=HORIZON,
                        generated_at=HORIZON, registry=registry, families=families)


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return _bundle()


def _sheet(b: Bundle, title: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(item rows, {footer label: count}) of a sheet of the bundle's workbook."""
    wb = openpyxl.load_workbook(io.BytesIO(b.files["evidence.xlsx"]))
    rows = list(wb[title].iter_rows(values_only=True))
    header = rows[0]
    items, footers = [], {}
    for r in rows[1:]:
        if str(r[0]).startswith("Tổng cộng: "):
            footers[str(r[0])[len("Tổng cộng: "):]] = r[1]
        else:
            items.append(dict(zip(header, r, strict=True)))
    return items, footers


def test_petitions_sheet(bundle: Bundle) -> None:
    items, footers = _sheet(bundle, "PAKN quá hạn")
    assert [(r["Mã PAKN"], r["Tình trạng trong kỳ"], r["Tiếp nhận"], r["Hạn trả lời"],
             r["Ngày trả lời"]) for r in items] == [
        ("P2", "Trả lời quá hạn", "2025-10-05 09:00", "2025-10-15 17:00", "2025-10-20 10:00"),
        ("P4", "Đang xử lý, quá hạn (cuối kỳ)", "2025-12-01 09:00", "2025-12-10 17:00", None),
    ]
    assert {r["Đơn vị tiếp nhận"] for r in items} == {"C1"}
    assert items[0]["Đánh giá"] == "Hài lòng"  # P2 rated satisfied, still unsatisfied: late
    c = bundle.report["counts"]
    assert footers == {"PAKN trả lời quá hạn": 1, "PAKN đang xử lý quá hạn": 1}
    assert len(items) == (c["petitions_answered"] - c["petitions_answered_on_time"]
                          + c["petitions_open_overdue"]) == 2


def test_procedure_catalog_sheet(bundle: Bundle) -> None:
    items, footers = _sheet(bundle, "Danh mục TTHC")
    cols = ("Mã TTHC", "Mức độ trực tuyến (cuối kỳ)", "Thanh toán trực tuyến (cuối kỳ)",
            "Công bố lần đầu", "Hạn công bố", "Công bố lần đầu trong kỳ", "Công bố đúng hạn",
            "Đang áp dụng cuối kỳ", "Có hồ sơ trực tuyến trong kỳ",
            "Có hồ sơ toàn trình trong kỳ", "Có thanh toán trực tuyến trong kỳ")
    assert [tuple(r[c] for c in cols) for r in items] == [
        ("PR1", "Toàn trình", "có", "2025-09-20 09:00", "2025-09-30 17:00", "không", "có",
         "có", "có", "có", "có"),
        ("PR2", "—", "—", "2025-10-10 09:00", "2025-10-05 17:00", "có", "không", "không",
         "—", "—", "—"),
        ("PR4", "Không", "không", "2025-11-01 08:00", None, "có", "có", "có", "—", "—", "—"),
        ("PR5", "Một phần", "không", "2025-10-01 08:00", None, "có", "có", "có", "không",
         "—", "—"),
    ]
    c = bundle.report["counts"]
    assert sum(r["Đang áp dụng cuối kỳ"] == "có" for r in items) == c["procedures"] == 3
    published = [r for r in items if r["Công bố lần đầu trong kỳ"] == "có"]
    assert len(published) == c["procedures_published"] == 3
    assert sum(r["Công bố đúng hạn"] == "có" for r in published) == \
        c["procedures_published_on_time"] == 2
    assert footers["TTHC đang áp dụng"] == 3 and footers["TTHC công khai đúng hạn"] == 2
    assert len(footers) == 9


def test_documents_sheet(bundle: Bundle) -> None:
    items, footers = _sheet(bundle, "Văn bản đi")
    assert [(r["Mã văn bản"], r["Thời điểm gửi"], r["Văn bản điện tử"], r["Ký số"])
            for r in items] == [
        ("D1", "2025-10-03 09:00", "có", "có"), ("D2", "2025-11-04 09:00", "có", "không"),
        ("D3", "2025-12-05 09:00", "không", "không"), ("D4", "2025-12-06 09:00", "có", "có")]
    assert footers == {"Văn bản đi": 4, "Văn bản điện tử có ký số": 2}
    data = bundle.files["documents.csv"].decode("utf-8-sig")
    assert [r["Mã văn bản"] for r in csv.DictReader(io.StringIO(data))][:4] == \
        ["D1", "D2", "D3", "D4"]


def _check_lists(families: Families, key: str, period: str, c: dict[str, int]) -> None:
    """Each list against the counts of ``key`` in ``period``."""
    pet = petition_rows_for(families, key, period)
    assert len(pet) == (c["petitions_answered"] - c["petitions_answered_on_time"]
                        + c["petitions_open_overdue"]), (key, period)
    assert sum(r.status.startswith("Đang xử lý") for r in pet) == c["petitions_open_overdue"]
    proc = procedure_rows_for(families, key, period)
    for column, count in (("in_force", "procedures"),
                          ("published_in_period", "procedures_published")):
        assert sum(getattr(r, column) == "có" for r in proc) == c[count], (key, period, count)
    assert sum(r.published_in_period == "có" and r.published_on_time == "có"
               for r in proc) == c["procedures_published_on_time"], (key, period)
    level = {"procedures_online": ("Toàn trình", "Một phần"),
             "procedures_full_online": ("Toàn trình",)}
    for count, levels in level.items():
        assert sum(r.online_level in levels for r in proc) == c[count], (key, period, count)
    assert sum(r.online_payment == "có" for r in proc) == c["procedures_online_payment"]
    for column, count in (("used_online", "procedures_online_used"),
                          ("used_full", "procedures_full_online_used"),
                          ("used_payment", "procedures_online_payment_used")):
        assert sum(getattr(r, column) == "có" for r in proc) == c[count], (key, period, count)
    docs = document_rows_for(families, key, period)
    assert len(docs) == c["documents_issued"], (key, period)
    assert sum(r.electronic == "có" and r.signed == "có" for r in docs) == \
        c["documents_e_signed"], (key, period)


def test_every_list_equals_its_counts_in_every_period() -> None:
    agg, _, families = _inputs()
    for period in PERIODS:
        _check_lists(families, "C1", period, agg.counters[("C1", period)].to_dict())


def test_with_a_registry_the_total_lists_what_is_below() -> None:
    agg, _, families = _inputs(REGISTRY, ("D1", "P"))
    for unit in ("D1", "P"):
        for period in PERIODS:
            _check_lists(families, scoped(unit, "total"), period,
                         agg.totals[(unit, period)].to_dict())
    assert not petition_rows_for(families, "D1", "2025-Q4")  # D1's own: nothing
    b = _bundle("D1", "2025-Q4", REGISTRY)
    own, own_footers = _sheet(b, "Văn bản đi")
    total, total_footers = _sheet(b, "TH Văn bản đi")
    assert own == [] and own_footers == {"Văn bản đi": 0, "Văn bản điện tử có ký số": 0}
    assert [r["Mã văn bản"] for r in total] == ["D1", "D2", "D3", "D4"]
    assert {r["Phạm vi"] for r in total} == {"Tổng hợp"}
    assert total_footers == {"Văn bản đi": 4, "Văn bản điện tử có ký số": 2}
    assert "petitions_total.csv" in b.files and "procedures_total.csv" in b.files


def test_every_ratio_is_the_sum_of_its_rows() -> None:
    """Dossier rows and family rows of every ratio (and 766.5.4's two terms) sum to the
    ratio's numerator and denominator — for every ratio key, whether a catalog scores it
    yet or not."""
    agg, dossiers, families = _inputs()
    for period in PERIODS:
        counts = agg.counters[("C1", period)].to_dict()
        behind = contributions_to(dossiers, ["C1"], period, HORIZON)["C1"]
        for ratio in (*RATIO_KEYS, SATISFACTION_766):
            rows = [*criterion_rows(ratio, behind, HORIZON),
                    *family_criterion_rows(ratio, families, "C1", period, HORIZON)]
            for term in ratio_terms(ratio):
                mine = [r for r in rows if r.term == term.name]
                num = sum(v * counts[k] for k, v in term.numerator.items())
                den = sum(v * counts[k] for k, v in term.denominator.items())
                if ratio != SATISFACTION_766:
                    assert (num, den) == fraction(ratio, counts)
                assert sum(r.numerator for r in mine) == num, (period, ratio, term.name)
                assert sum(r.denominator for r in mine) == den, (period, ratio, term.name)
    q4 = agg.counters[("C1", "2025-Q4")].to_dict()
    rows = family_criterion_rows("petition_on_time", families, "C1", "2025-Q4", HORIZON)
    # answered P1 P2 P3 P7 P8 and open P4 P5: 7 in the denominator, 5 in the numerator
    assert sorted(r.code for r in rows) == ["P1", "P2", "P3", "P4", "P5", "P7", "P8"]
    assert sorted(r.code for r in rows if r.in_numerator) == ["P1", "P3", "P5", "P7", "P8"]
    assert q4["petitions_answered"] + q4["petitions_open"] == 7


def test_cli_evidence_writes_the_family_sheets(tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from motcua.cli import app

    events = write_jsonl(tmp_path / "families.jsonl", families_quarter())
    result = CliRunner().invoke(app, [
        "evidence", "--events", str(events), "--unit", "C1", "--period", "2025-Q4",
        "--as-of", "2026-01-01", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    target = tmp_path / "out" / "C1_2025-Q4"

    def codes(name: str) -> list[str]:
        text = (target / name).read_text(encoding="utf-8-sig")
        return [r[0] for r in csv.reader(io.StringIO(text))][1:]

    assert codes("petitions.csv")[:2] == ["P2", "P4"]
    assert codes("procedures.csv")[:4] == ["PR1", "PR2", "PR4", "PR5"]
    assert codes("documents.csv")[:4] == ["D1", "D2", "D3", "D4"]
    wb = openpyxl.load_workbook(target / "evidence.xlsx")
    assert wb.sheetnames[:5] == ["Tổng hợp", "Số liệu", "PAKN quá hạn", "Danh mục TTHC",
                                 "Văn bản đi"]
