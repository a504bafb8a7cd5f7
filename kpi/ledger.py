"""The dossier ledger (sổ theo dõi hồ sơ): what one dossier's ledger entry says as of a
horizon.

An entry is a pure function of the dossier's events and the horizon: the events are
folded into a :class:`~kpi.dossier.DossierState` with the one decode path
(:func:`kpi.decode.decode`), summarized as known before the horizon
(:func:`kpi.sla.summarize`) and classified (:meth:`kpi.sla.Dossier.status_at`), so the
entry is the same whatever order the events arrived in. A dossier whose ``received`` is not
visible yet has no entry.

Instants are epoch seconds (``None``: not happened); the SQL store converts them to its
column types.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from kpi.decode import decode
from kpi.dossier import DossierState, Fact, FactKey, add_fact
from kpi.sla import (
    EARLY,
    IN_PROGRESS,
    LATE,
    ON_TIME,
    OVERDUE,
    REJECTED,
    STOPPED,
    WITHDRAWN,
    CalendarFor,
    Dossier,
    summarize,
)

RULE_SET_VERSION = "events-v1.1/sla-2"
"""Which rules classified a ledger entry (bump when :mod:`kpi.sla` changes meaning):
``sla-2`` is docs/contract.md (``stopped``; an open dossier with two supplement requests is
overdue)."""

CLASSIFICATIONS = (EARLY, ON_TIME, LATE, IN_PROGRESS, OVERDUE, REJECTED, WITHDRAWN, STOPPED)
"""Every value of :attr:`LedgerEntry.classification`."""


class LedgerEntry(NamedTuple):
    """One dossier's ledger entry as of a horizon (field names are the ledger's columns)."""

    code: str
    unit: str
    """The receiving unit's code as sent (nơi tiếp nhận)."""
    level: str
    handling_unit: str
    """The handling unit's code as sent (cơ quan giải quyết; docs/contract.md
    ``handling_unit_code``), else the receiving unit's."""
    procedure: str
    channel: str
    received_at: float
    due_at: float
    """Original due instant."""
    extended_due_at: float | None
    completed_at: float | None
    ended_at: float | None
    """Rejection, withdrawal or stop notice (dừng giải quyết) before completion."""
    classification: str
    """early / on_time / late / in_progress / overdue / rejected / withdrawn / stopped
    (:data:`CLASSIFICATIONS`)."""
    supplement_requests: int
    paused_seconds: float
    """Citizen time (supplement pauses) before the horizon."""
    apology: bool
    paid_online: bool
    digitized: bool
    rule_set_version: str


def paused_seconds(d: Dossier, horizon: float) -> float:
    """Seconds ``d`` spent paused before ``horizon`` (an open pause runs up to it)."""
    paused = 0.0
    for start, end in d.pauses:
        stop = horizon if end is None else min(end, horizon)
        paused += max(0.0, stop - start)
    return paused


def ledger_entry(d: Dossier, horizon: float) -> LedgerEntry:
    """The ledger entry of a dossier summarized at ``horizon``."""
    return LedgerEntry(
        d.code, d.unit, d.level, d.handling_unit, d.procedure, d.channel, d.received_at, d.due_at,
        d.extended_due_at, d.completed_at, d.ended_at, d.status_at(horizon),
        d.supplement_requests, paused_seconds(d, horizon), d.apology_at is not None,
        d.paid_online, d.digitized, RULE_SET_VERSION,
    )


def fold_events(code: str, payloads: Iterable[bytes]) -> DossierState:
    """The state of dossier ``code`` from its events' bytes. They must be valid events
    (the ledger is built from stored events, validated when stored): an invalid one raises
    :class:`schemas.errors.InvalidEvent`."""
    facts: dict[FactKey, Fact] = {}
    for raw in payloads:
        _, key, fact = decode(raw)
        add_fact(facts, key, fact)
    return DossierState(code, facts)


def judge(
    code: str, payloads: Iterable[bytes], horizon: float, calendar_for: CalendarFor
) -> LedgerEntry | None:
    """The ledger entry of dossier ``code`` from its events as known before ``horizon``;
    ``None`` while its ``received`` event is not among them."""
    return judge_state(fold_events(code, payloads), horizon, calendar_for)


def judge_state(
    state: DossierState, horizon: float, calendar_for: CalendarFor
) -> LedgerEntry | None:
    """:func:`judge` of a dossier already folded (its facts decoded by the caller)."""
    d = summarize(state, horizon, calendar_for)
    return None if d is None else ledger_entry(d, horizon)


__all__ = ["CLASSIFICATIONS", "RULE_SET_VERSION", "LedgerEntry", "fold_events", "judge",
           "judge_state", "ledger_entry", "paused_seconds"]
