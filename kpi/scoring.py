"""Score KPI counts against a criteria catalog, and how far each criterion is from more points.

Arithmetic is exact: counts are integers, catalog numbers are read as the decimal they are
written as (``0.95`` → 19/20, via ``Fraction(repr(x))``) and everything is compared as
:class:`fractions.Fraction`, so ``0.95 × 20`` is exactly 19 and a ratio exactly at a
threshold reaches it. Only the output is converted to float:

* ``value`` is the ratio as a float, unrounded (the same float as ``ratios`` in the report:
  ``numerator / denominator``);
* ``points`` is rounded to 4 decimals (``round(float(exact), 4)``); round again to 2 only
  when displaying.

A criterion whose ratio has denominator 0 follows its ``no_dossiers`` setting: ``full`` →
max_points, ``zero`` → 0, ``not_applicable`` → points None and ``applicable`` False (left
out of :func:`totals`; "chưa phát sinh"). ``satisfaction_766`` and the ``sum`` rule are
described in :mod:`kpi.criteria`; a ``sum`` entry lists its parts in ``parts`` (ratio,
weight, cap, numerator, denominator, value, points).

Every entry carries ``code`` (the portal's code, else the id) besides ``id``.
:func:`catalog_summary` gives the report's ``catalog``, ``groups``, ``total_points`` and
``total_max_points`` of the Decision 766 entries.

Every entry says what became of it in ``status``: ``scored``, ``not applicable: no
dossiers`` (denominator 0 with ``not_applicable``) or ``not scored: no data`` (a criterion
with no ratio, :data:`kpi.criteria.NOT_SCORED`: value, points, formula and counts null,
``applicable`` False, its ``reason`` given); and its ``grade`` and ``group`` (with
``group_name``, Vietnamese; null for a criterion without a group). :func:`group_totals`
adds the entries up per group.

Missing count keys count as 0 (``dissatisfied`` is an optional, added key; stored snapshots
may predate a count).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from kpi.catalog import Catalog, select_catalog, shipped_catalogs
from kpi.criteria import (
    GRADE_LABELS_VI,
    GROUP_LABELS_VI,
    GROUPS,
    NOT_SCORED,
    SATISFACTION_766,
    SATISFACTION_766_FORMULA,
    Criterion,
)
from kpi.ratios import ALL_RATIO_FORMULAS, Counts, fraction, zero_filled


def exact(x: float) -> Fraction:
    """The decimal a catalog number was written as: 0.95 → 19/20 (not 0.9499999…)."""
    return Fraction(repr(float(x)))


def _full_counts(counts: Mapping[str, int]) -> Counts:
    return zero_filled(counts)


@dataclass(frozen=True)
class Measure:
    """A criterion's ratio, exactly, plus what "k more dossiers" would do to it.

    Plain ratios: value = n/d; k more on-time/online/… dossiers give (n + k)/d.
    satisfaction_766: value = 1 − a/b − c/r (a = dossiers late, overdue or petitioned —
    late + overdue + petitioned − petitioned and late —, b = resolved + in progress,
    c = dissatisfied, r = rated; a term with a 0 denominator is 0); k more on-time dossiers
    give a − k. The value is null when every denominator is 0, and clamped at 0.
    """

    value: Fraction | None
    numerator: int | None
    denominator: int | None
    # (n, d) for plain ratios; (a, b, c, r) for satisfaction_766
    terms: tuple[int, ...]
    combined: bool = False

    def min_extra(self, threshold: Fraction) -> int | None:
        """Smallest k ≥ 0 with value(k) ≥ threshold, or None when no k can reach it."""
        if self.value is not None and self.value >= threshold:
            return 0
        if not self.combined:
            n, d = self.terms
            if d == 0:
                return None
            k = max(0, math.ceil(threshold * d) - n)
            return k if n + k <= d else None
        a, b, c, r = self.terms
        if b == 0:
            return None  # no dossiers whose timeliness could change
        dissatisfied = Fraction(c, r) if r else Fraction(0)
        # need (a − k)/b ≤ 1 − threshold − dissatisfied, i.e. a − k ≤ room
        room = b * (1 - threshold - dissatisfied)
        if room < 0:
            return None  # even with no late/overdue dossier the value stays below
        return max(0, math.ceil(a - room))


def measure(ratio: str, counts: Mapping[str, int]) -> Measure:
    """The exact value of ``ratio`` (a RATIO_KEYS key or satisfaction_766) for ``counts``."""
    c = _full_counts(counts)
    if ratio == SATISFACTION_766:
        a = (c["resolved_late"] + c["in_progress_overdue"] + c["dossiers_petitioned"]
             - c["dossiers_petitioned_late"])
        b = c["resolved"] + c["in_progress"]
        dis, rated = c["dissatisfied"], c["rated"]
        if b == 0 and rated == 0:
            return Measure(None, None, None, (a, b, dis, rated), combined=True)
        v = Fraction(1)
        if b:
            v -= Fraction(a, b)
        if rated:
            v -= Fraction(dis, rated)
        v = max(v, Fraction(0))
        return Measure(v, v.numerator, v.denominator, (a, b, dis, rated), combined=True)
    n, d = fraction(ratio, c)
    return Measure(Fraction(n, d) if d else None, n, d, (n, d))


def formula_of(ratio: str) -> str:
    if ratio == SATISFACTION_766:
        return SATISFACTION_766_FORMULA
    return ALL_RATIO_FORMULAS[ratio][0]


SCORED = "scored"
NOT_APPLICABLE = "not applicable: no dossiers"
STATUSES: tuple[str, ...] = (SCORED, NOT_APPLICABLE, NOT_SCORED)
"""The ``status`` of a report criterion entry."""
STATUS_LABELS_VI: dict[str, str] = {
    SCORED: "đã chấm điểm",
    NOT_APPLICABLE: "chưa phát sinh",
    NOT_SCORED: "chưa chấm điểm: không có dữ liệu",
}


def _max_points(criterion: Criterion) -> Fraction:
    assert criterion.max_points is not None, "a scored criterion has max_points"
    return exact(criterion.max_points)


def points_for(
    criterion: Criterion, value: Fraction, counts: Mapping[str, int] | None = None
) -> Fraction:
    """Exact points of ``criterion`` (a scored one) for a (non-null) ratio ``value``; a
    ``sum`` rule reads its other terms' ratios from ``counts`` (``value`` stands for its
    own ratio's term)."""
    max_points = _max_points(criterion)
    if criterion.rule == "linear":
        return min(max_points, value * max_points)
    if criterion.rule == "sum":
        assert criterion.terms is not None
        total = Fraction(0)
        for term, v in zip(criterion.terms, _term_values(criterion, counts or {}), strict=True):
            v = value if term.ratio == criterion.ratio else v
            if v is not None:
                part = exact(term.weight) * v
                total += part if term.cap is None else min(exact(term.cap), part)
        return total  # as tabled: not capped at max_points
    if criterion.rule == "target":
        assert criterion.target is not None
        t = exact(criterion.target)
        return max_points if value >= t else value * max_points / t
    assert criterion.steps is not None
    for threshold, pts in criterion.steps:
        if value >= exact(threshold):
            return exact(pts)
    return Fraction(0)


