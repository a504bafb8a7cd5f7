"""Evidence bundles (tài liệu kiểm chứng) of one unit and period.

Pure: everything here builds file *contents* from dossiers already summarised
(:func:`kpi.sla.summarize`) and counters already aggregated (:func:`kpi.batch.aggregate`);
no SQL, Kafka or HTTP. :func:`write_bundle` only writes the built files to a directory.

A bundle (``<unit>_<period>/``) holds:

* ``summary.html`` (Vietnamese, prints to A4) and ``summary.md``: each criterion with value,
  points, max, formula, numerator, denominator and gap to target; the counts and ratios —
  of the unit's own figures, and of its total when it has units below it in the registry
  (view ``as_was``, said in the header); with a registry, one row per unit directly below
  it during the period (e.g. the communes of a district), then the own and total rows;
* ``evidence.xlsx``: per scope a summary sheet, a counts sheet and one sheet per criterion
  listing the dossiers behind its numerator and denominator (and a sub-units sheet with a
  registry); every table names its view and scope (:mod:`~kpi.evidence.sheets`);
* per scope, a sheet per group of the scoring catalog (:mod:`~kpi.evidence.groups`; as
  many as the report's ``groups``), titled by the group's Vietnamese name: each metric with
  its numerator and denominator, the records behind them (what each adds), and the group's
  points;
* per scope, a sheet each of the v1.1 families (:mod:`~kpi.evidence.families`): the
  late-answered and open-overdue petitions (PAKN), the procedure catalog entries (offered
  level, used or not in the period) and the documents issued, each with the counts it
  stands for;
* one CSV per sheet (UTF-8 with BOM, so Excel reads Vietnamese correctly);
* ``manifest.json``: catalogs (id, version), the input file (path, SHA-256, lines),
  generation time, as_of and the SHA-256 of every other file of the bundle.

Modules, one job each: :mod:`~kpi.evidence.select` (which dossiers stand behind which
criterion), :mod:`~kpi.evidence.families` (which petitions, catalog entries and
documents), :mod:`~kpi.evidence.groups` (the metrics and records of each scoring group),
:mod:`~kpi.evidence.model` (the bundle as data), :mod:`~kpi.evidence.sheets`
(its tables and the cell safety rule), one renderer per format
(:mod:`~kpi.evidence.xlsx`, :mod:`~kpi.evidence.csv`, :mod:`~kpi.evidence.html`,
:mod:`~kpi.evidence.markdown`, sharing :mod:`~kpi.evidence.summary`), and
:mod:`~kpi.evidence.bundle` (every file, the manifest's hashes, the writer).
"""

from __future__ import annotations

from kpi.evidence.bundle import build_bundle, digest_file, sha256_bytes, write_bundle
from kpi.evidence.families import (
    DocumentRow,
    Families,
    PetitionRow,
    ProcedureRow,
    families_behind,
)
from kpi.evidence.groups import GroupTable, group_tables, report_groups
from kpi.evidence.html import render_html
from kpi.evidence.markdown import render_markdown
from kpi.evidence.model import FORMAT, Bundle, InputInfo, ScopePart, SubunitRow, bundle_dirname
from kpi.evidence.select import (
    Contributed,
    EvidenceRow,
    Term,
    contributions_to,
    criterion_rows,
    dossiers_behind,
    ratio_terms,
)
from kpi.evidence.sheets import Sheet, evidence_sheets, neutralise
from kpi.evidence.xlsx import render_xlsx

__all__ = [
    "FORMAT",
    "Bundle",
    "Contributed",
    "DocumentRow",
    "EvidenceRow",
    "Families",
    "GroupTable",
    "InputInfo",
    "PetitionRow",
    "ProcedureRow",
    "ScopePart",
    "Sheet",
    "SubunitRow",
    "Term",
    "build_bundle",
    "bundle_dirname",
    "contributions_to",
    "criterion_rows",
    "digest_file",
    "dossiers_behind",
    "evidence_sheets",
    "families_behind",
    "group_tables",
    "neutralise",
    "ratio_terms",
    "render_html",
    "render_markdown",
    "render_xlsx",
    "report_groups",
    "sha256_bytes",
    "write_bundle",
]
