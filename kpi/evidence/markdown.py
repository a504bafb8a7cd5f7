"""``summary.md``: the same content as ``summary.html``, as Markdown tables."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from kpi.counters import COUNT_KEYS, COUNT_LABELS_VI
from kpi.evidence.model import Bundle
from kpi.evidence.summary import (
    CRITERIA_HEADERS,
    GROUP_HEADERS,
    criterion_cells,
    grade_note,
    group_rows,
    integer,
    meta_rows,
    pct,
    pts,
    scope_heading,
    subunit_table,
)
from kpi.ratios import RATIO_FORMULAS, RATIO_LABELS_VI


def _md_cell(v: Any) -> str:
    return str(v).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(_md_cell(h) for h in header) + " |",
           "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in rows]
    return [*out, ""]


def render_markdown(bundle: Bundle) -> str:
    """summary.md: the same content as summary.html."""
    lines = [f"# Tài liệu kiểm chứng — {_md_cell(bundle.unit)} — {bundle.period}", ""]
    lines += [f"- **{k}**: {_md_cell(v)}" for k, v in meta_rows(bundle)]
    n = 0
    for part in bundle.parts:
        r = part.report
        scope = scope_heading(part)
        lines += ["", f"## {n + 1}. Điểm theo tiêu chí — {scope}", ""]
        lines += _md_table(CRITERIA_HEADERS, [criterion_cells(c) for c in r["criteria"]])
        lines += [grade_note(), ""]
        groups = group_rows(r["criteria"])
        if groups:
            lines += _md_table(GROUP_HEADERS, groups)
        for label, t in part.points.items():
            lines.append(f"- Tổng điểm {label}: {pts(t['points'])} / {pts(t['max_points'])}")
        lines += ["", f"## {n + 2}. Số liệu — {scope}", ""]
        lines += _md_table(("Chỉ số", "Khóa", "Giá trị"),
                           [(COUNT_LABELS_VI[k], k, integer(r["counts"][k]))
                            for k in COUNT_KEYS])
        lines += _md_table(("Tỷ lệ", "Công thức", "Giá trị"),
                           [(RATIO_LABELS_VI[k], RATIO_FORMULAS[k][0], pct(v))
                            for k, v in r["ratios"].items()])
        n += 2
    if bundle.subunits:
        header, rows = subunit_table(bundle)
        lines += [f"## {n + 1}. Các đơn vị trực thuộc", ""]
        lines += _md_table(header, rows)
    lines.append("Danh sách hồ sơ theo từng tiêu chí: evidence.xlsx và các tệp CSV; "
                 "danh sách PAKN quá hạn, danh mục TTHC và văn bản đi: các trang PAKN quá "
                 "hạn, Danh mục TTHC, Văn bản đi (petitions.csv, procedures.csv, "
                 "documents.csv); mã băm SHA-256: manifest.json. Thời gian theo giờ Việt Nam "
                 "(UTC+7).")
    return "\n".join(lines) + "\n"


__all__ = ["render_markdown"]
