"""The tables of a bundle (summary, counts, sub-units, one per criterion), each written both
as a sheet of ``evidence.xlsx`` and as a CSV file, and the spreadsheet cell safety rule.

Text cells starting with ``=``, ``+``, ``-``, ``@``, tab or CR are neutralised with a leading
``'`` (:func:`neutralise`): dossier codes come from outside.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kpi.counters import COUNT_KEYS, COUNT_LABELS_VI
from kpi.evidence.model import Bundle, file_stem, term_counts
from kpi.evidence.select import EvidenceRow
from kpi.ratios import RATIO_FORMULAS, RATIO_LABELS_VI, compute_ratios

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
    "Giá trị", "Điểm", "Điểm tối đa", "Quy tắc", "Khoảng cách đến mục tiêu", "Trang chi tiết",
)


def evidence_sheets(bundle: Bundle) -> list[Sheet]:
    """The sheets of evidence.xlsx (each also written as a CSV)."""
    taken: set[str] = set()
    criteria = bundle.report["criteria"]
    titles = {c["id"]: sheet_title(c["id"], taken | {"tổng hợp", "số liệu", "đơn vị trực thuộc"})
              for c in criteria}
    summary = Sheet(sheet_title("Tổng hợp", taken), "summary.csv", [list(SUMMARY_HEADERS)],
                    {7: "0.00%"})
    for c in criteria:
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
                titles[c["id"]],
            ])
    for label, total in bundle.manifest["totals"].items():
        summary.rows.append(["Tổng điểm", "", label, "", "", None, None, None,
                             total["points"], total["max_points"], "", "", ""])
    counts = Sheet(sheet_title("Số liệu", taken), "counts.csv",
                   [["Chỉ số", "Khóa", "Giá trị", "Công thức"]], {2: "#,##0.####"})
    for key in COUNT_KEYS:
        counts.rows.append([COUNT_LABELS_VI[key], key, bundle.report["counts"][key], ""])
    for key, value in bundle.report["ratios"].items():
        counts.rows.append([RATIO_LABELS_VI[key], key, value, RATIO_FORMULAS[key][0]])
    sheets = [summary, counts]
    if bundle.subunits:
        sheets.append(_subunit_sheet(bundle, taken))
    for c in criteria:
        sheet = Sheet(titles[c["id"]], f"criterion_{file_stem(c['id'])}.csv",
                      [list(EvidenceRow.HEADERS)])
        sheet.rows.extend(r.cells() for r in bundle.criteria_rows[c["id"]])
        sheets.append(sheet)
    return sheets


SUBUNIT_COUNT_KEYS = (
    "received", "received_online", "resolved", "resolved_early", "resolved_on_time",
    "resolved_late", "in_progress", "in_progress_overdue",
)
SUBUNIT_RATIO_KEYS = ("on_time_resolved", "on_time_766", "online_receipt")


def _subunit_sheet(bundle: Bundle, taken: set[str]) -> Sheet:
    labels = sorted({label for s in bundle.subunits for label in s.totals})
    header = ["Mã đơn vị", "Tên đơn vị", "Cấp",
              *(COUNT_LABELS_VI[k] for k in SUBUNIT_COUNT_KEYS),
              *(RATIO_LABELS_VI[k] for k in SUBUNIT_RATIO_KEYS),
              *(f"Điểm {label}" for label in labels), *(f"Tối đa {label}" for label in labels)]
    first_ratio = 3 + len(SUBUNIT_COUNT_KEYS)
    sheet = Sheet(sheet_title("Đơn vị trực thuộc", taken), "subunits.csv", [header],
                  {first_ratio + i: "0.00%" for i in range(len(SUBUNIT_RATIO_KEYS))})
    for s in bundle.subunits:
        sheet.rows.append([
            s.code, s.name, s.level, *(s.counts[k] for k in SUBUNIT_COUNT_KEYS),
            *(s.ratios[k] for k in SUBUNIT_RATIO_KEYS),
            *(s.totals[label]["points"] if label in s.totals else None for label in labels),
            *(s.totals[label]["max_points"] if label in s.totals else None for label in labels),
        ])
    if bundle.rollup_counts is not None:
        rr = compute_ratios(bundle.rollup_counts)
        sheet.rows.append([
            bundle.unit, "Tổng hợp (đơn vị và các đơn vị trực thuộc)", "",
            *(bundle.rollup_counts[k] for k in SUBUNIT_COUNT_KEYS),
            *(rr[k] for k in SUBUNIT_RATIO_KEYS), *([None] * (2 * len(labels))),
        ])
    return sheet


__all__ = [
    "SUBUNIT_COUNT_KEYS",
    "SUBUNIT_RATIO_KEYS",
    "SUMMARY_HEADERS",
    "Sheet",
    "evidence_sheets",
    "neutralise",
]
