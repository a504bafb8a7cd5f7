"""Evidence bundles (kpi.evidence): the dossier sheets add up to the report's numbers, text
cells that look like formulas stay text, and the manifest's hashes are right."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import random
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from kpi.batch import aggregate, fold_lines
from kpi.calendar import local_instant
from kpi.catalog import shipped_catalogs
from kpi.counters import COUNT_KEYS
from kpi.evidence import (
    Bundle,
    InputInfo,
    build_bundle,
    digest_file,
    neutralise,
    ratio_terms,
    write_bundle,
)
from kpi.ratios import RATIO_FORMULAS
from kpi.registry import UnitRegistry, UnitVersion
from kpi.sla import summarize
from kpi.units import CalendarBook
from tests.eventkit import event_dict, json_line, received_dict

AS_OF = local_instant(dt.date(2025, 5, 1))
EVIL = '=HYPERLINK("x")'


def events() -> list[dict[str, Any]]:
    t = "2025-04-{}:00+07:00".format
    return [
        # H1: online, early, rated twice (satisfied, then dissatisfied)
        received_dict(t("01T08:00"), "H1", "D1", channel="online", due=t("03T17:00")),
        event_dict("dossier.resolved", t("02T10:00"), "H1"),
        event_dict("feedback.rated", t("03T09:00"), "H1", rating="satisfied"),
        event_dict("feedback.rated", t("04T09:00"), "H1", rating="dissatisfied"),
        # a formula-looking code: direct, late with an apology sent before the due date
        received_dict(t("01T09:00"), EVIL, "D1", channel="direct", due=t("05T17:00")),
        event_dict("dossier.extended", t("04T09:00"), EVIL, new_due_at=t("09T17:00")),
        event_dict("dossier.resolved", t("08T09:00"), EVIL),
        # H3: postal, fully digitized, still open and overdue at the end of April
        received_dict(t("10T09:00"), "H3", "D1", channel="postal", due=t("15T17:00")),
        event_dict("dossier.digitized", t("10T10:00"), "H3", components_total=2,
                   components_digitized=2),
        # H4: online with a fee paid online, on time with an electronic result
        received_dict(t("11T09:00"), "H4", "D1", channel="online", due=t("20T17:00"),
                      fee_required=True),
        event_dict("payment.completed", t("11T09:30"), "H4", amount_vnd=20000,
                   method="online"),
        event_dict("dossier.resolved", t("20T09:00"), "H4", result_electronic=True),
        # commune C1 (below D1): one on time, one open within limit
        received_dict(t("02T08:00"), "K1", "C1", "commune", "direct", due=t("09T17:00")),
        event_dict("dossier.resolved", t("03T08:00"), "K1"),
        received_dict(t("28T08:00"), "K2", "C1", "commune", "online",
                      due="2025-05-09T17:00:00+07:00"),
    ]


REGISTRY = UnitRegistry([
    UnitVersion("P", "Tỉnh P", "province", None, dt.date.min, None),
    UnitVersion("D1", "Huyện Một", "district", "P", dt.date.min, None),
    UnitVersion("C1", "Xã Một", "commune", "D1", dt.date.min, None),
])


def make_bundle(**kw: Any) -> Bundle:
    lines = [json_line(e) for e in events()]
    batch = fold_lines(lines)
    assert batch.invalid == 0, batch.errors
    book = CalendarBook()
    states = list(batch.states())
    agg = aggregate(states, AS_OF, book, registry=kw.get("registry"))
    dossiers = [d for s in states if (d := summarize(s, AS_OF, book)) is not None]
    info = InputInfo("events.jsonl", "0" * 64, len(lines), batch.valid, batch.invalid)
    kw.setdefault("unit", "D1")
    return build_bundle(period="2025-04", dossiers=dossiers, counters=agg.counters,
                        totals=agg.totals, levels=agg.levels, horizon=AS_OF,
                        generated_at=AS_OF + 3600, input_info=info, **kw)


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return make_bundle(registry=REGISTRY)


def test_report_numbers(bundle: Bundle) -> None:
    c = bundle.report["counts"]
    assert (c["received"], c["resolved"], c["resolved_early"], c["resolved_on_time"],
            c["resolved_late"], c["late_with_apology"], c["in_progress"],
            c["in_progress_overdue"], c["rated"], c["satisfied"], c["dissatisfied"],
            c["digitized"]) == (4, 3, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1)
    ids = [e["id"] for e in bundle.report["criteria"]]
    assert ids[:18] == [c.id for c in shipped_catalogs()[0].criteria]
    assert ids[18:] and all(i.startswith("PAR.DO.") for i in ids[18:])
    assert all(e["group"] for e in bundle.report["criteria"][:18])


def _sheet_rows(ws: Any) -> list[dict[str, Any]]:
    rows = list(ws.iter_rows(values_only=True))
    header = rows[0]
    return [dict(zip(header, r, strict=True)) for r in rows[1:]]


def test_criterion_sheets_add_up_to_the_report(bundle: Bundle) -> None:
    wb = openpyxl.load_workbook(io.BytesIO(bundle.files["evidence.xlsx"]))
    summary = _sheet_rows(wb.worksheets[0])
    sheet_of = {r["Mã tiêu chí"]: r["Trang chi tiết"] for r in summary if r["Trang chi tiết"]}
    checked = 0
    not_scored = 0
    for entry in bundle.report["criteria"]:
        srows = [r for r in summary if r["Mã tiêu chí"] == entry["id"]]
        assert {r["Nhóm"] for r in srows} == {entry["group_name"]}  # PAR: none
        assert {r["Mức kiểm chứng"][:1] for r in srows} == {entry["grade"]}
        if entry["status"] == "not scored: no data":
            # listed with its status, no counts and no dossier sheet
            assert [(r["Trạng thái"], r["Tử số"], r["Mẫu số"], r["Trang chi tiết"])
                    for r in srows] == [("chưa chấm điểm: không có dữ liệu", None, None, None)]
            assert entry["id"] not in wb.sheetnames
            not_scored += 1
            continue
        rows = _sheet_rows(wb[sheet_of[entry["id"]]])
        if "terms" in entry:
            expected = {name: tuple(v) for name, v in entry["terms"].items()}
        else:
            expected = {entry["ratio"]: (entry["numerator"], entry["denominator"])}
        for term, (num, den) in expected.items():
            mine = [r for r in rows if r["Thành phần"] == term]
            assert sum(r["Tính vào tử số"] == "có" for r in mine) == num, (entry["id"], term)
            assert sum(r["Tính vào mẫu số"] == "có" for r in mine) == den, (entry["id"], term)
            checked += 1
        # the summary sheet carries the same counts
        assert {r["Thành phần"]: (r["Tử số"], r["Mẫu số"]) for r in srows} == expected
    assert not_scored == 4
    # every scored criterion checked, 766.5.4 twice (two terms)
    assert checked == len(bundle.report["criteria"]) - not_scored + 1
    # the points per group of Decision 766: five rows
    groups = [r for r in summary if r["Mã tiêu chí"] == "Tổng điểm nhóm"]
    assert [r["Tiêu chí"] for r in groups] == [
        "Công khai, minh bạch", "Tiến độ, kết quả giải quyết", "Cung cấp dịch vụ trực tuyến",
        "Số hóa hồ sơ", "Mức độ hài lòng"]


def test_dossier_listed_once_per_rating(bundle: Bundle) -> None:
    rows = bundle.criteria_rows["766.5.4"]
    ratings = [r for r in rows if r.term == "dissatisfied"]
    assert [(r.code, r.in_numerator) for r in ratings] == [("H1", False), ("H1", True)]


def test_formula_looking_code_stays_text(bundle: Bundle) -> None:
    wb = openpyxl.load_workbook(io.BytesIO(bundle.files["evidence.xlsx"]))
    ws = wb["766.2.1"]
    cells = [row[1] for row in ws.iter_rows(min_row=2)]
    evil = [c for c in cells if "HYPERLINK" in str(c.value)]
    assert len(evil) == 1
    assert evil[0].value == "'" + EVIL
    assert evil[0].data_type == "s"
    for ws in wb.worksheets:  # no formula anywhere
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
    data = bundle.files["criterion_766.2.1.csv"]
    assert data.startswith("\ufeff".encode())
    codes = [r[1] for r in csv.reader(io.StringIO(data.decode("utf-8-sig")))][1:]
    assert "'" + EVIL in codes and EVIL not in codes


def test_neutralise() -> None:
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise(text) == "'" + text
    assert neutralise("H-1") == "H-1"
    assert neutralise(-1) == -1
    assert neutralise(None) is None


def test_manifest_hashes(bundle: Bundle, tmp_path: Path) -> None:
    manifest = json.loads(bundle.files["manifest.json"])
    assert set(manifest["files"]) == set(bundle.files) - {"manifest.json"}
    target = write_bundle(bundle, tmp_path)
    assert target.name == "D1_2025-04"
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((target / name).read_bytes()).hexdigest() == digest
    assert [(c["id"], c["version"]) for c in manifest["catalogs"]] == [
        ("decision-766-2022", "2022-06-23"), ("par-example-district-office", "example-1")]
    assert manifest["input"]["lines"] == len(events())
    assert manifest["as_of"] == "2025-05-01T00:00:00+07:00"
    assert {"summary.html", "summary.md", "evidence.xlsx", "summary.csv"} <= set(bundle.files)


def test_subunit_rows_and_rollup(bundle: Bundle) -> None:
    assert [s.code for s in bundle.subunits] == ["C1"]
    c1 = bundle.subunits[0]
    assert (c1.counts["received"], c1.counts["resolved"], c1.counts["in_progress"]) == (2, 1, 1)
    assert bundle.total_counts is not None and bundle.total_counts["received"] == 6
    html = bundle.files["summary.html"].decode()
    assert "Xã Một" in html and "@page" in html and "size: A4" in html
    wb = openpyxl.load_workbook(io.BytesIO(bundle.files["evidence.xlsx"]))
    assert "Đơn vị trực thuộc" in wb.sheetnames


def test_summary_lists_every_criterion(bundle: Bundle) -> None:
    md = bundle.files["summary.md"].decode()
    html = bundle.files["summary.html"].decode()
    for entry in bundle.report["criteria"]:
        assert f"| {entry['id']} |" in md
        assert f"<td>{entry['id']}</td>" in html
    assert "cần thêm" in md and "cần thêm" in html
    # grades and groups shown, the criteria not scored listed as such
    for text in (md, html):
        assert "Mức kiểm chứng: V = " in text and "Mức độ hài lòng" in text
        assert "chưa chấm điểm: không có dữ liệu" in text
        assert "766.1.1, 766.1.3" in text  # transparency's criteria not scored
    assert 'lang="vi"' in html


def test_ratio_terms_match_the_formulas() -> None:
    rng = random.Random(7)
    for _ in range(50):
        counts = {k: rng.randrange(0, 100) for k in COUNT_KEYS}
        for ratio, (_, fn) in RATIO_FORMULAS.items():
            (term,) = ratio_terms(ratio)
            n = sum(v * counts[k] for k, v in term.numerator.items())
            d = sum(v * counts[k] for k, v in term.denominator.items())
            assert (n, d) == fn(counts), ratio


def test_digest_file(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl"
    p.write_bytes(b"a\nb\nc")
    assert digest_file(p) == (hashlib.sha256(b"a\nb\nc").hexdigest(), 3)
    p.write_bytes(b"a\nb\n")
    assert digest_file(p)[1] == 2


def test_without_registry_no_subunits() -> None:
    b = make_bundle(unit="C1")
    assert b.subunits == [] and b.total_counts is None
    assert [e["id"] for e in b.report["criteria"]][18:][0].startswith("PAR.CM.")