def _term_values(criterion: Criterion, counts: Mapping[str, int]) -> list[Fraction | None]:
    """The exact ratio of each term of a ``sum`` rule (None when its denominator is 0)."""
    assert criterion.terms is not None
    return [measure(t.ratio, counts).value for t in criterion.terms]


def _points(
    criterion: Criterion, m: Measure, counts: Mapping[str, int] | None = None
) -> Fraction | None:
    if criterion.rule == "sum":
        values = _term_values(criterion, counts or {})
        if any(v is not None for v in values):
            return points_for(criterion, m.value or Fraction(0), counts)
    elif m.value is not None:
        return points_for(criterion, m.value)
    if criterion.no_dossiers == "full":
        return _max_points(criterion)
    if criterion.no_dossiers == "zero":
        return Fraction(0)
    return None


def score_criterion(
    criterion: Criterion, counts: Mapping[str, int], catalog: Catalog | None = None
) -> dict[str, Any]:
    """One ``criteria`` entry of the KPI report (docs/contract.md), with extra fields."""
    if criterion.ratio is None:
        return _not_scored_entry(criterion, catalog)
    m = measure(criterion.ratio, counts)
    pts = _points(criterion, m, counts)
    status = SCORED if pts is not None else NOT_APPLICABLE
    entry: dict[str, Any] = {
        "id": criterion.id,
        "code": criterion.portal_code,
        "name": criterion.name,
        "value": float(m.value) if m.value is not None else None,
        "points": round(float(pts), 4) if pts is not None else None,
        "max_points": criterion.max_points,
        "ratio": criterion.ratio,
        "formula": formula_of(criterion.ratio),
        "numerator": m.numerator,
        "denominator": m.denominator,
        "rule": criterion.describe_rule(),
        "no_dossiers": criterion.no_dossiers,
        "applicable": pts is not None,
        "status": status,
        "status_vi": STATUS_LABELS_VI[status],
        **_labels(criterion),
    }
    if criterion.rule == "sum":
        entry["parts"] = _sum_parts(criterion, counts)
    if m.combined:
        a, b, c, r = m.terms
        entry["terms"] = {"late_overdue_or_petitioned": [a, b], "dissatisfied": [c, r]}
    if catalog is not None:
        entry["catalog"] = catalog.label
    return entry


