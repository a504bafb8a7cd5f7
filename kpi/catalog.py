"""Versioned, dated criteria catalogs (bộ tiêu chí) loaded from YAML.

A catalog says which criteria are scored, from which KPI ratio, with how many points and by
which rule. Everything graded [S] or [M] in docs/domain.md lives in these files, not in code.

File shape (one catalog per file)::

    id: decision-766-2022          # catalog family id (aliases: CATALOG_ALIASES)
    version: "2022-06-23"          # a string: quote numbers like "2025.1"
    kind: decision_766             # decision_766 | par_index
    issuer: "Thủ tướng Chính phủ"
    level: any                     # province | district_office | commune | any
    valid_from: 2022-06-23         # inclusive
    valid_to: null                 # inclusive; null = open-ended
    source: "where the numbers come from, with their grades"
    group_totals:                  # optional: points per group; the criteria must add up
      progress: 20
    criteria:
      - id: "766.2.1"
        code: DOSSIER_ON_TIME      # optional: the portal's code (default: the id)
        name: "Tiến độ, kết quả giải quyết hồ sơ"
        group: progress            # transparency | progress | online_services |
                                   # online_payment | digitization | satisfaction
                                   # (required in decision_766)
        ratio: on_time_766         # a CRITERION_RATIO_KEYS key
        max_points: 20
        rule: linear               # linear | target | steps | sum
        terms:                     # rule sum only: [{ratio, weight, cap?}, ...]
        target: 0.5                # rule target only: full points at ratio >= target
        steps: [[1.0, 1.0], [0.95, 0.5]]   # rule steps only: [threshold, points], descending
        no_dossiers: not_applicable        # full | zero | not_applicable (denominator 0)
        grade: S                   # V | S | P | W | M (GRADE_LABELS_VI)
        note: "optional free text"
      - id: "766.2.2"              # an indicator no event can feed: listed, never scored
        name: "Thời gian giải quyết trung bình"
        group: progress
        ratio: null                # not scored: no data
        reason: "why no event can feed it"  # required with ratio null, refused otherwise
        max_points: null           # its share of the group (> 0), or null when unknown
        grade: M                   # (no rule, target, steps or no_dossiers)

A criterion's keys — its ratio (:data:`~kpi.criteria.CRITERION_RATIO_KEYS`), ``ratio: null``,
the rules and their points, the grades — are :mod:`kpi.criteria`'s. With ``group_totals``
the ``max_points`` of a group's criteria (null counting 0) must add up to the group's total
exactly (as written decimals).

Loading errors raise :class:`CatalogError` with one line naming the file and the key path,
e.g. ``kpi/data/x.yaml: criteria[2] (id 'A.1').steps: thresholds must be strictly
descending (0.95 then 1.0)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from kpi.criteria import Criterion, GroupKey
from schemas.errors import CatalogError

CATALOG_ALIASES: dict[str, str] = {"decision-766": "decision-766-2022"}
"""Former catalog ids still accepted (:func:`find_catalog`)."""

ScopeLevel = Literal["province", "district_office", "commune", "any"]
CatalogKind = Literal["decision_766", "par_index"]

UNIT_LEVEL_TO_SCOPE: dict[str, str] = {
    "province": "province",
    "district": "district_office",
    "district_office": "district_office",
    "commune": "commune",
}
"""Unit levels of docs/contract.md (province | district | commune) → catalog scope levels."""


class Catalog(BaseModel):
    """A versioned, dated criteria set for one scope level."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    version: str = Field(min_length=1)
    kind: CatalogKind
    issuer: str = Field(min_length=1)
    level: ScopeLevel
    valid_from: dt.date
    valid_to: dt.date | None = None
    source: str = Field(min_length=1)
    group_totals: dict[GroupKey, float] | None = None
    """Points of each group; the criteria's max_points must add up to them."""
    criteria: tuple[Criterion, ...] = Field(min_length=1)

    @field_validator("valid_to")
    @classmethod
    def _check_dates(cls, v: dt.date | None, info: ValidationInfo) -> dt.date | None:
        start = info.data.get("valid_from")
        if v is not None and start is not None and v < start:
            raise ValueError(f"valid_to {v} is before valid_from {start}")
        return v

    @model_validator(mode="after")
    def _unique_ids(self) -> Catalog:
        seen: set[str] = set()
        for c in self.criteria:
            if c.id in seen:
                raise ValueError(f"duplicate criterion id {c.id!r}")
            seen.add(c.id)
        if self.kind == "decision_766":
            missing = [c.id for c in self.criteria if c.group is None]
            if missing:
                raise ValueError(f"every Decision 766 criterion needs a group; none for "
                                 f"{', '.join(missing)}")
        if self.group_totals is not None:
            self._check_group_totals(self.group_totals)
        return self

    def _check_group_totals(self, group_totals: Mapping[GroupKey, float]) -> None:
        """Each criterion in a listed group; each group's max_points add up to its total
        (exactly, as the decimals are written)."""
        sums: dict[str, Fraction] = {g: Fraction(0) for g in group_totals}
        for c in self.criteria:
            if c.group not in sums:
                raise ValueError(f"criterion {c.id!r}: group {c.group!r} is not in group_totals")
            if c.max_points is not None:
                sums[c.group] += Fraction(repr(c.max_points))
        for g, total in group_totals.items():
            if sums[g] != Fraction(repr(float(total))):
                raise ValueError(f"group {g!r}: the criteria's max_points add up to "
                                 f"{float(sums[g]):g}, not its total {total:g}")

    def valid_on(self, on_date: dt.date) -> bool:
        """valid_from ≤ on_date ≤ valid_to (both inclusive; no valid_to = open-ended)."""
        return self.valid_from <= on_date and (self.valid_to is None or on_date <= self.valid_to)

    @property
    def label(self) -> str:
        return f"{self.id}@{self.version}"


