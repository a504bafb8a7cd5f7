"""One criterion of a criteria catalog (tiêu chí, :mod:`kpi.catalog`): the KPI ratio it
reads, its points and the rule that turns the ratio into points; and the groups and grades
a criterion is filed under.

A criterion with ``ratio: null`` is *not scored: no data*: every report lists it with
``"status": "not scored: no data"``, points null and ``applicable`` false (so it is left out of
the totals, never dropped).

Rules (value = the ratio, in [0, 1]):

* ``linear``: points = min(max_points, value × max_points).
* ``target``: points = max_points when value ≥ target, else value × max_points / target
  (= min(max_points, max_points × value / target): "full at target").
* ``sum``: points = Σ min(cap, weight × value_i) over ``terms`` (no cap: weight × value_i);
  a term whose ratio is null counts 0. The sum is *not* capped at max_points: the portal's
  formula is tabled without a cap (its terms can reach 10.5 of 10). The criterion's
  ``ratio`` is the one its report entry shows as ``value``; the value is null (→
  ``no_dossiers``) only when every term's ratio is null. (The portal's online payment:
  6·A + min(2, 2.5·B) + 2.5·C.)
* ``steps``: the points of the first step whose threshold ≤ value; 0 below the last step.
  Thresholds strictly descending in [0, 1]; points non-increasing, each ≤ max_points.

``satisfaction_766`` (Decision 766 indicator 5.4, v1-event approximation, see docs/domain.md)::

    1 − (resolved_late + in_progress_overdue) / (resolved + in_progress) − dissatisfied / rated

Null handling: a term whose denominator is 0 contributes 0 (no dossiers → no overdue share;
no ratings → no dissatisfied share); the value is null (→ ``no_dossiers``) only when both
denominators are 0. The value is clamped at 0 from below (it cannot go negative).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from kpi.ratios import CRITERION_RATIO_FORMULAS, RATIO_KEYS

SATISFACTION_766 = "satisfaction_766"
"""The special ratio key of Decision 766 indicator 5.4 (computed in kpi.scoring)."""

SATISFACTION_766_FORMULA = (
    "1 − (resolved_late + in_progress_overdue + dossiers_petitioned − dossiers_petitioned_late)"
    " / (resolved + in_progress) − dissatisfied / rated"
)

CRITERION_RATIO_KEYS: tuple[str, ...] = (
    *RATIO_KEYS, *CRITERION_RATIO_FORMULAS, SATISFACTION_766,
)
"""Every ratio key a criterion may read: the report's ratios, the scoring-only ratios of
:data:`kpi.ratios.CRITERION_RATIO_FORMULAS`, and satisfaction_766."""

GroupKey = Literal["transparency", "progress", "online_services", "online_payment",
                   "digitization", "satisfaction"]
GROUPS: tuple[str, ...] = (
    "transparency", "progress", "online_services", "online_payment", "digitization",
    "satisfaction",
)
"""The groups of Decision 766's index in the portal's order (docs/scoring.md). Since 2026 the
portal scores six (online services 12 + online payment 10); the decision's own text has five
(online services 22, payment included): catalog ``decision-766-2022`` uses no
``online_payment``."""

GROUP_LABELS_VI: dict[str, str] = {
    "transparency": "Công khai, minh bạch",
    "progress": "Tiến độ, kết quả giải quyết",
    "online_services": "Cung cấp dịch vụ trực tuyến",
    "online_payment": "Thanh toán trực tuyến",
    "digitization": "Số hóa hồ sơ",
    "satisfaction": "Mức độ hài lòng",
}
"""Vietnamese labels of :data:`GROUPS`, as the portal names them."""

GRADE_LABELS_VI: dict[str, str] = {
    "V": "đã kiểm chứng (văn bản chính thức)",
    "P": "khớp điểm Cổng DVCQG công bố",
    "S": "theo bản sao của bên thứ ba",
    "W": "theo bảng công thức của Cổng DVCQG (chưa đối chiếu điểm)",
    "M": "chưa kiểm chứng (cấu hình)",
}
"""What a criterion's grade means, in Vietnamese: [V] an official text; [P] fitted to the
portal's published scores; [S] a third-party copy of the spec; [W] the portal's formula
workbook's text only; [M] ours, configuration (docs/scoring.md)."""

