"""The group tables of an evidence bundle: per group of the scoring catalog, each metric
with its numerator and denominator, and the records behind them (pure; no file format).

The groups are the report's ``groups`` (``[{id, name, points, max_points}]``, in the
catalog's order: docs/scoring.md), as many as the catalog has; a report without them (one
written before they existed) falls back to the groups of its criteria
(:func:`kpi.scoring.group_totals`). A group's metrics are the report's criteria of that
group (and of the report's ``catalog``, when it names one), in report order.

A group table (:func:`group_tables`) has the columns :data:`GROUP_HEADERS`. For each metric:

* one ``Chỉ tiêu`` row per term of its ratio (:func:`kpi.evidence.model.term_counts`; one
  for a plain ratio), with the term's numerator and denominator, the metric's value,
  points, maximum, status and grade (a metric not scored has one such row and no records);
* then one ``Hồ sơ, bản ghi`` row per record behind that term
  (:class:`kpi.evidence.select.EvidenceRow`: dossiers, then petitions, catalog entries and
  documents), whose ``Tử số`` / ``Mẫu số`` are what that record adds — so the records of a
  term sum to the term's numerator and denominator (an overdue dossier still in progress
  adds 1 to on-time's denominator and 1 − 1 = 0 to its numerator);

and when the records of a term do not add up to its numerator and denominator — a count
no record stands for, such as the communes of a unit (the registry's) — a ``Ghi chú`` row
with the difference, so that every term's rows still add up; last, one ``Tổng điểm nhóm``
row with the group's points and maximum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kpi.evidence.model import term_counts
from kpi.evidence.select import EvidenceRow
from kpi.scoring import STATUS_LABELS_VI, grade_label_vi, group_totals

METRIC_ROW_VI = "Chỉ tiêu"
RECORD_ROW_VI = "Hồ sơ, bản ghi"
GROUP_ROW_VI = "Tổng điểm nhóm"
NOTE_ROW_VI = "Ghi chú"
"""The ``Loại dòng`` of the four kinds of rows."""
UNLISTED_VI = ("phần số liệu không gắn với bản ghi nào được liệt kê (ví dụ: số đơn vị cấp xã, "
               "lấy từ danh mục đơn vị hành chính)")
"""The text of a note row (:func:`group_tables`)."""

RECORD_HEADERS: tuple[str, ...] = EvidenceRow.HEADERS[1:11]
"""The record columns: an evidence row's, from ``Mã hồ sơ`` to ``Căn cứ (khóa đếm)`` (its
term and its numerator / denominator flags are columns of their own here)."""

GROUP_HEADERS: tuple[str, ...] = (
    "Loại dòng", "Mã chỉ tiêu", "Chỉ tiêu", "Thành phần", "Tử số", "Mẫu số", "Giá trị",
    "Điểm", "Điểm tối đa", "Trạng thái", "Mức kiểm chứng", *RECORD_HEADERS,
)
NUMERATOR_COL, DENOMINATOR_COL, VALUE_COL = 4, 5, 6
"""0-based columns of the numerator, the denominator and the value (a ratio)."""


@dataclass(frozen=True)
class GroupTable:
    """One group of the scoring catalog: its id, Vietnamese name, points and the rows of
    its table (without a header)."""

    id: str
    name: str
    points: float | None
    max_points: float | None
    rows: list[list[Any]]


def report_groups(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The report's ``groups`` (id, name, points, max_points), or, when it has none, those
    of its criteria in the catalog's group order."""
    if report.get("groups"):
        return [dict(g) for g in report["groups"]]
    return [{"id": gid, "name": g["name"], "points": g["points"],
             "max_points": g["max_points"]}
            for gid, g in group_totals(report["criteria"]).items()]


def _metrics_of(report: Mapping[str, Any], group: str) -> list[Mapping[str, Any]]:
    catalog = report.get("catalog")
    return [c for c in report["criteria"] if c.get("group") == group
            and (catalog is None or c.get("catalog") in (None, catalog))]


def _blank(n: int) -> list[Any]:
    return [None] * n


def _metric_rows(c: Mapping[str, Any], records: Sequence[EvidenceRow]) -> list[list[Any]]:
    code = c.get("code") or c["id"]
    status = STATUS_LABELS_VI.get(c.get("status", ""), c.get("status", ""))
    out: list[list[Any]] = []
    terms = term_counts(c)
    named = {term for term, _n, _d in terms}
    for i, (term, n, d) in enumerate(terms):
        first = i == 0
        out.append([
            METRIC_ROW_VI, code, c["name"], term, n, d,
            c["value"] if first else None, c["points"] if first else None,
            c["max_points"] if first else None, status if first else "",
            _grade(c.get("grade")) if first else "", *_blank(len(RECORD_HEADERS)),
        ])
        mine = [r for r in records
                if r.term == term or (len(terms) == 1 and r.term not in named)]
        out.extend(_record_row(code, c["name"], r) for r in mine)
        if n is not None and d is not None:
            rest = (n - sum(r.numerator for r in mine), d - sum(r.denominator for r in mine))
            if rest != (0, 0):
                out.append([NOTE_ROW_VI, code, UNLISTED_VI, term, *rest, None, None, None,
                            "", "", *_blank(len(RECORD_HEADERS))])
    return out


def _grade(grade: str | None) -> str:
    """The grade's Vietnamese label (:func:`kpi.scoring.grade_label_vi`), the grade itself
    for one that has none."""
    try:
        return grade_label_vi(grade)
    except KeyError:
        return str(grade)


def _record_row(code: str, name: str, r: EvidenceRow) -> list[Any]:
    return [RECORD_ROW_VI, code, name, r.term, r.numerator, r.denominator,
            None, None, None, "", "", *r.cells()[1:11]]


def group_tables(report: Mapping[str, Any],
                 criteria_rows: Mapping[str, Sequence[EvidenceRow]]) -> list[GroupTable]:
    """One :class:`GroupTable` per group of ``report`` (:func:`report_groups`), its metrics
    with the records of ``criteria_rows`` (criterion id → its evidence rows)."""
    out = []
    for g in report_groups(report):
        rows: list[list[Any]] = []
        for c in _metrics_of(report, g["id"]):
            rows.extend(_metric_rows(c, criteria_rows.get(c["id"], ())))
        rows.append([GROUP_ROW_VI, g["id"], g["name"], "", None, None, None, g["points"],
                     g["max_points"], "", "", *_blank(len(RECORD_HEADERS))])
        out.append(GroupTable(g["id"], g["name"], g["points"], g["max_points"], rows))
    return out


__all__ = [
    "DENOMINATOR_COL",
    "GROUP_HEADERS",
    "GROUP_ROW_VI",
    "METRIC_ROW_VI",
    "NOTE_ROW_VI",
    "NUMERATOR_COL",
    "RECORD_HEADERS",
    "RECORD_ROW_VI",
    "VALUE_COL",
    "GroupTable",
    "group_tables",
    "report_groups",
]