def _sum_parts(criterion: Criterion, counts: Mapping[str, int]) -> list[dict[str, Any]]:
    """Each part of a ``sum`` rule: its ratio, weight, cap, counts, value and points."""
    assert criterion.terms is not None
    out = []
    for t in criterion.terms:
        m = measure(t.ratio, counts)
        pts = Fraction(0)
        if m.value is not None:
            pts = exact(t.weight) * m.value
            pts = pts if t.cap is None else min(exact(t.cap), pts)
        out.append({"ratio": t.ratio, "formula": formula_of(t.ratio), "weight": t.weight,
                    "cap": t.cap, "numerator": m.numerator, "denominator": m.denominator,
                    "value": float(m.value) if m.value is not None else None,
                    "points": round(float(pts), 4)})
    return out


def _labels(criterion: Criterion) -> dict[str, Any]:
    return {
        "grade": criterion.grade,
        "group": criterion.group,
        "group_name": GROUP_LABELS_VI[criterion.group] if criterion.group else None,
    }


def _not_scored_entry(criterion: Criterion, catalog: Catalog | None) -> dict[str, Any]:
    """The entry of a criterion no event can feed: listed, never scored."""
    entry: dict[str, Any] = {
        "id": criterion.id,
        "code": criterion.portal_code,
        "name": criterion.name,
        "value": None,
        "points": None,
        "max_points": criterion.max_points,
        "ratio": None,
        "formula": None,
        "numerator": None,
        "denominator": None,
        "rule": criterion.describe_rule(),
        "no_dossiers": None,
        "applicable": False,
        "status": NOT_SCORED,
        "status_vi": STATUS_LABELS_VI[NOT_SCORED],
        "reason": criterion.reason,
        **_labels(criterion),
    }
    if catalog is not None:
        entry["catalog"] = catalog.label
    return entry


def score(catalog: Catalog, counts: Mapping[str, int]) -> list[dict[str, Any]]:
    """Every criterion of ``catalog`` scored for ``counts``, in catalog order."""
    return [score_criterion(c, counts, catalog) for c in catalog.criteria]