# ---------------------------------------------------------------------------- loading


def _key_path(loc: Sequence[int | str], data: Any) -> str:
    """('criteria', 2, 'steps') → ``criteria[2] (id 'A.1').steps``."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            if isinstance(node, list) and 0 <= part < len(node):
                node = node[part]
                if isinstance(node, dict) and "id" in node and len(loc) > 1:
                    out += f" (id {node['id']!r})"
            else:
                node = None
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "(top level)"


def _format_errors(source: str, err: ValidationError, data: Any) -> str:
    msgs = []
    for e in err.errors():
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "missing":
            msg = "required key is missing"
        msgs.append(f"{_key_path(e['loc'], data)}: {msg}")
    return f"{source}: " + "; ".join(msgs)


def parse_catalog(data: Any, source: str = "<catalog>") -> Catalog:
    """Validate already-parsed YAML/JSON data; ``source`` names it in error messages."""
    if not isinstance(data, dict):
        raise CatalogError(f"{source}: (top level): expected a mapping, got {type(data).__name__}")
    try:
        return Catalog.model_validate(data)
    except ValidationError as err:
        raise CatalogError(_format_errors(source, err, data)) from None


def load_catalog(path: str | Path) -> Catalog:
    """Load and validate one catalog YAML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise CatalogError(f"{p}: cannot read: {err.strerror or err}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        where = ""
        mark = getattr(err, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise CatalogError(f"{p}: invalid YAML{where}: {problem}") from None
    return parse_catalog(data, str(p))


def load_catalogs(paths: Iterable[str | Path]) -> list[Catalog]:
    """Load several files; a directory contributes its ``*.yaml`` / ``*.yml`` files."""
    out: list[Catalog] = []
    for path in paths:
        p = Path(path)
        if p.is_dir():
            files = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
            out.extend(load_catalog(f) for f in files)
        else:
            out.append(load_catalog(p))
    return out


SHIPPED_FILES: tuple[str, ...] = (
    "decision-766-2022.yaml",
    "portal-766-2026.yaml",
    "par-district-office-example.yaml",
    "par-commune-example.yaml",
)


def shipped_catalogs() -> list[Catalog]:
    """The catalogs shipped in ``kpi/data`` (package data)."""
    base = resources.files("kpi") / "data"
    out = []
    for name in SHIPPED_FILES:
        res = base / name
        try:
            data = yaml.safe_load(res.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:  # pragma: no cover - shipped files are tested
            raise CatalogError(f"kpi/data/{name}: invalid YAML: {err}") from None
        out.append(parse_catalog(data, f"kpi/data/{name}"))
    return out


# -------------------------------------------------------------------------- selection


def canonical_id(catalog_id: str) -> str:
    """``catalog_id`` with a former id replaced by today's (:data:`CATALOG_ALIASES`)."""
    return CATALOG_ALIASES.get(catalog_id, catalog_id)


def find_catalog(catalogs: Iterable[Catalog], wanted: str) -> Catalog:
    """The catalog named ``wanted``: an id (or a former id, :data:`CATALOG_ALIASES`), or a
    label ``id@version``. An id with several versions gives the latest ``valid_from``.
    Raises :class:`CatalogError` naming the ids known."""
    pool = list(catalogs)
    cid, _, version = wanted.partition("@")
    cid = canonical_id(cid)
    found = [c for c in pool if c.id == cid and (not version or c.version == version)]
    if not found:
        known = sorted({c.id for c in pool} | set(CATALOG_ALIASES))
        raise CatalogError(f"no catalog {wanted!r}; known: {', '.join(known)}")
    return max(found, key=lambda c: c.valid_from)



def select_catalog(
    catalogs: Iterable[Catalog],
    level: str,
    on_date: dt.date,
    kind: str | None = None,
) -> Catalog | None:
    """The catalog that applies to a unit of ``level`` on ``on_date``, or None.

    ``level`` is a unit level (province | district | commune) or a scope level
    (district_office …). Candidates: ``kind`` matches (if given), valid on ``on_date``
    (both bounds inclusive), and scope level equal to the unit's or ``any``. An exact level
    beats ``any``; then the latest ``valid_from`` wins. Two candidates still tied (same
    level and valid_from) are ambiguous → :class:`CatalogError`.
    """
    scope = UNIT_LEVEL_TO_SCOPE.get(level)
    if scope is None:
        raise CatalogError(
            f"unknown level {level!r}; expected one of {', '.join(UNIT_LEVEL_TO_SCOPE)}"
        )
    candidates = [
        c
        for c in catalogs
        if (kind is None or c.kind == kind) and c.level in (scope, "any") and c.valid_on(on_date)
    ]
    if not candidates:
        return None

    def rank(c: Catalog) -> tuple[int, dt.date]:
        return (1 if c.level == scope else 0, c.valid_from)

    candidates.sort(key=rank, reverse=True)
    best = candidates[0]
    ties = [c.label for c in candidates[1:] if rank(c) == rank(best)]
    if ties:
        raise CatalogError(
            f"ambiguous catalogs for level {level!r} on {on_date}: "
            f"{', '.join([best.label, *ties])} (same level and valid_from)"
        )
    return best
