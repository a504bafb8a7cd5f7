"""The tables of a bundle (summary, counts, sub-units, one per criterion), each written both
as a sheet of ``evidence.xlsx`` and as a CSV file, and the spreadsheet cell safety rule.

Every table says which view and scope it holds: its last two columns, ``Góc nhìn`` and
``Phạm vi``, on every row (Vietnamese labels of :mod:`kpi.attribution`). The unit's own
figures are in ``Tổng hợp`` / ``summary.csv``, ``Số liệu`` / ``counts.csv`` and one sheet
per criterion titled by its id (``criterion_<id>.csv``); its total, when it has one, in
``TH Tổng hợp`` / ``summary_total.csv``, ``TH Số liệu`` / ``counts_total.csv`` and
``TH <id>`` (``criterion_total_<id>.csv``).

Each group of the scoring catalog has a sheet per scope (:mod:`kpi.evidence.groups`),
titled by the group's Vietnamese name (``Công khai, minh bạch`` …; ``TH …`` for the total)
and written as ``group_<id>.csv`` (``group_total_<id>.csv``): each metric of the group with
its numerator and denominator, then the records behind them, and the group's points.

The v1.1 families have a sheet each per scope (:mod:`kpi.evidence.families`), after the
sub-units and before the criteria: ``PAKN quá hạn`` (``petitions.csv``: the late-answered
and open-overdue petitions), ``Danh mục TTHC`` (``procedures.csv``: the catalog entries in
force at the period's end or first published in it) and ``Văn bản đi`` (``documents.csv``);
``TH …`` / ``…_total.csv`` for the total. Each lists its items, then ``Tổng cộng`` rows
giving the report's counts the list stands for (first cell ``Tổng cộng: <label>``, the
count in the second, the count key or formula in ``Căn cứ (khóa đếm)``).

Text cells starting with ``=``, ``+``, ``-``, ``@``, tab or CR are neutralised with a leading
``'`` (:func:`neutralise`): dossier codes come from outside.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kpi.attribution import OWN, SCOPE_LABELS_VI, TOTAL, VIEW_LABELS_VI
from kpi.counters import COUNT_KEYS, COUNT_LABELS_VI
from kpi.evidence.families import DocumentRow, PetitionRow, ProcedureRow
from kpi.evidence.groups import GROUP_HEADERS, VALUE_COL, group_tables
from kpi.evidence.model import Bundle, ScopePart, file_stem, term_counts
from kpi.evidence.select import EvidenceRow
from kpi.ratios import RATIO_FORMULAS, RATIO_LABELS_VI, compute_ratios
from kpi.scoring import STATUS_LABELS_VI, grade_label_vi, group_totals

_DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A text cell Excel could read as a formula gets a leading ``'``; others unchanged."""
    if isinstance(value, str) and value.startswith(_DANGEROUS_START):
        return "'" + value
    return value


def sheet_title(text: str, taken: set[str]) -> str:
    """A worksheet title Excel accepts (≤ 31 characters, none of ``[]:*?/\\``), unique
    case-insensitively among ``taken`` (which it joins)."""
    title = re.sub(r"[\[\]:*?/\\]", "_", text)[:31] or "Sheet"
    base, n = title, 2
    while title.lower() in taken:
        suffix = f"~{n}"
        title = base[: 31 - len(suffix)] + suffix
        n += 1
    taken.add(title.lower())
    return title


@dataclass
class Sheet:
    """One table of the bundle: a worksheet titled ``title`` and the CSV file ``csv_name``."""

    title: str
    csv_name: str
    rows: list[list[Any]]
    """Header row first."""
    number_formats: dict[int, str] = field(default_factory=dict)
    """0-based column → Excel number format."""