def totals(entries: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Sum of points and of max_points over the applicable entries (4 decimals)."""
    pts = 0.0
    mx = 0.0
    for e in entries:
        if e["applicable"]:
            pts += e["points"]
            mx += e["max_points"]
    return {"points": round(pts, 4), "max_points": round(mx, 4)}


_GRADE_ORDER = {"V": 0, "P": 1, "S": 2, "W": 3, "M": 4}


def weakest_grade(grades: Iterable[str]) -> str | None:
    """The least verified of ``grades`` (V < P < S < W < M), None when there are none."""
    return max(grades, key=_GRADE_ORDER.__getitem__, default=None)


def group_totals(entries: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per group (in :data:`kpi.criteria.GROUPS` order; entries without a group left out):

    * ``points`` / ``max_points``: as :func:`totals` over the group's applicable entries;
    * ``total``: the max_points of every entry of the group, scored or not (null as 0) —
      the group's points in the catalog;
    * ``scored``, ``not_applicable``, ``not_scored``: the entry ids of each status;
    * ``grade``: the weakest grade of its scored entries (None when none is scored);
    * ``name``: the group's Vietnamese label.
    """
    by_group: dict[str, list[Mapping[str, Any]]] = {}
    for e in entries:
        if e.get("group"):
            by_group.setdefault(e["group"], []).append(e)
    out: dict[str, dict[str, Any]] = {}
    for g in sorted(by_group, key=lambda g: GROUPS.index(g) if g in GROUPS else len(GROUPS)):
        mine = by_group[g]
        ids = {status: [e["id"] for e in mine if e.get("status") == status]
               for status in STATUSES}
        out[g] = {
            **totals(mine),
            "total": round(sum(e["max_points"] or 0.0 for e in mine), 4),
            "scored": ids[SCORED],
            "not_applicable": ids[NOT_APPLICABLE],
            "not_scored": ids[NOT_SCORED],
            "grade": weakest_grade(e["grade"] for e in mine if e.get("status") == SCORED),
            "name": GROUP_LABELS_VI.get(g, g),
        }
    return out


def catalog_summary(entries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The report's scores of its Decision 766 catalog (the entries with a group; PAR
    entries have none):

    * ``catalog``: the catalog's label (``id@version``), None without such entries;
    * ``groups``: ``[{id, name, points, max_points}]`` in :data:`kpi.criteria.GROUPS` order,
      each group of the catalog (max_points: the maxima of its metrics scored; a metric
      not scored — "chưa phát sinh" or no data — is left out of both);
    * ``total_points`` / ``total_max_points``: their sums (4 decimals, as the points).
    """
    mine = [e for e in entries if e.get("group")]
    groups = [{"id": g, "name": v["name"], "points": v["points"],
               "max_points": v["max_points"]} for g, v in group_totals(mine).items()]
    return {
        "catalog": mine[0].get("catalog") if mine else None,
        "groups": groups,
        "total_points": round(sum(g["points"] for g in groups), 4),
        "total_max_points": round(sum(g["max_points"] for g in groups), 4),
    }


def grade_label_vi(grade: str | None) -> str:
    """``M (chưa kiểm chứng (cấu hình))``-style label of a grade; ``—`` for None."""
    return "—" if grade is None else f"{grade} ({GRADE_LABELS_VI[grade]})"


# ------------------------------------------------------------------------------- gaps


@dataclass(frozen=True)
class Gap:
    """What reaching the next step (or full points) would take.

    ``dossiers`` is how many more dossiers would have to count in the numerator (on time,
    online, paid online, digitized…; the denominator and everything else unchanged). When no
    number can do it (no dossiers at all; satisfaction_766 held down by dissatisfied
    ratings) ``status`` is ``"unreachable"`` and ``dossiers`` is None.
    """

    criterion_id: str
    threshold: float
    points: float
    dossiers: int | None
    reason: str = ""

    @property
    def status(self) -> Literal["reachable", "unreachable"]:
        return "reachable" if self.dossiers is not None else "unreachable"

    @property
    def reachable(self) -> bool:
        return self.dossiers is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.criterion_id,
            "status": self.status,
            "threshold": self.threshold,
            "points": self.points,
            "dossiers": self.dossiers,
            "reason": self.reason,
        }


def _next_goal(criterion: Criterion, current: Fraction | None) -> tuple[Fraction, Fraction] | None:
    """(threshold, points) of the next step above ``current`` points, None if at the top."""
    max_points = _max_points(criterion)
    if criterion.rule == "linear":
        return None if current == max_points else (Fraction(1), max_points)
    if criterion.rule == "target":
        assert criterion.target is not None
        return None if current == max_points else (exact(criterion.target), max_points)
    assert criterion.steps is not None
    have = current if current is not None else Fraction(0)
    better = [(exact(t), exact(p)) for t, p in criterion.steps if exact(p) > have]
    return better[-1] if better else None  # lowest threshold that still gives more


def gap(criterion: Criterion, counts: Mapping[str, int]) -> Gap | None:
    """How many more dossiers to reach the next step / full points; None when already full
    or not scored (no ratio)."""
    if criterion.ratio is None:
        return None
    m = measure(criterion.ratio, counts)
    current = _points(criterion, m, counts)
    if criterion.rule == "sum":
        # its own ratio at 100%, the other terms as they are
        best = points_for(criterion, Fraction(1), counts)
        goal: tuple[Fraction, Fraction] | None = (
            None if current is not None and current >= best else (Fraction(1), best))
    else:
        goal = _next_goal(criterion, current)
    if goal is None:
        return None
    threshold, pts = goal
    k = m.min_extra(threshold)
    reason = ""
    if k is None:
        if m.value is None or (m.combined and m.terms[1] == 0):
            reason = "no dossiers: the denominator is 0, so no dossier can change the ratio"
        elif m.combined:
            reason = "dissatisfied ratings alone keep the value below the threshold"
        else:  # pragma: no cover - thresholds ≤ 1 are always reachable for plain ratios
            reason = "threshold above 100%"
    return Gap(criterion.id, float(threshold), round(float(pts), 4), k, reason)


# ----------------------------------------------------------------------------- report


def criteria_for_report(
    counts: Mapping[str, int],
    level: str,
    on_date: dt.date,
    catalogs: Iterable[Catalog] | None = None,
) -> list[dict[str, Any]]:
    """The report's ``criteria``: Decision 766 indicators first, then the PAR catalog of the
    unit's level (district → district_office, commune → commune; province only if a
    province-level or ``any`` PAR catalog is valid on ``on_date``).

    ``catalogs`` defaults to the shipped ones (kpi/data). Either part is skipped when no
    catalog of that kind is valid for the level and date.
    """
    pool = list(catalogs) if catalogs is not None else shipped_catalogs()
    out: list[dict[str, Any]] = []
    for kind in ("decision_766", "par_index"):
        cat = select_catalog(pool, level, on_date, kind=kind)
        if cat is not None:
            out.extend(score(cat, counts))
    return out
