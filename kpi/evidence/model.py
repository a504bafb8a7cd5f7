"""The evidence bundle as data: what a bundle of one unit and period holds before any file
format (:func:`assemble`), and the input it was built from (:class:`InputInfo`).

A bundle is in one *view* (``as_was``: every count attributed to the unit in force at its
judged instant, docs/contract.md) and holds one :class:`ScopePart` per *scope*: the unit's own
figures (số liệu của đơn vị) always, and its total (tổng hợp: own plus every unit below it
at each count's instant) when the unit has units below it in the registry. With a
registry, the sub-unit rows list the units below it during the period (a version with the
unit as parent overlapping the period), each with its total if it has units below it, else
its own figures.

The manifest (``manifest.json`` without its ``files`` hashes, which :mod:`kpi.evidence.bundle`
adds) records the catalogs (id, version), the input, the registry, the view, the generation
time, as_of and the points per catalog (``totals``: own figures; ``scopes``: per scope).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kpi.attribution import AS_WAS, OWN, TOTAL, Attribution, scoped
from kpi.calendar import local_date, to_local_datetime
from kpi.catalog import Catalog, shipped_catalogs
from kpi.counters import Counters
from kpi.evidence.families import (
    DocumentRow,
    Families,
    PetitionRow,
    ProcedureRow,
    document_rows_for,
    family_criterion_rows,
    petition_rows_for,
    procedure_rows_for,
)
from kpi.evidence.select import EvidenceRow, contributions_to, criterion_rows
from kpi.periods import parse_period
from kpi.registry import UnitRegistry, UnitVersion
from kpi.report import build_report, report_criteria
from kpi.scoring import totals
from kpi.sla import Dossier

FORMAT = "motcua-evidence/1"


def file_stem(text: str) -> str:
    """``text`` with characters unsafe in file names replaced by ``_`` (never empty)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"


def bundle_dirname(unit: str, period: str) -> str:
    """``<unit>_<period>`` with characters unsafe in file names replaced by ``_``."""
    return f"{file_stem(unit)}_{file_stem(period)}"


@dataclass(frozen=True)
class InputInfo:
    """The event file (or the stored event log) a bundle was built from."""

    path: str
    sha256: str
    lines: int
    valid: int | None = None
    invalid: int | None = None
    log_range: dict[str, dict[str, list[int]]] | None = None
    """For a bundle built from the SQL store: ``{topic: {partition: [first, last offset]}}``
    of the stored events (``sha256`` is then over the payloads in log order, one a line)."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "sha256": self.sha256, "lines": self.lines}
        if self.log_range is not None:
            out["log_range"] = self.log_range
        if self.valid is not None:
            out["valid_events"] = self.valid
        if self.invalid is not None:
            out["invalid_lines"] = self.invalid
        return out


@dataclass
class SubunitRow:
    """One unit below the bundle's unit during the period: its counts, ratios and points,
    of its ``scope`` (its total if it has units below it, else its own figures)."""

    code: str
    name: str
    level: str
    counts: dict[str, int]
    ratios: dict[str, float | None]
    totals: dict[str, dict[str, float]]
    """catalog label → {points, max_points}."""
    scope: str = OWN


@dataclass
class ScopePart:
    """The bundle's unit in one scope: the report (``scope`` inside it), the dossier (and
    family) rows behind each of its criteria, and the lists of the v1.1 families
    (:mod:`kpi.evidence.families`)."""

    scope: str
    report: dict[str, Any]
    criteria_rows: dict[str, list[EvidenceRow]]
    """criterion id → its dossier rows, then its petition / catalog / document rows."""
    points: dict[str, dict[str, float]]
    """catalog label → {points, max_points}."""
    petitions: list[PetitionRow] = field(default_factory=list)
    """The late-answered and open-overdue petitions of the period."""
    procedures: list[ProcedureRow] = field(default_factory=list)
    """The catalog entries in force at the period's end or first published in it."""
    documents: list[DocumentRow] = field(default_factory=list)
    """The documents issued in the period."""