SUMMARY_HEADERS = (
    "Mã tiêu chí", "Tiêu chí", "Bộ tiêu chí", "Thành phần", "Công thức", "Tử số", "Mẫu số",
    "Giá trị", "Điểm", "Điểm tối đa", "Quy tắc", "Khoảng cách đến mục tiêu", "Nhóm",
    "Mức kiểm chứng", "Trạng thái", "Trang chi tiết",
)
"""Columns of the summary sheet: a row per criterion term (a criterion not scored has one
row, no counts and no detail sheet), then the points per catalog and per group."""
VIEW_SCOPE_HEADERS = ("Góc nhìn", "Phạm vi")
"""The last two columns of every table."""

_PREFIX = {OWN: "", TOTAL: "TH "}
_SUFFIX = {OWN: "", TOTAL: "_total"}
PETITIONS_TITLE, PROCEDURES_TITLE, DOCUMENTS_TITLE = "PAKN quá hạn", "Danh mục TTHC", "Văn bản đi"
FOOTER_VI = "Tổng cộng"
"""First words of the first cell of a family sheet's count rows."""
_RESERVED = {"tổng hợp", "số liệu", "đơn vị trực thuộc", "th tổng hợp", "th số liệu",
             *(prefix + t.lower() for prefix in ("", "th ")
               for t in (PETITIONS_TITLE, PROCEDURES_TITLE, DOCUMENTS_TITLE))}


def evidence_sheets(bundle: Bundle) -> list[Sheet]:
    """The sheets of evidence.xlsx (each also written as a CSV): summary and counts of
    each scope, the sub-units, the family sheets, the group sheets, then the criterion
    sheets of each scope."""
    taken: set[str] = set()
    titles = {(part.scope, c["id"]): sheet_title(_PREFIX[part.scope] + c["id"],
                                                   taken | _RESERVED)
              for part in bundle.parts for c in part.report["criteria"]
              if c["id"] in part.criteria_rows}
    head: list[Sheet] = []
    middle: list[Sheet] = []
    groups: list[Sheet] = []
    tail: list[Sheet] = []
    for part in bundle.parts:
        tag = [VIEW_LABELS_VI[bundle.view], SCOPE_LABELS_VI[part.scope]]
        head += _scope_sheets(bundle, part, titles, taken, tag)
        middle += _family_sheets(part, taken, tag)
        groups += _group_sheets(part, taken, tag)
        for c in part.report["criteria"]:
            if (part.scope, c["id"]) not in titles:
                continue  # not scored: no dossier rows
            sheet = Sheet(titles[(part.scope, c["id"])],
                          f"criterion{_SUFFIX[part.scope]}_{file_stem(c['id'])}.csv",
                          [[*EvidenceRow.HEADERS, *VIEW_SCOPE_HEADERS]])
            sheet.rows.extend([*r.cells(), *tag] for r in part.criteria_rows[c["id"]])
            tail.append(sheet)
    if bundle.subunits:
        head.append(_subunit_sheet(bundle, taken))
    return [*head, *middle, *groups, *tail]


def _group_sheets(part: ScopePart, taken: set[str], tag: list[str]) -> list[Sheet]:
    """One sheet per group of the scoring catalog (:func:`kpi.evidence.groups.group_tables`)
    of one scope, titled by the group's Vietnamese name."""
    prefix, suffix = _PREFIX[part.scope], _SUFFIX[part.scope]
    out = []
    for table in group_tables(part.report, part.criteria_rows):
        sheet = Sheet(sheet_title(prefix + table.name, taken),
                      f"group{suffix}_{file_stem(table.id)}.csv",
                      [[*GROUP_HEADERS, *VIEW_SCOPE_HEADERS]], {VALUE_COL: "0.00%"})
        sheet.rows.extend([*row, *tag] for row in table.rows)
        out.append(sheet)
    return out


