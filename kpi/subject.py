"""One subject's whole contribution, whatever its family: the single entry point the batch
report and the stream worker share.

A subject (one ``subject`` of the event contract) is usually one of: a dossier
(:mod:`kpi.sla`, :mod:`kpi.contribution`), a petition (:mod:`kpi.petition`), a procedure
catalog entry (:mod:`kpi.procedure_catalog`) or the documents sent under one code
(:mod:`kpi.document`). Each family reads only its own fact kinds, so a subject holding facts
of several families (two systems reusing one code) simply adds up each family's rows.
Dossiers come first and cost nothing more: the other families are looked at only when
the subject is not a dossier or holds foreign facts (:attr:`kpi.sla.Dossier.mixed`).
"""

from __future__ import annotations

from kpi.attribution import NO_REGISTRY, Attribution
from kpi.contribution import (
    DEFAULT_SYNC_WINDOW,
    Contribution,
    Levels,
    Row,
    contribution_rows,
    next_change,
)
from kpi.document import document_rows
from kpi.dossier import DossierState
from kpi.petition import petition_next_change, petition_rows, summarize_petition
from kpi.procedure_catalog import entry_next_change, entry_rows, summarize_entry
from kpi.sla import CalendarFor, Dossier, summarize


def other_rows(state: DossierState, horizon: float, calendar_for: CalendarFor,
               attribution: Attribution, levels: Levels | None) -> list[Row]:
    """The rows of the non-dossier families of ``state``."""
    rows: list[Row] = []
    p = summarize_petition(state, horizon, calendar_for)
    if p is not None:
        rows.extend(petition_rows(p, horizon, attribution, levels))
    e = summarize_entry(state, horizon)
    if e is not None:
        rows.extend(entry_rows(e, horizon, attribution, levels))
    rows.extend(document_rows(state, horizon, attribution, levels))
    return rows


def subject_rows(state: DossierState, horizon: float, calendar_for: CalendarFor,
                 attribution: Attribution = NO_REGISTRY, levels: Levels | None = None,
                 summary: Dossier | None = None, *, summarized: bool = False,
                 sync_window: float = DEFAULT_SYNC_WINDOW) -> list[Row]:
    """What one subject, as known before ``horizon``, adds to each unit (rows as
    :func:`kpi.contribution.contribution_rows`, ``sync_window`` in seconds).
    ``summary``/``summarized`` as for :func:`kpi.contribution.next_change`."""
    d = summary if summary is not None or summarized else summarize(
        state, horizon, calendar_for)
    if d is not None:
        rows = contribution_rows(d, horizon, attribution, levels, sync_window)
        if d.mixed:
            rows.extend(other_rows(state, horizon, calendar_for, attribution, levels))
        return rows
    return other_rows(state, horizon, calendar_for, attribution, levels)


def subject_contribution(state: DossierState, horizon: float, calendar_for: CalendarFor,
                         attribution: Attribution = NO_REGISTRY,
                         sync_window: float = DEFAULT_SYNC_WINDOW) -> Contribution:
    """:func:`subject_rows` as ``{(counter key, period): {row key: n}}`` (row keys may be
    distinct row keys, :func:`kpi.counters.distinct_key`)."""
    out: Contribution = {}
    for unit, periods, keys in subject_rows(state, horizon, calendar_for, attribution,
                                            sync_window=sync_window):
        for pk in periods:
            bucket = out.setdefault((unit, pk), {})
            for key in keys:
                bucket[key] = bucket.get(key, 0) + 1
    return out


def subject_next_change(state: DossierState, horizon: float, calendar_for: CalendarFor,
                        summary: Dossier | None = None, *, summarized: bool = False,
                        attribution: Attribution = NO_REGISTRY) -> float | None:
    """:func:`kpi.contribution.next_change` for any subject: the earliest instant ≥
    ``horizon`` after which its rows may change with no new event."""
    d = summary if summary is not None or summarized else summarize(
        state, horizon, calendar_for)
    first = next_change(state, horizon, calendar_for, d, summarized=True,
                        attribution=attribution)
    if d is not None and not d.mixed:
        return first
    candidates = [] if first is None else [first]
    candidates.extend(petition_next_change(summarize_petition(state, horizon, calendar_for),
                                           horizon, attribution))
    candidates.extend(entry_next_change(summarize_entry(state, horizon), horizon,
                                        attribution))
    future = [t for t in candidates if t >= horizon]
    return min(future) if future else None


__all__ = ["other_rows", "subject_contribution", "subject_next_change", "subject_rows"]
