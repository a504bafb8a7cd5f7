"""The bundle's files: every file rendered, the manifest with the SHA-256 of each, and
the writer that puts them in ``<out>/<unit>_<period>/``; digests of the input."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kpi.catalog import Catalog
from kpi.counters import Counters
from kpi.evidence.csv import csv_bytes
from kpi.evidence.families import Families
from kpi.evidence.html import render_html
from kpi.evidence.markdown import render_markdown
from kpi.evidence.model import Bundle, InputInfo, assemble
from kpi.evidence.sheets import evidence_sheets
from kpi.evidence.xlsx import render_xlsx
from kpi.registry import UnitRegistry
from kpi.sla import Dossier


def build_bundle(
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
    """Every file of the evidence bundle of ``unit`` and ``period``, as known before
    ``horizon``, in the view ``as_was``. ``counters`` / ``totals`` / ``levels`` are the
    fields of :func:`kpi.batch.aggregate` run with the same ``registry`` (the bundle
    attributes the dossier rows with it: the sheets add up to those counters);
    ``dossiers`` the summarised dossiers (those without a row for the unit are ignored;
    :func:`kpi.evidence.select.dossiers_behind` selects them beforehand); ``families``
    the petitions, catalog entries and documents of the same input
    (:func:`kpi.evidence.families.families_behind` with the same attribution; none: the
    family sheets are empty)."""
    bundle = assemble(
        unit=unit, period=period, dossiers=dossiers, counters=counters, levels=levels,
        horizon=horizon, generated_at=generated_at, totals=totals, input_info=input_info,
        catalogs=catalogs,
        par_catalog=par_catalog, registry=registry, registry_info=registry_info,
        families=families,
    )
    files: dict[str, bytes] = {}
    files["summary.html"] = render_html(bundle).encode("utf-8")
    files["summary.md"] = render_markdown(bundle).encode("utf-8")
    sheets = evidence_sheets(bundle)
    files["evidence.xlsx"] = render_xlsx(sheets, generated_at)
    for sheet in sheets:
        files[sheet.csv_name] = csv_bytes(sheet.rows)
    manifest = bundle.manifest
    manifest["files"] = {name: sha256_bytes(data) for name, data in sorted(files.items())}
    files["manifest.json"] = (
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
    ).encode("utf-8")
    bundle.files = files
    return bundle


def write_bundle(bundle: Bundle, out_dir: Path) -> Path:
    """Write the bundle's files to ``out_dir/<unit>_<period>/``; returns that directory."""
    target = out_dir / bundle.dirname
    target.mkdir(parents=True, exist_ok=True)
    for name, data in bundle.files.items():
        (target / name).write_bytes(data)
    return target


def digest_file(path: Path) -> tuple[str, int]:
    """(SHA-256 hex, number of lines) of a file; a last line without newline counts."""
    h = hashlib.sha256()
    lines = 0
    last = b"\n"
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        lines += 1
    return h.hexdigest(), lines


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


__all__ = ["build_bundle", "digest_file", "sha256_bytes", "write_bundle"]