@dataclass
class Bundle:
    """A unit and period's evidence in one view: a :class:`ScopePart` per scope (own
    first, then total when the unit has units below it), the sub-unit rows (with a
    registry), the manifest and, once built, the files."""

    unit: str
    period: str
    parts: list[ScopePart]
    subunits: list[SubunitRow]
    manifest: dict[str, Any]
    view: str = AS_WAS
    files: dict[str, bytes] = field(default_factory=dict)
    """file name → content, manifest.json included."""

    @property
    def report(self) -> dict[str, Any]:
        """The report of the unit's own figures."""
        return self.parts[0].report

    @property
    def criteria_rows(self) -> dict[str, list[EvidenceRow]]:
        """criterion id → the dossier rows behind the unit's own figures."""
        return self.parts[0].criteria_rows

    @property
    def total(self) -> ScopePart | None:
        """The unit's total, when it has units below it in the registry."""
        return next((p for p in self.parts if p.scope == TOTAL), None)

    @property
    def total_counts(self) -> dict[str, int] | None:
        total = self.total
        return total.report["counts"] if total is not None else None

    @property
    def dirname(self) -> str:
        return bundle_dirname(self.unit, self.period)


def _catalog_info(c: Catalog) -> dict[str, Any]:
    return {
        "id": c.id,
        "version": c.version,
        "kind": c.kind,
        "level": c.level,
        "issuer": c.issuer,
        "valid_from": c.valid_from.isoformat(),
        "valid_to": c.valid_to.isoformat() if c.valid_to else None,
    }


