"""Citizen petitions (phản ánh, kiến nghị — PAKN, docs/contract.md): summary and counts.

A petition is a subject like a dossier: the set of its distinct facts
(:class:`kpi.dossier.DossierState`, kinds ``petition_received`` / ``petition_answered`` /
``petition_rated``), so duplicates and arrival order change nothing. Only petitions
``within_competence`` count (a petition outside it still names its dossier:
:mod:`kpi.links`). Judged as dossiers are, without pauses:

* ``petitions_received``: receipt instant in the period, the unit in force then;
* ``petitions_answered`` (+ ``_on_time`` when answered at or before the due instant,
  + ``petitions_unsatisfied`` when answered late or its latest visible rating is
  ``dissatisfied``): the first answer's instant, the unit in force then;
* ``petitions_open`` (+ ``_open_overdue`` when the due instant is before the judged
  instant): every period it is open at (:func:`kpi.contribution.open_judgements`), the
  unit in force at the period's end (or the horizon).

The due instant is ``due_at``, else ``processing_days`` working days after receipt on the
unit's calendar (the dossier rule; a petition by ``direct`` or ``postal`` channel counts as
paper for the afternoon cut-off when a unit sets one).
"""

from __future__ import annotations

from dataclasses import dataclass

from kpi.attribution import Attribution
from kpi.contribution import (
    Levels,
    Row,
    add_judged_rows,
    add_rows,
    next_open_change,
    open_judgements,
)
from kpi.dossier import DossierState, Fact
from kpi.periods import period_keys
from kpi.sla import CalendarFor

RECEIVED = "petition_received"
ANSWERED = "petition_answered"
RATED = "petition_rated"
KINDS = frozenset({RECEIVED, ANSWERED, RATED})


@dataclass(frozen=True, slots=True)
class Petition:
    """What is known of one petition before a horizon."""

    code: str
    unit: str
    level: str
    within_competence: bool
    received_at: float
    due_at: float
    answered_at: float | None
    rating: str | None
    """The latest visible rating (the petitioner's response to the answer)."""
    dossier_code: str | None

    @property
    def answered_late(self) -> bool:
        return self.answered_at is not None and self.answered_at > self.due_at


def _key(fact: Fact) -> tuple[float, str]:
    return fact[1], repr(fact)


def summarize_petition(state: DossierState, horizon: float, calendar_for: CalendarFor
                       ) -> Petition | None:
    """The petition as known before ``horizon``; None until its receipt is visible."""
    received: list[Fact] = []
    answers: list[float] = []
    ratings: list[Fact] = []
    for fact in state.facts.values():
        if fact[1] >= horizon:
            continue
        kind = fact[0]
        if kind == RECEIVED:
            received.append(fact)
        elif kind == ANSWERED:
            answers.append(fact[1])
        elif kind == RATED:
            ratings.append(fact)
    if not received:
        return None
    rec = min(received, key=_key)
    _, received_at, unit, level, competent, due_at, days, dossier_code, channel = rec
    if due_at is None:
        due_at = calendar_for(unit).due_instant(received_at, days,
                                                paper=channel in ("direct", "postal"))
    rating = max(ratings, key=_key)[2] if ratings else None
    return Petition(state.code, unit, level, bool(competent), received_at, due_at,
                    min(answers) if answers else None, rating, dossier_code)


_OPEN: tuple[str, ...] = ("petitions_open",)
_OPEN_OVERDUE: tuple[str, ...] = ("petitions_open", "petitions_open_overdue")


def petition_rows(p: Petition, horizon: float, attribution: Attribution,
                  levels: Levels | None = None) -> list[Row]:
    """What one petition, as known before ``horizon``, adds to each unit."""
    rows: list[Row] = []
    if not p.within_competence:
        return rows
    add_rows(rows, attribution, levels, p.unit, p.level, p.received_at,
             period_keys(p.received_at), ("petitions_received",))
    if p.answered_at is not None:
        keys = ["petitions_answered"]
        late = p.answered_late
        if not late:
            keys.append("petitions_answered_on_time")
        if late or p.rating == "dissatisfied":
            keys.append("petitions_unsatisfied")
        add_rows(rows, attribution, levels, p.unit, p.level, p.answered_at,
                 period_keys(p.answered_at), tuple(keys))
    judged = [(key, t, _OPEN_OVERDUE if p.due_at < t else _OPEN)
              for key, t in open_judgements(p.received_at, p.answered_at, horizon)]
    add_judged_rows(rows, attribution, levels, p.unit, p.level, judged)
    return rows


def petition_next_change(p: Petition | None, horizon: float, attribution: Attribution
                         ) -> list[float]:
    """Instants ≥ ``horizon`` at which the petition's rows may change with no new event
    (besides its future-dated facts): while open and counted, its due instant passing, a
    new month, a unit version changing."""
    if p is None or not p.within_competence or p.answered_at is not None:
        return []
    out = next_open_change(horizon, attribution)
    if p.due_at >= horizon:
        out.append(p.due_at)
    return out


__all__ = ["KINDS", "Petition", "petition_next_change", "petition_rows", "summarize_petition"]