PETITION_FOOTERS: tuple[tuple[str, str], ...] = (
    ("PAKN trả lời quá hạn", "petitions_answered − petitions_answered_on_time"),
    ("PAKN đang xử lý quá hạn", "petitions_open_overdue"),
)
PROCEDURE_FOOTER_KEYS = (
    "procedures", "procedures_published", "procedures_published_on_time",
    "procedures_online", "procedures_full_online", "procedures_online_payment",
    "procedures_online_used", "procedures_full_online_used", "procedures_online_payment_used",
)
DOCUMENT_FOOTER_KEYS = ("documents_issued", "documents_e_signed")


def _footer_value(counts: dict[str, int], formula: str) -> int:
    """A count key, or ``a − b`` of two."""
    a, _, b = formula.partition(" − ")
    return counts[a] - (counts[b] if b else 0)


def _family_sheets(part: ScopePart, taken: set[str], tag: list[str]) -> list[Sheet]:
    """The petitions, catalog and documents sheets of one scope: the items, then the
    ``Tổng cộng`` rows of the report's counts they stand for."""
    prefix, suffix = _PREFIX[part.scope], _SUFFIX[part.scope]
    counts = part.report["counts"]
    out = []
    for title, csv_name, headers, items, footers in (
        (PETITIONS_TITLE, "petitions", PetitionRow.HEADERS, part.petitions,
         PETITION_FOOTERS),
        (PROCEDURES_TITLE, "procedures", ProcedureRow.HEADERS, part.procedures,
         tuple((COUNT_LABELS_VI[k], k) for k in PROCEDURE_FOOTER_KEYS)),
        (DOCUMENTS_TITLE, "documents", DocumentRow.HEADERS, part.documents,
         tuple((COUNT_LABELS_VI[k], k) for k in DOCUMENT_FOOTER_KEYS)),
    ):
        sheet = Sheet(sheet_title(prefix + title, taken), f"{csv_name}{suffix}.csv",
                      [[*headers, *VIEW_SCOPE_HEADERS]])
        sheet.rows.extend([*item.cells(), *tag] for item in items)
        blanks = [""] * (len(headers) - 3)
        for label, formula in footers:
            sheet.rows.append([f"{FOOTER_VI}: {label}", _footer_value(counts, formula),
                               *blanks, formula, *tag])
        out.append(sheet)
    return out


def _scope_sheets(bundle: Bundle, part: ScopePart, titles: dict[tuple[str, str], str],
                  taken: set[str], tag: list[str]) -> list[Sheet]:
    """The summary and counts sheets of one scope."""
    prefix, suffix = _PREFIX[part.scope], _SUFFIX[part.scope]
    summary = Sheet(sheet_title(prefix + "Tổng hợp", taken), f"summary{suffix}.csv",
                    [[*SUMMARY_HEADERS, *VIEW_SCOPE_HEADERS]], {7: "0.00%"})
    for c in part.report["criteria"]:
        for i, (term, n, d) in enumerate(term_counts(c)):
            first = i == 0
            summary.rows.append([
                c["id"], c["name"], c.get("catalog", ""), term,
                c["formula"] if first else "", n, d,
                c["value"] if first else None,
                c["points"] if first else None,
                c["max_points"] if first else None,
                c["rule"] if first else "",
                c.get("gap_text", "") if first else "",
                c.get("group_name") or "", grade_label_vi(c.get("grade")),
                STATUS_LABELS_VI.get(c.get("status", ""), ""),
                titles.get((part.scope, c["id"]), ""), *tag,
            ])
    for label, total in part.points.items():
        summary.rows.append(["Tổng điểm", "", label, "", "", None, None, None,
                             total["points"], total["max_points"], "", "", "", "", "", "",
                             *tag])
    for g in group_totals(part.report["criteria"]).values():
        summary.rows.append([
            "Tổng điểm nhóm", g["name"], "", "", "", None, None, None, g["points"],
            g["max_points"], "", _group_note(g), g["name"], grade_label_vi(g["grade"]), "",
            "", *tag])
    counts = Sheet(sheet_title(prefix + "Số liệu", taken), f"counts{suffix}.csv",
                   [["Chỉ số", "Khóa", "Giá trị", "Công thức", *VIEW_SCOPE_HEADERS]],
                   {2: "#,##0.####"})
    for key in COUNT_KEYS:
        counts.rows.append([COUNT_LABELS_VI[key], key, part.report["counts"][key], "", *tag])
    for key, value in part.report["ratios"].items():
        counts.rows.append([RATIO_LABELS_VI[key], key, value, RATIO_FORMULAS[key][0], *tag])
    return [summary, counts]


