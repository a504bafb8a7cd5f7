"""Official documents (văn bản điện tử — docs/contract.md): single-event facts.

Every visible ``document_issued`` fact of a subject counts once in ``documents_issued`` in
the periods of its instant (the unit in force then), and in ``documents_e_signed`` when it
is electronic and digitally signed (ký số). Duplicates (same ``source``, ``id``) are one
fact; two documents sent under one subject are two facts and count twice.
"""

from __future__ import annotations

from kpi.attribution import Attribution
from kpi.contribution import Levels, Row, add_rows
from kpi.dossier import DossierState, Fact
from kpi.periods import period_keys

ISSUED = "document_issued"
KINDS = frozenset({ISSUED})

_ISSUED = ("documents_issued",)
_E_SIGNED = ("documents_issued", "documents_e_signed")


def document_rows(state: DossierState, horizon: float, attribution: Attribution,
                  levels: Levels | None = None) -> list[Row]:
    """What the documents of one subject, as known before ``horizon``, add to each unit."""
    rows: list[Row] = []
    for fact in state.facts.values():
        if fact[0] == ISSUED and fact[1] < horizon:
            rows.extend(document_fact_rows(fact, attribution, levels))
    return rows


def document_fact_rows(fact: Fact, attribution: Attribution, levels: Levels | None = None
                       ) -> list[Row]:
    """What one visible ``document_issued`` fact adds to each unit."""
    rows: list[Row] = []
    _, ts, unit, level, electronic, signed = fact
    add_rows(rows, attribution, levels, unit, level, ts, period_keys(ts),
             _E_SIGNED if electronic and signed else _ISSUED)
    return rows


__all__ = ["KINDS", "document_fact_rows", "document_rows"]
