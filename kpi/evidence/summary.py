"""The summary's content as text rows (criteria, metadata, sub-units), shared by the HTML
and Markdown renderers; numbers in Vietnamese notation (``1.234``, ``12,50%``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kpi.attribution import OWN, SCOPE_LABELS_VI, VIEW_LABELS_VI
from kpi.criteria import GRADE_LABELS_VI
from kpi.evidence.model import Bundle, ScopePart, term_counts
from kpi.evidence.sheets import OWN_ROW_VI, TOTAL_ROW_VI
from kpi.ratios import compute_ratios
from kpi.scoring import group_totals


def pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.2f}%".replace(".", ",")


def pts(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}".replace(".", ",")


def integer(v: int | None) -> str:
    return "—" if v is None else f"{v:,}".replace(",", ".")


def criterion_cells(c: Mapping[str, Any]) -> list[str]:
    parts = term_counts(c)
    if len(parts) == 1:
        num, den = integer(parts[0][1]), integer(parts[0][2])
    else:
        num = "; ".join(f"{t}: {integer(n)}" for t, n, _ in parts)
        den = "; ".join(f"{t}: {integer(d)}" for t, _, d in parts)
    maximum = "—" if c["max_points"] is None else f"{c['max_points']:g}".replace(".", ",")
    return [
        c["id"], c["name"], c.get("group_name") or "—", c.get("grade") or "—",
        c["formula"] or "—", num, den, pct(c["value"]), pts(c["points"]), maximum,
        c.get("gap_text", ""),
    ]


CRITERIA_HEADERS = ("Mã", "Tiêu chí", "Nhóm", "Mức", "Công thức", "Tử số", "Mẫu số",
                    "Giá trị", "Điểm", "Tối đa", "Khoảng cách đến mục tiêu")
"""Columns of the criteria table; "Mức" is the criterion's grade (V, S, M: :func:`grade_note`)."""


def grade_note() -> str:
    """What the grades in the criteria table mean (one line)."""
    return "Mức kiểm chứng: " + "; ".join(f"{g} = {label}" for g, label in
                                           GRADE_LABELS_VI.items()) + "."


GROUP_HEADERS = ("Nhóm", "Điểm", "Tối đa (các tiêu chí áp dụng)", "Điểm của nhóm", "Mức",
                 "Chưa chấm điểm (không có dữ liệu)")


def group_rows(criteria: Iterable[Mapping[str, Any]]) -> list[list[str]]:
    """One row per group of :func:`kpi.scoring.group_totals` (Decision 766's five)."""
    return [[g["name"], pts(g["points"]), pts(g["max_points"]), pts(g["total"]),
             g["grade"] or "—", ", ".join(g["not_scored"]) or "—"]
            for g in group_totals(criteria).values()]


def meta_rows(bundle: Bundle) -> list[tuple[str, str]]:
    m = bundle.manifest
    unit = bundle.unit + (f" — {m['unit_name']}" if m.get("unit_name") else "")
    rows = [
        ("Đơn vị", unit),
        ("Cấp", m.get("level") or "—"),
        ("Kỳ báo cáo", f"{bundle.period} (từ {m['period_start'][:10]} đến trước "
                       f"{m['period_end'][:10]})"),
        ("Số liệu tính đến", m["as_of"]),
        ("Góc nhìn", f"{VIEW_LABELS_VI[bundle.view]} ({bundle.view})"),
        ("Phạm vi", "; ".join(f"{SCOPE_LABELS_VI[p.scope]} ({p.scope})"
                              for p in bundle.parts)),
        ("Thời điểm lập", m["generated_at"]),
        ("Bộ tiêu chí", "; ".join(f"{c['id']} phiên bản {c['version']}" for c in m["catalogs"])
         or "—"),
    ]
    if m.get("input"):
        i = m["input"]
        rows.append(("Dữ liệu nguồn", f"{i['path']} ({integer(i['lines'])} dòng)"))
        rows.append(("SHA-256 dữ liệu nguồn", i["sha256"]))
    return rows


def scope_heading(part: ScopePart) -> str:
    """How a section of the summary names its scope."""
    if part.scope == OWN:
        return SCOPE_LABELS_VI[OWN] + " (không gồm đơn vị trực thuộc)"
    return SCOPE_LABELS_VI[part.scope] + " (đơn vị và các đơn vị trực thuộc)"


def subunit_table(bundle: Bundle) -> tuple[list[str], list[list[str]]]:
    """One line per unit below (its scope named), then the unit's own figures and total."""
    labels = sorted({label for s in bundle.subunits for label in s.totals})
    header = ["Mã", "Tên", "Phạm vi", "Tiếp nhận", "Trực tuyến", "Đã giải quyết",
              "Trước/đúng hạn", "Quá hạn", "Đang giải quyết", "Tỷ lệ đúng hạn (766)",
              *(f"Điểm {label}" for label in labels)]

    def line(code: str, name: str, scope: str, c: Mapping[str, int],
             t: Mapping[str, Mapping[str, float]]) -> list[str]:
        r = compute_ratios(c)
        return [code, name, SCOPE_LABELS_VI[scope], integer(c["received"]),
                integer(c["received_online"]),
                integer(c["resolved"]), integer(c["resolved_early"] + c["resolved_on_time"]),
                integer(c["resolved_late"]), integer(c["in_progress"]), pct(r["on_time_766"]),
                *(f"{pts(t[lb]['points'])}/{t[lb]['max_points']:g}".replace(".", ",")
                  if lb in t else "—"
                  for lb in labels)]

    rows = [line(s.code, s.name, s.scope, s.counts, s.totals) for s in bundle.subunits]
    for part in bundle.parts:
        rows.append(line(bundle.unit, OWN_ROW_VI if part.scope == OWN else TOTAL_ROW_VI,
                         part.scope, part.report["counts"], part.points))
    return header, rows


__all__ = ["CRITERIA_HEADERS", "GROUP_HEADERS", "criterion_cells", "grade_note", "group_rows",
           "meta_rows", "pct", "pts", "integer", "scope_heading", "subunit_table"]