def _group_note(g: dict[str, Any]) -> str:
    """The group's total points and its criteria not scored or not applicable."""
    parts = [f"tổng điểm của nhóm: {g['total']:g}"]
    if g["not_scored"]:
        parts.append("chưa chấm điểm (không có dữ liệu): " + ", ".join(g["not_scored"]))
    if g["not_applicable"]:
        parts.append("không áp dụng: " + ", ".join(g["not_applicable"]))
    return "; ".join(parts)


SUBUNIT_COUNT_KEYS = (
    "received", "received_online", "resolved", "resolved_early", "resolved_on_time",
    "resolved_late", "in_progress", "in_progress_overdue",
)
SUBUNIT_RATIO_KEYS = ("on_time_resolved", "on_time_766", "online_receipt")
OWN_ROW_VI = "Số liệu của đơn vị (không gồm đơn vị trực thuộc)"
TOTAL_ROW_VI = "Tổng hợp (đơn vị và các đơn vị trực thuộc)"


def _subunit_sheet(bundle: Bundle, taken: set[str]) -> Sheet:
    """One row per unit below during the period (its total if it has units below it, else
    its own figures), then the unit's own figures and its total."""
    labels = sorted({label for s in bundle.subunits for label in s.totals})
    header = ["Mã đơn vị", "Tên đơn vị", "Cấp",
              *(COUNT_LABELS_VI[k] for k in SUBUNIT_COUNT_KEYS),
              *(RATIO_LABELS_VI[k] for k in SUBUNIT_RATIO_KEYS),
              *(f"Điểm {label}" for label in labels), *(f"Tối đa {label}" for label in labels),
              *VIEW_SCOPE_HEADERS]
    first_ratio = 3 + len(SUBUNIT_COUNT_KEYS)
    sheet = Sheet(sheet_title("Đơn vị trực thuộc", taken), "subunits.csv", [header],
                  {first_ratio + i: "0.00%" for i in range(len(SUBUNIT_RATIO_KEYS))})
    view = VIEW_LABELS_VI[bundle.view]

    def row(code: str, name: str, level: str, counts: dict[str, int],
            points: dict[str, dict[str, float]], scope: str) -> list[Any]:
        ratios = compute_ratios(counts)
        return [
            code, name, level, *(counts[k] for k in SUBUNIT_COUNT_KEYS),
            *(ratios[k] for k in SUBUNIT_RATIO_KEYS),
            *(points[label]["points"] if label in points else None for label in labels),
            *(points[label]["max_points"] if label in points else None for label in labels),
            view, SCOPE_LABELS_VI[scope],
        ]

    for s in bundle.subunits:
        sheet.rows.append(row(s.code, s.name, s.level, s.counts, s.totals, s.scope))
    level = bundle.manifest.get("level") or ""
    for part in bundle.parts:
        name = OWN_ROW_VI if part.scope == OWN else TOTAL_ROW_VI
        sheet.rows.append(row(bundle.unit, name, level, part.report["counts"], part.points,
                              part.scope))
    return sheet


__all__ = [
    "DOCUMENTS_TITLE",
    "FOOTER_VI",
    "PETITIONS_TITLE",
    "PROCEDURES_TITLE",
    "SUBUNIT_COUNT_KEYS",
    "SUBUNIT_RATIO_KEYS",
    "SUMMARY_HEADERS",
    "VIEW_SCOPE_HEADERS",
    "Sheet",
    "evidence_sheets",
    "neutralise",
]
