"""``summary.html``: Vietnamese, prints to A4 (bordered tables, header rows repeated)."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

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

CSS = """
@page { size: A4; margin: 15mm 12mm; }
body { font-family: "Times New Roman", "DejaVu Serif", "Noto Serif", serif; font-size: 11pt;
       color: #000; }
h1 { font-size: 15pt; text-align: center; margin: 0 0 4mm; }
h2 { font-size: 12.5pt; margin: 6mm 0 2mm; break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin-bottom: 3mm; font-size: 9.5pt; }
th, td { border: 1px solid #000; padding: 1.2mm 1.5mm; vertical-align: top;
         overflow-wrap: anywhere; }
table.fixed { table-layout: fixed; font-size: 8.5pt; }
th { background: #eee; text-align: left; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
td.n { text-align: right; }
td.code { font-family: "DejaVu Sans Mono", monospace; font-size: 8.5pt; word-break: break-all; }
p.note { font-size: 9pt; }
table.meta th { width: 26%; }
@media print { th { -webkit-print-color-adjust: exact; print-color-adjust: exact; } }
"""


def _html_table(header: Sequence[str], rows: Iterable[Sequence[str]],
                numeric: Iterable[int] = (), widths: Sequence[int] = ()) -> str:
    """A bordered table; ``widths`` (percent per column) fixes the layout to the page."""
    num = set(numeric)
    e = html.escape
    out = ['<table class="fixed">' if widths else "<table>"]
    if widths:
        out += ["<colgroup>", *(f'<col style="width:{w}%">' for w in widths), "</colgroup>"]
    out += ["<thead><tr>", *(f"<th>{e(h)}</th>" for h in header), "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>")
        for i, v in enumerate(row):
            cls = ' class="n"' if i in num else ""
            out.append(f"<td{cls}>{e(str(v))}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _even_widths(n: int) -> tuple[int, ...]:
    """Code and name columns wider, the rest shared evenly."""
    rest = max(n - 2, 1)
    each = (100 - 26) // rest
    return (10, 16, *([each] * rest))


def render_html(bundle: Bundle) -> str:
    """summary.html: Vietnamese, A4, bordered tables; criteria and figures of each scope
    (own, then total), then the units below."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="vi"><head><meta charset="utf-8">',
        f"<title>Tài liệu kiểm chứng — {e(bundle.unit)} — {e(bundle.period)}</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>TÀI LIỆU KIỂM CHỨNG<br>Kết quả giải quyết thủ tục hành chính</h1>",
        '<table class="meta"><tbody>',
        *(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in meta_rows(bundle)),
        "</tbody></table>",
    ]
    n = 0
    for part in bundle.parts:
        r = part.report
        scope = e(scope_heading(part))
        parts += [
            f"<h2>{n + 1}. Điểm theo tiêu chí — {scope}</h2>",
            _html_table(CRITERIA_HEADERS, [criterion_cells(c) for c in r["criteria"]],
                        numeric=(5, 6, 7, 8, 9),
                        widths=(8, 15, 10, 4, 17, 8, 8, 7, 5, 4, 14)),
            f'<p class="note">{e(grade_note())}</p>',
        ]
        groups = group_rows(r["criteria"])
        if groups:
            parts.append(_html_table(GROUP_HEADERS, groups, numeric=(1, 2, 3)))
        if part.points:
            parts.append(_html_table(
                ("Bộ tiêu chí", "Tổng điểm", "Tối đa (các tiêu chí áp dụng)"),
                [(label, pts(t["points"]), pts(t["max_points"]))
                 for label, t in part.points.items()],
                numeric=(1, 2)))
        parts += [
            f"<h2>{n + 2}. Số liệu — {scope}</h2>",
            _html_table(("Chỉ số", "Khóa", "Giá trị"),
                        [(COUNT_LABELS_VI[k], k, integer(r["counts"][k])) for k in COUNT_KEYS],
                        numeric=(2,)),
            _html_table(("Tỷ lệ", "Công thức", "Giá trị"),
                        [(RATIO_LABELS_VI[k], RATIO_FORMULAS[k][0], pct(v))
                         for k, v in r["ratios"].items()], numeric=(2,)),
        ]
        n += 2
    if bundle.subunits:
        header, rows = subunit_table(bundle)
        parts += [f"<h2>{n + 1}. Các đơn vị trực thuộc</h2>",
                  _html_table(header, rows, numeric=range(3, len(header)),
                              widths=_even_widths(len(header)))]
    parts.append(
        '<p class="note">Danh sách hồ sơ tính vào tử số và mẫu số của từng tiêu chí: tệp '
        "evidence.xlsx (mỗi tiêu chí một trang) và các tệp CSV kèm theo; danh sách PAKN quá "
        "hạn, danh mục TTHC và văn bản đi: các trang PAKN quá hạn, Danh mục TTHC, Văn bản "
        "đi (petitions.csv, procedures.csv, documents.csv). Mã băm SHA-256 của "
        "từng tệp và của dữ liệu nguồn: manifest.json. Thời gian theo giờ Việt Nam (UTC+7)."
        "</p></body></html>"
    )
    return "\n".join(parts) + "\n"


__all__ = ["CSS", "render_html"]