def _totals_by_catalog(criteria: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for c in criteria:
        groups.setdefault(c.get("catalog", ""), []).append(c)
    return {label: totals(entries) for label, entries in groups.items()}


def term_counts(entry: Mapping[str, Any]) -> list[tuple[str, int | None, int | None]]:
    """(term, numerator, denominator) of a report criterion entry, as counts: one per part
    of a sum of ratios (``terms`` a list of ``{ratio, numerator, denominator, …}``, named
    by its ratio), per named term (``terms`` a mapping), else one for its ratio (``""``
    with no counts for a criterion not scored)."""
    terms = entry.get("terms")
    if isinstance(terms, list):
        return [(t["ratio"], t["numerator"], t["denominator"]) for t in terms]
    if terms:
        return [(name, n, d) for name, (n, d) in terms.items()]
    return [(entry["ratio"] or "", entry["numerator"], entry["denominator"])]


def criterion_ratios(entry: Mapping[str, Any]) -> list[str]:
    """The ratios whose rows stand behind a criterion entry: each part's of a sum of
    ratios, else its own; none for a criterion not scored."""
    terms = entry.get("terms")
    if isinstance(terms, list):
        return list(dict.fromkeys(t["ratio"] for t in terms))
    return [entry["ratio"]] if entry["ratio"] is not None else []


def assemble(
    *,
    unit: str,
    period: str,
    dossiers: Iterable[Dossier],
    counters: Mapping[tuple[str, str], Counters],
    levels: Mapping[str, str],
    horizon: float,
    generated_at: float,
    totals: Mapping[tuple[str, str], Counters] | None = None,
    input_info: InputInfo | None = None,
    catalogs: Sequence[Catalog] | None = None,
    par_catalog: Catalog | None = None,
    registry: UnitRegistry | None = None,
    registry_info: Mapping[str, Any] | None = None,
    families: Families | None = None,
) -> Bundle:
    """The bundle of ``unit`` and ``period`` as known before ``horizon``, without files:
    a report, dossier and family rows per criterion and the family lists for each scope,
    sub-unit rows, manifest. Arguments as :func:`kpi.evidence.bundle.build_bundle`."""
    p = parse_period(period)
    on_date = local_date(p.start)
    last_day = local_date(p.end) - dt.timedelta(days=1)
    pool = list(catalogs) if catalogs is not None else shipped_catalogs()
    attribution = Attribution(registry)
    name = registry.name_in(unit, period, horizon) if registry is not None else None
    level = levels.get(unit) or (registry.level_on(unit, on_date) if registry else None)
    scopes = [OWN, TOTAL] if unit in attribution.parents else [OWN]
    figures = {OWN: counters, TOTAL: totals or {}}
    behind = contributions_to(dossiers, [scoped(unit, s) for s in scopes], period, horizon,
                              attribution)
    parts: list[ScopePart] = []
    for scope in scopes:
        c = figures[scope].get((unit, period), Counters())
        criteria = report_criteria(c.to_dict(), level, on_date, pool, par_catalog)
        report = build_report(unit, period, c, horizon, criteria=criteria, level=level,
                              view=AS_WAS, scope=scope, unit_name=name)
        key = scoped(unit, scope)
        mine = behind[key]
        fam = families or Families()
        rows = {e["id"]: [row for ratio in criterion_ratios(e) for row in (
                    *criterion_rows(ratio, mine, horizon),
                    *family_criterion_rows(ratio, fam, key, period, horizon))]
                for e in criteria
                if criterion_ratios(e)}  # a criterion not scored has no rows
        parts.append(ScopePart(scope, report, rows, _totals_by_catalog(criteria),
                               petition_rows_for(fam, key, period),
                               procedure_rows_for(fam, key, period),
                               document_rows_for(fam, key, period)))

    subunits: list[SubunitRow] = []
    if registry is not None:
        for child in _below(registry, unit, on_date, last_day):
            scope = TOTAL if child.code in attribution.parents else OWN
            cc = figures[scope].get((child.code, period), Counters()).to_dict()
            ccrit = report_criteria(cc, levels.get(child.code, child.level), on_date, pool)
            child_report = build_report(child.code, period, Counters.from_mapping(cc), horizon)
            subunits.append(SubunitRow(child.code, child.name, child.level, cc,
                                       child_report["ratios"], _totals_by_catalog(ccrit),
                                       scope))

    criteria = parts[0].report["criteria"]
    used_labels = list(dict.fromkeys(
        c["catalog"] for part in parts for c in part.report["criteria"]))
    by_label = {c.label: c for c in [*pool, *([par_catalog] if par_catalog else [])]}
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "unit": unit,
        "unit_name": name,
        "level": level,
        "period": period,
        "period_start": to_local_datetime(p.start).isoformat(),
        "period_end": to_local_datetime(p.end).isoformat(),
        "as_of": parts[0].report["as_of"],
        "generated_at": to_local_datetime(generated_at).isoformat(),
        "view": AS_WAS,
        "catalogs": [_catalog_info(by_label[label]) for label in used_labels],
        "input": input_info.to_dict() if input_info else None,
        "registry": dict(registry_info) if registry_info else None,
        "totals": _totals_by_catalog(criteria),
        "scopes": {part.scope: {"totals": part.points} for part in parts},
    }
    return Bundle(unit, period, parts, subunits, manifest)


def _below(registry: UnitRegistry, unit: str, first: dt.date,
           last: dt.date) -> list[UnitVersion]:
    """The units with a version below ``unit`` overlapping ``first`` … ``last`` (each
    code once: its latest such version), in code order."""
    found: dict[str, UnitVersion] = {}
    for code in registry.codes:
        for v in registry.versions(code):
            if v.parent == unit and v.valid_from <= last and (v.valid_to or last) >= first:
                found[code] = v
    return [found[code] for code in sorted(found)]


__all__ = [
    "FORMAT",
    "Bundle",
    "InputInfo",
    "ScopePart",
    "SubunitRow",
    "assemble",
    "bundle_dirname",
    "criterion_ratios",
    "file_stem",
    "term_counts",
]
