"""Evidence bundles: one sheet per group of the scoring catalog (kpi.evidence.groups), each
metric with its numerator and denominator and the records behind them, which add up."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Sequence
from typing import Any

import openpyxl
import pytest

from kpi.evidence import Bundle, EvidenceRow, evidence_sheets
from kpi.evidence.families import keys_to
from kpi.evidence.groups import (
    GROUP_HEADERS,
    GROUP_ROW_VI,
    METRIC_ROW_VI,
    NOTE_ROW_VI,
    RECORD_ROW_VI,
    group_tables,
    report_groups,
)
from kpi.evidence.model import criterion_ratios, term_counts
from kpi.evidence.select import DISTINCT_MARK, Term, basis_text, plain_key, row_counts
from kpi.scoring import NOT_APPLICABLE, SCORED, STATUS_LABELS_VI, group_totals
from tests.unit.test_evidence import REGISTRY, make_bundle

FIVE = ["Công khai, minh bạch", "Tiến độ, kết quả giải quyết", "Cung cấp dịch vụ trực tuyến",
        "Số hóa hồ sơ, kết quả giải quyết", "Mức độ hài lòng"]


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return make_bundle(registry=REGISTRY)


def _rows(ws: Any) -> list[dict[str, Any]]:
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def test_progress_sheet_by_hand(bundle: Bundle) -> None:
    """District D1's own dossiers of April (tests/unit/test_evidence.py): H1 early, the
    formula-looking one late, H3 open and overdue at the end of April, H4 on time. On-time
    (766.2.1, (early + on time + in progress − overdue) / (resolved + in progress)) is
    (1 + 1 + 1 − 1) / (3 + 1) = 2/4: 10 of 20 points; each dossier adds (1, 1) if early or
    on time, (0, 1) if late, (1 − 1, 1) if open and overdue. 766.2.2 is not scored."""
    wb = openpyxl.load_workbook(io.BytesIO(bundle.files["evidence.xlsx"]))
    rows = _rows(wb["Tiến độ, kết quả giải quyết"])
    cols = ("Loại dòng", "Mã chỉ tiêu", "Thành phần", "Tử số", "Mẫu số", "Giá trị", "Điểm",
            "Điểm tối đa", "Mã hồ sơ", "Phân loại trong kỳ", "Phạm vi")
    got = [tuple(r[c] for c in cols) for r in rows]
    own = "Số liệu của đơn vị"
    assert got == [
        (METRIC_ROW_VI, "766.2.1", "on_time_766", 2, 4, 0.5, 10, 20, None, None, own),
        (RECORD_ROW_VI, "766.2.1", "on_time_766", 0, 1, None, None, None,
         "'=HYPERLINK(\"x\")", "Quá hạn (có thư xin lỗi)", own),  # neutralised: text
        (RECORD_ROW_VI, "766.2.1", "on_time_766", 1, 1, None, None, None, "H1", "Trước hạn",
         own),
        (RECORD_ROW_VI, "766.2.1", "on_time_766", 0, 1, None, None, None, "H3",
         "Đang giải quyết, quá hạn (cuối kỳ)", own),
        (RECORD_ROW_VI, "766.2.1", "on_time_766", 1, 1, None, None, None, "H4", "Đúng hạn",
         own),
        (METRIC_ROW_VI, "766.2.2", None, None, None, None, None, None, None, None, own),
        (GROUP_ROW_VI, "progress", None, None, None, None, 10, 20, None, None, own),
    ]
    assert rows[-2]["Trạng thái"] == "chưa chấm điểm: không có dữ liệu"


def test_a_sheet_per_group_and_scope_in_vietnamese(bundle: Bundle) -> None:
    """A sheet per group of the report (five for the Decision 766 catalog of April 2025)
    for D1's own figures, then one each (``TH …``) for its total, titled by the groups'
    Vietnamese names (cut at Excel's 31 characters); and a CSV each."""
    names = [g["name"] for g in report_groups(bundle.report)]
    assert len(names) == 5 and names[:3] == FIVE[:3] and names[4] == FIVE[4]
    titles = [s.title for s in evidence_sheets(bundle) if s.csv_name.startswith("group")]
    assert titles == [*(n[:31] for n in names), *(f"TH {n}"[:31] for n in names)]
    assert {"group_progress.csv", "group_total_satisfaction.csv"} <= set(bundle.files)
    text = bundle.files["group_progress.csv"].decode("utf-8-sig")
    header = next(csv.reader(io.StringIO(text)))
    assert header == [*GROUP_HEADERS, "Góc nhìn", "Phạm vi"]


@pytest.mark.parametrize("scope", [0, 1])
def test_records_add_up_to_each_metric_and_points_to_the_group(bundle: Bundle,
                                                               scope: int) -> None:
    """For every metric of every group, own figures and total: its rows give the report's
    numerator and denominator per term, the records behind each term sum to them (and are
    the criterion's evidence rows), and the group row has the group's points."""
    part = bundle.parts[scope]
    report = part.report
    tables = group_tables(report, part.criteria_rows)
    expected_groups = group_totals(report["criteria"])
    assert [t.id for t in tables] == list(expected_groups)
    checked = 0
    for table in tables:
        *body, last = table.rows
        assert last[:3] == [GROUP_ROW_VI, table.id, expected_groups[table.id]["name"]]
        assert (last[7], last[8]) == (expected_groups[table.id]["points"],
                                      expected_groups[table.id]["max_points"])
        for c in (c for c in report["criteria"] if c["group"] == table.id):
            mine = [r for r in body if r[1] == c["id"]]
            terms = ({k: tuple(v) for k, v in c["terms"].items()} if "terms" in c
                     else {c["ratio"] or "": (c["numerator"], c["denominator"])})
            metric = {r[3]: (r[4], r[5]) for r in mine if r[0] == METRIC_ROW_VI}
            assert metric == terms, c["id"]
            records = [r for r in mine if r[0] == RECORD_ROW_VI]
            if c["ratio"] is None:
                assert records == []
                continue
            for term, (num, den) in terms.items():
                assert sum(r[4] for r in records if r[3] == term) == num, (c["id"], term)
                assert sum(r[5] for r in records if r[3] == term) == den, (c["id"], term)
                assert [r[11] for r in records if r[3] == term] == [
                    e.code for e in part.criteria_rows[c["id"]] if e.term == term]
                checked += 1
            assert len(records) == len(part.criteria_rows[c["id"]])
    assert checked == 15  # the 14 scored criteria of the five groups, 766.5.4 with two terms


SIX = [("transparency", "Công khai, minh bạch", 6.0, 10.0),
       ("progress", "Tiến độ, kết quả giải quyết", 15.0, 20.0),
       ("online_services", "Cung cấp dịch vụ trực tuyến", 0.0, 12.0),
       ("online_payment", "Thanh toán trực tuyến", 8.5, 10.0),
       ("digitization", "Số hóa hồ sơ", None, None),
       ("satisfaction", "Mức độ hài lòng", 18.0, 18.0)]


PAYMENT_PARTS = [("online_payment", 6, 1, 2), ("fee_procedures_online_paid", 2.5, 2, 2),
                 ("fee_procedures_portal_paid", 2.5, 0, 2)]
"""A = dossiers paid online / with a fee, B = fee procedures paid online / fee procedures,
C = … paid through the portal: 6 × 1/2 + min(2, 2.5 × 1) + 2.5 × 0 = 5 (of 10; the
fixture's 8.5 points are made up: only the rows are under test)."""
A, B, C = (r for r, *_ in PAYMENT_PARTS)


def _row(term: str, code: str, num: int, den: int) -> EvidenceRow:
    return EvidenceRow(term, code, "P1", "Trực tuyến", "2026-08-01 08:00", "", "", "",
                       "Tiếp nhận", "Đúng hạn", "received", num, den)


def _six_group_report() -> tuple[dict[str, Any], dict[str, Sequence[EvidenceRow]]]:
    """A report scored by a six-group catalog, as kpi.report gives it (docs/scoring.md):
    ``groups`` in the catalog's order (digitization with nothing scored), each criterion
    with its ``code`` and ``group``; the payment metric is a sum of three ratios (A, B, C),
    its ``terms`` one entry each."""
    cat = "portal-766-2026@2026-01-01"

    def crit(cid: str, code: str, group: str, ratio: str | None, num: int | None,
             den: int | None, pts: float | None, mx: float, **extra: Any) -> dict[str, Any]:
        return {"id": cid, "code": code, "name": code.title(), "group": group,
                "catalog": cat, "ratio": ratio, "numerator": num, "denominator": den,
                "value": None if not den else num / den, "points": pts, "max_points": mx,
                "status": SCORED if pts is not None else NOT_APPLICABLE, "grade": "M",
                "formula": "", "rule": "", "applicable": pts is not None, **extra}

    criteria = [
        crit("p.1", "PUBLISH_ON_TIME", "transparency", "procedures_on_time", 3, 3, 6, 6),
        crit("p.2", "PUBLIC_UPDATE_ON_TIME", "transparency", "procedures_updated_ratio",
             0, 0, None, 4),  # 0/0: not scored, left out of the maximum (10 = 6 + 4)
        crit("p.3", "DOSSIER_ON_TIME", "progress", "on_time_766", 3, 4, 15, 20),
        crit("p.4", "FULL_ONLINE_DOSSIER", "online_services", "full_online", 0, 2, 0, 12),
        crit("p.5", "ONLINE_PAYMENT", "online_payment", "online_payment", 1, 2, 8.5, 10,
             terms=[{"ratio": r, "weight": w, "numerator": n, "denominator": d}
                    for r, w, n, d in PAYMENT_PARTS]),
        crit("p.7", "ELECTRONIC_CERTIFIED_COPY", "digitization", "e_certified_copy_communes",
             0, 2, None, 2),  # two communes (the registry's), none offering the service
        crit("p.6", "DOSSIER_RECEIVING_SATISFACTION", "satisfaction", "satisfaction", 1, 1,
             18, 18),
        {**crit("PAR.1", "PAR_1", "", "online_receipt", 1, 1, 1, 1), "group": None,
         "catalog": "par@1"},  # another catalog, no group: in no group sheet
    ]
    report = {"unit": "X1", "period": "2026-08", "scope": "own", "catalog": cat,
              "criteria": criteria, "total_points": 47.5, "total_max_points": 70,
              "groups": [{"id": g, "name": n, "points": p, "max_points": m}
                         for g, n, p, m in SIX]}
    rows: dict[str, Sequence[EvidenceRow]] = {
        "p.1": [_row("procedures_on_time", f"X1/P{i}", 1, 1) for i in range(3)],
        "p.3": [_row("on_time_766", "H1", 1, 1), _row("on_time_766", "H2", 1, 1),
                _row("on_time_766", "H3", 1, 1), _row("on_time_766", "H4", 0, 1)],
        "p.4": [_row("full_online", "H1", 0, 1), _row("full_online", "H2", 0, 1)],
        "p.5": [_row(A, "H1", 1, 1), _row(A, "H2", 0, 1),
                _row(B, "X1/P1", 1, 1), _row(B, "X1/P2", 1, 1),
                _row(C, "X1/P1", 0, 1), _row(C, "X1/P2", 0, 1)],
        "p.6": [_row("satisfaction", "H1", 1, 1)],
        "PAR.1": [_row("online_receipt", "H1", 1, 1)],
    }
    return report, rows


def test_six_groups_from_the_report() -> None:
    """The groups are the report's: six, in its order, named in Vietnamese, with its
    points — a group with nothing scored too (no points); each metric keyed by its portal
    code, the payment metric with a row and its records per part."""
    report, rows = _six_group_report()
    tables = group_tables(report, rows)
    assert [(t.id, t.name, t.points, t.max_points) for t in tables] == SIX
    payment = next(t for t in tables if t.id == "online_payment").rows
    assert [(r[0], r[1], r[3], r[4], r[5], r[11]) for r in payment] == [
        (METRIC_ROW_VI, "ONLINE_PAYMENT", A, 1, 2, None),
        (RECORD_ROW_VI, "ONLINE_PAYMENT", A, 1, 1, "H1"),
        (RECORD_ROW_VI, "ONLINE_PAYMENT", A, 0, 1, "H2"),
        (METRIC_ROW_VI, "ONLINE_PAYMENT", B, 2, 2, None),
        (RECORD_ROW_VI, "ONLINE_PAYMENT", B, 1, 1, "X1/P1"),
        (RECORD_ROW_VI, "ONLINE_PAYMENT", B, 1, 1, "X1/P2"),
        (METRIC_ROW_VI, "ONLINE_PAYMENT", C, 0, 2, None),
        (RECORD_ROW_VI, "ONLINE_PAYMENT", C, 0, 1, "X1/P1"),
        (RECORD_ROW_VI, "ONLINE_PAYMENT", C, 0, 1, "X1/P2"),
        (GROUP_ROW_VI, "online_payment", "", None, None, None),
    ]
    # the value, points and maximum are on the metric's first row only
    assert [(r[6], r[7], r[8]) for r in payment if r[0] == METRIC_ROW_VI] == [
        (0.5, 8.5, 10), (None, None, None), (None, None, None)]
    transparency = next(t for t in tables if t.id == "transparency").rows
    assert [(r[0], r[1], r[4], r[5], r[7], r[8]) for r in transparency] == [
        (METRIC_ROW_VI, "PUBLISH_ON_TIME", 3, 3, 6, 6),
        *[(RECORD_ROW_VI, "PUBLISH_ON_TIME", 1, 1, None, None)] * 3,
        (METRIC_ROW_VI, "PUBLIC_UPDATE_ON_TIME", 0, 0, None, 4),  # not scored: no records
        (GROUP_ROW_VI, "transparency", None, None, 6.0, 10.0),
    ]
    assert transparency[4][9] == STATUS_LABELS_VI[NOT_APPLICABLE]
    # the communes are no listed record: a note row carries them, so the rows add up
    digitization = next(t for t in tables if t.id == "digitization").rows
    assert [(r[0], r[1], r[3], r[4], r[5]) for r in digitization] == [
        (METRIC_ROW_VI, "ELECTRONIC_CERTIFIED_COPY", "e_certified_copy_communes", 0, 2),
        (NOTE_ROW_VI, "ELECTRONIC_CERTIFIED_COPY", "e_certified_copy_communes", 0, 2),
        (GROUP_ROW_VI, "digitization", "", None, None)]
    # the PAR criterion (another catalog, no group) is in no group table
    assert not [r for t in tables for r in t.rows if r[1] == "PAR_1"]


def test_six_group_sheets_in_the_bundle(bundle: Bundle) -> None:
    """A bundle whose report carries six groups has six group sheets per scope, titled by
    the report's group names."""
    report, rows = _six_group_report()
    six = dataclasses.replace(bundle, parts=[
        dataclasses.replace(part, report={**part.report, **{k: report[k] for k in (
            "catalog", "criteria", "groups", "total_points", "total_max_points")}},
            criteria_rows=rows)
        for part in bundle.parts])
    titles = [s.title for s in evidence_sheets(six) if s.csv_name.startswith("group")]
    assert titles == [*(n for _g, n, _p, _m in SIX), *(f"TH {n}" for _g, n, _p, _m in SIX)]


def test_terms_and_ratios_of_a_sum_of_ratios() -> None:
    """A metric that sums several ratios (the portal's payment: docs/scoring.md) has a
    term per part, named by its ratio, and rows behind each part's ratio; a ratio with
    named terms (satisfaction_766) and a plain one as before; a metric not scored none."""
    payment = {"ratio": A, "numerator": 1, "denominator": 2,
               "terms": [{"ratio": r, "numerator": n, "denominator": d}
                         for r, _w, n, d in PAYMENT_PARTS]}
    assert term_counts(payment) == [(A, 1, 2), (B, 2, 2), (C, 0, 2)]
    assert criterion_ratios(payment) == [A, B, C]
    combined = {"ratio": "satisfaction_766", "numerator": 1, "denominator": 4,
                "terms": {"late_overdue_or_petitioned": [1, 4], "dissatisfied": [0, 2]}}
    assert term_counts(combined) == [("late_overdue_or_petitioned", 1, 4),
                                     ("dissatisfied", 0, 2)]
    assert criterion_ratios(combined) == ["satisfaction_766"]
    assert criterion_ratios({"ratio": "online_receipt"}) == ["online_receipt"]
    assert criterion_ratios({"ratio": None}) == []


def test_a_count_of_distinct_codes_counts_each_code_once() -> None:
    """v1.2: a unit's total counts catalog entries once per procedure code; their rows
    name ``key<mark>code``. By hand: entries of P1 at two communes and of P2 at one, P1
    offered online at the second commune only: procedures = 2 (P1, P2), online = 2 — the
    first row naming each distinct key adds it, a later one adds nothing."""
    term = Term("procedures_online_share", {"procedures_online": 1}, {"procedures": 1})
    p1, p2 = f"procedures{DISTINCT_MARK}P1", f"procedures{DISTINCT_MARK}P2"
    online = f"procedures_online{DISTINCT_MARK}P1", f"procedures_online{DISTINCT_MARK}P2"
    rows = [(p1,), (p1, online[0]), (p2, online[1])]
    seen: set[tuple[str, str]] = set()
    assert [row_counts(term, keys, seen) for keys in rows] == [(0, 1), (1, 0), (1, 1)]
    # plain keys add every time, as before
    assert row_counts(term, ("procedures", "procedures_online"), seen) == (1, 1)
    assert basis_text(rows[1]) == "procedures[P1], procedures_online[P1]"
    assert plain_key(p1) == "procedures"
    # the rows of a bucket keep their distinct keys (stripping them would count P1 twice)
    bucket = [("D1|total", ("2026-08",), keys) for keys in rows]
    assert keys_to(bucket, "D1|total", "2026-08") == rows
    # the mark is the counters' (once the v1.2 counts define it)
    import kpi.counters
    assert kpi.counters.DISTINCT_MARK == DISTINCT_MARK
