"""The evidence bundle as data: what a bundle of one unit and period holds before any file
format (:func:`assemble`), and the input it was built from (:class:`InputInfo`).

The manifest (``manifest.json`` without its ``files`` hashes, which :mod:`kpi.evidence.bundle`
adds) records the catalogs (id, version), the input, the registry, the generation time, as_of
and the points per catalog.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kpi.calendar import local_date, to_local_datetime
from kpi.catalog import Catalog, shipped_catalogs
from kpi.counters import Counters
from kpi.evidence.select import EvidenceRow, criterion_rows
from kpi.periods import parse_period
from kpi.report import build_report, report_criteria
from kpi.scoring import totals
from kpi.sla import Dossier
from kpi.units import UnitRegistry, rollup

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
    """One unit directly below the bundle's unit: its counts, ratios and points."""

    code: str
    name: str
    level: str
    counts: dict[str, int]
    ratios: dict[str, float | None]
    totals: dict[str, dict[str, float]]
    """catalog label → {points, max_points}."""


@dataclass
class Bundle:
    """A unit and period's evidence: the report, the dossier rows behind each criterion, the
    sub-unit rows (with a registry), the manifest and, once built, the files."""

    unit: str
    period: str
    report: dict[str, Any]
    criteria_rows: dict[str, list[EvidenceRow]]
    """criterion id → its dossier rows."""
    subunits: list[SubunitRow]
    rollup_counts: dict[str, int] | None
    manifest: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    """file name → content, manifest.json included."""

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
    """(term, numerator, denominator) of a report criterion entry, as counts."""
    if "terms" in entry:
        return [(name, n, d) for name, (n, d) in entry["terms"].items()]
    return [(entry["ratio"], entry["numerator"], entry["denominator"])]


def assemble(
    *,
    unit: str,
    period: str,
    dossiers: Iterable[Dossier],
    counters: Mapping[tuple[str, str], Counters],
    levels: Mapping[str, str],
    horizon: float,
    generated_at: float,
    input_info: InputInfo | None = None,
    catalogs: Sequence[Catalog] | None = None,
    par_catalog: Catalog | None = None,
    registry: UnitRegistry | None = None,
    registry_info: Mapping[str, Any] | None = None,
) -> Bundle:
    """The bundle of ``unit`` and ``period`` as known before ``horizon``, without files:
    report, dossier rows per criterion, sub-unit rows and roll-up, manifest. Arguments as
    :func:`kpi.evidence.bundle.build_bundle`."""
    p = parse_period(period)
    on_date = local_date(p.start)
    pool = list(catalogs) if catalogs is not None else shipped_catalogs()
    unit_info = registry.units.get(unit) if registry is not None else None
    level = levels.get(unit) or (unit_info.level if unit_info else None)
    own = counters.get((unit, period), Counters())
    criteria = report_criteria(own.to_dict(), level, on_date, pool, par_catalog)
    report = build_report(unit, period, own, horizon, criteria=criteria, level=level)
    if unit_info is not None:
        report["unit_name"] = unit_info.name

    mine = [d for d in dossiers if d.unit == unit]
    rows = {c["id"]: criterion_rows(c["ratio"], mine, unit, period, horizon) for c in criteria}

    subunits: list[SubunitRow] = []
    rolled: dict[str, int] | None = None
    if registry is not None:
        children = sorted(registry.children(unit), key=lambda u: u.code)
        for child in children:
            cc = counters.get((child.code, period), Counters()).to_dict()
            ccrit = report_criteria(cc, levels.get(child.code, child.level), on_date, pool)
            child_report = build_report(child.code, period, Counters.from_mapping(cc), horizon)
            subunits.append(SubunitRow(child.code, child.name, child.level, cc,
                                       child_report["ratios"], _totals_by_catalog(ccrit)))
        if children:
            rolled = rollup(counters, registry).get((unit, period), Counters()).to_dict()

    used_labels = list(dict.fromkeys(c["catalog"] for c in criteria))
    by_label = {c.label: c for c in [*pool, *([par_catalog] if par_catalog else [])]}
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "unit": unit,
        "unit_name": unit_info.name if unit_info else None,
        "level": level,
        "period": period,
        "period_start": to_local_datetime(p.start).isoformat(),
        "period_end": to_local_datetime(p.end).isoformat(),
        "as_of": report["as_of"],
        "generated_at": to_local_datetime(generated_at).isoformat(),
        "catalogs": [_catalog_info(by_label[label]) for label in used_labels],
        "input": input_info.to_dict() if input_info else None,
        "registry": dict(registry_info) if registry_info else None,
        "totals": _totals_by_catalog(criteria),
    }
    return Bundle(unit, period, report, rows, subunits, rolled, manifest)


__all__ = [
    "FORMAT",
    "Bundle",
    "InputInfo",
    "SubunitRow",
    "assemble",
    "bundle_dirname",
    "file_stem",
    "term_counts",
]