NOT_SCORED = "not scored: no data"
"""The ``status`` of a criterion with no ratio: listed in every report, never scored."""

RuleType = Literal["linear", "target", "steps", "sum"]
NoDossiers = Literal["full", "zero", "not_applicable"]
Grade = Literal["V", "P", "S", "W", "M"]


class Term(BaseModel):
    """One part of a ``sum`` rule: min(cap, weight × ratio), 0 when the ratio is null."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ratio: str
    weight: float = Field(gt=0)
    cap: float | None = Field(default=None, gt=0)

    @field_validator("ratio")
    @classmethod
    def _known_ratio(cls, v: str) -> str:
        if v not in CRITERION_RATIO_KEYS or v == SATISFACTION_766:
            raise ValueError(f"unknown ratio key {v!r}")
        return v

    @property
    def most(self) -> float:
        """The most this term can give (ratio 1)."""
        return self.weight if self.cap is None else min(self.cap, self.weight)


class Criterion(BaseModel):
    """One criterion (tiêu chí / tiêu chí thành phần): scored from ``ratio``, or — with
    ``ratio`` null and a ``reason`` — listed as *not scored: no data*."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    code: str | None = None
    """The portal's code of the metric; reports show the id when it has none."""
    name: str = Field(min_length=1)
    group: GroupKey | None = None
    ratio: str | None
    reason: str | None = Field(default=None, validate_default=True)
    max_points: float | None
    rule: RuleType | None = Field(default=None, validate_default=True)
    target: float | None = Field(default=None, validate_default=True)
    steps: tuple[tuple[float, float], ...] | None = Field(default=None, validate_default=True)
    terms: tuple[Term, ...] | None = Field(default=None, validate_default=True)
    no_dossiers: NoDossiers | None = Field(default=None, validate_default=True)
    grade: Grade
    note: str | None = None

    @property
    def scored(self) -> bool:
        """False for an indicator no event can feed (``ratio`` null)."""
        return self.ratio is not None

    @field_validator("ratio")
    @classmethod
    def _known_ratio(cls, v: str | None) -> str | None:
        if v is not None and v not in CRITERION_RATIO_KEYS:
            raise ValueError(
                f"unknown ratio key {v!r}; expected one of {', '.join(CRITERION_RATIO_KEYS)}"
                " (or null: not scored)"
            )
        return v

    @field_validator("reason")
    @classmethod
    def _check_reason(cls, v: str | None, info: ValidationInfo) -> str | None:
        if "ratio" not in info.data:
            return v  # the ratio itself is wrong: said there
        if info.data["ratio"] is None:
            if not v or not v.strip():
                raise ValueError("required when ratio is null (why no event can feed it)")
        elif v is not None:
            raise ValueError("only allowed when ratio is null (a criterion not scored)")
        return v

    @field_validator("max_points")
    @classmethod
    def _check_max_points(cls, v: float | None, info: ValidationInfo) -> float | None:
        if v is None:
            if info.data.get("ratio") is not None:
                raise ValueError("must be a number for a scored criterion (null only with "
                                 "ratio null: points unknown)")
            return v
        if not v > 0:
            raise ValueError(f"must be greater than 0, got {v:g}")
        return v

    @field_validator("rule", "no_dossiers")
    @classmethod
    def _scored_only(cls, v: str | None, info: ValidationInfo) -> str | None:
        if "ratio" not in info.data:
            return v
        if info.data["ratio"] is None:
            if v is not None:
                raise ValueError("only allowed for a scored criterion (ratio is null)")
        elif v is None:
            raise ValueError("required when ratio is given")
        return v

    @field_validator("target")
    @classmethod
    def _check_target(cls, v: float | None, info: ValidationInfo) -> float | None:
        rule = info.data.get("rule")
        if rule == "target":
            if v is None:
                raise ValueError("required when rule is 'target' (ratio for full points)")
            if not 0 < v <= 1:
                raise ValueError(f"must be in (0, 1], got {v}")
        elif v is not None:
            raise ValueError(f"only allowed when rule is 'target' (rule is {rule!r})")
        return v

    @field_validator("steps")
    @classmethod
    def _check_steps(
        cls, v: tuple[tuple[float, float], ...] | None, info: ValidationInfo
    ) -> tuple[tuple[float, float], ...] | None:
        rule = info.data.get("rule")
        if rule != "steps":
            if v is not None:
                raise ValueError(f"only allowed when rule is 'steps' (rule is {rule!r})")
            return v
        if not v:
            raise ValueError("required when rule is 'steps': a list of [threshold, points]")
        max_points = info.data.get("max_points")
        for i, (threshold, points) in enumerate(v):
            if not 0 <= threshold <= 1:
                raise ValueError(f"step {i}: threshold must be in [0, 1], got {threshold}")
            if points < 0:
                raise ValueError(f"step {i}: points must be ≥ 0, got {points}")
            if max_points is not None and points > max_points:
                raise ValueError(f"step {i}: points {points} exceed max_points {max_points}")
            if i:
                prev_t, prev_p = v[i - 1]
                if threshold >= prev_t:
                    raise ValueError(
                        f"thresholds must be strictly descending ({prev_t} then {threshold})"
                    )
                if points > prev_p:
                    raise ValueError(
                        f"points must not increase as thresholds fall ({prev_p} then {points})"
                    )
        return v

    @field_validator("terms")
    @classmethod
    def _check_terms(
        cls, v: tuple[Term, ...] | None, info: ValidationInfo
    ) -> tuple[Term, ...] | None:
        rule = info.data.get("rule")
        if rule != "sum":
            if v is not None:
                raise ValueError(f"only allowed when rule is 'sum' (rule is {rule!r})")
            return v
        if not v:
            raise ValueError("required when rule is 'sum': a list of {ratio, weight, cap?}")
        ratio = info.data.get("ratio")
        if ratio is not None and ratio not in [t.ratio for t in v]:
            raise ValueError(f"the criterion's ratio {ratio!r} must be one of its terms")
        return v

    @property
    def portal_code(self) -> str:
        """The portal's code, else the id."""
        return self.code or self.id

    def describe_rule(self) -> str:
        """Human-readable rule, e.g. ``steps ≥1.0 → 1.0; ≥0.95 → 0.5; else 0``."""
        if not self.scored:
            return NOT_SCORED
        if self.rule == "linear":
            return "linear: min(max_points, ratio × max_points)"
        if self.rule == "target":
            t = self.target
            return f"target: full at ratio ≥ {t:g}, else ratio × max_points / {t:g}"
        if self.rule == "sum":
            assert self.terms is not None
            parts = " + ".join(
                f"{t.weight:g}·{t.ratio}" if t.cap is None
                else f"min({t.cap:g}, {t.weight:g}·{t.ratio})" for t in self.terms)
            return f"sum: {parts}; a null ratio counts 0"
        assert self.steps is not None
        parts = "; ".join(f"≥{t:g} → {p:g}" for t, p in self.steps)
        return f"steps: {parts}; else 0"


__all__ = [
    "CRITERION_RATIO_KEYS",
    "GRADE_LABELS_VI",
    "GROUPS",
    "GROUP_LABELS_VI",
    "NOT_SCORED",
    "SATISFACTION_766",
    "SATISFACTION_766_FORMULA",
    "Criterion",
    "Grade",
    "GroupKey",
    "NoDossiers",
    "RuleType",
    "Term",
]
