"""The dossier (hồ sơ) state: a pure, order-insensitive, idempotent fold over its events.

A dossier's state is the *set* of its distinct events, reduced to compact facts and keyed
by the deduplication key (``source``, ``id``). Everything else (due instant, pauses,
completion, classification) is derived from that set by :func:`summarize`, so

* a duplicate (``source``, ``id``) changes nothing,
* any arrival order of one dossier's events gives the same state,
* events that arrive before ``dossier.received`` are kept and count once it arrives.

Should two different events share a (``source``, ``id``), the one whose fact sorts first is
kept, so even that conflict resolves the same way in every order.

A fact is a tuple ``(kind, ts, *payload)`` with ``ts`` in epoch seconds:

=========================  =====================================================
kind                       payload
=========================  =====================================================
``received``               unit, level, procedure, channel, online_level,
                           full_online_eligible, due_at (ts or None),
                           processing_days (or None), fee_required, paper_result,
                           handling unit (or None), handling level (or None) — the
                           last two since v1.1: a 12-field fact of an older
                           state means "handled where received"; then, only when
                           either is true (v1.2), reuse_eligible, citizen_data_used
``transferred``            from_unit, to_unit
``supplement_requested``   —  (yêu cầu bổ sung: the SLA clock pauses)
``supplemented``           —  (đã bổ sung: the clock resumes)
``extended``               new_due_at ts (xin lỗi và hẹn lại)
``resolved``               result_electronic
``returned``               —
``rejected``/``withdrawn`` —
``stopped``                —  (dừng giải quyết, v1.1: terminal like withdrawn)
``synced``                 target (đồng bộ lên Cổng DVCQG, v1.1)
``digitized``              components_total, components_digitized,
                           components_reused (v1.1; absent in older states: 0)
``payment``                method, then ``True`` when paid through gateway ``dvcqg``
                           (v1.2; absent otherwise)
``rated``                  rating
``petitioned``             petition code — a *link* fact (:mod:`kpi.links`): a petition
                           that names this dossier, visible from its receipt
=========================  =====================================================

The same fact model holds the other subjects of docs/contract.md (one state per
``subject``; each family reads only its own kinds, :mod:`kpi.subject`):

==========================  ====================================================
kind                        payload
==========================  ====================================================
``petition_received``       unit, level, within_competence, due_at (ts or None),
                            processing_days (or None), dossier_code (or None),
                            channel (or None)  — PAKN (:mod:`kpi.petition`)
``petition_answered``       —
``petition_rated``          rating
``procedure_published``     unit, level, procedure, online_level, online_payment,
                            decided_at (ts or None), due_at (ts or None), and since
                            v1.2 fee_required, content_complete,
                            citizen_data_connected, e_certified_copy (absent in older
                            states: False, True, False, False) — a catalog entry
                            (:mod:`kpi.procedure_catalog`)
``procedure_withdrawn``     —
``used``                    received_at, flag (``online`` | ``full`` | ``payment``),
                            dossier code — a *link* fact: a dossier of this entry's
                            (unit, procedure), visible from ``ts``
``document_issued``         unit, level, electronic, digitally_signed
                            (:mod:`kpi.document`)
==========================  ====================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.eventdata import (
    DigitizedData,
    DocumentIssuedData,
    ExtendedData,
    PaymentData,
    PetitionReceivedData,
    ProcedurePublishedData,
    RatedData,
    ReceivedData,
    ResolvedData,
    SyncedData,
    TransferredData,
)
from schemas.events import TYPE_PREFIX, Event

Fact = tuple[Any, ...]
FactKey = str  # "source\x1fid"

KEY_SEPARATOR = "\x1f"

KIND_OF_TYPE = {  # type without the vn.gov.motcua. prefix → fact kind
    "dossier.received": "received",
    "dossier.transferred": "transferred",
    "dossier.supplement_requested": "supplement_requested",
    "dossier.supplemented": "supplemented",
    "dossier.extended": "extended",
    "dossier.resolved": "resolved",
    "dossier.returned": "returned",
    "dossier.rejected": "rejected",
    "dossier.withdrawn": "withdrawn",
    "dossier.stopped": "stopped",
    "dossier.synced": "synced",
    "dossier.digitized": "digitized",
    "payment.completed": "payment",
    "feedback.rated": "rated",
    "petition.received": "petition_received",
    "petition.answered": "petition_answered",
    "petition.rated": "petition_rated",
    "procedure.published": "procedure_published",
    "procedure.withdrawn": "procedure_withdrawn",
    "document.issued": "document_issued",
}


PORTAL_GATEWAY = "dvcqg"
"""The national portal's payment gateway (and its sync target)."""


def fact_key(source: str, event_id: str) -> FactKey:
    return f"{source}{KEY_SEPARATOR}{event_id}"


def fact_of(event: Event) -> Fact:
    """The compact fact of a validated event (its ``data`` narrowed by its model class)."""
    kind = KIND_OF_TYPE[event.type[len(TYPE_PREFIX) :]]
    ts = event.time.timestamp()
    d = event.data
    if isinstance(d, ReceivedData):
        extra: tuple[bool, ...] = ()
        if d.reuse_eligible or d.citizen_data_used:
            extra = (d.reuse_eligible, d.citizen_data_used)
        return (
            kind, ts, d.unit_code, d.unit_level.value, d.procedure_code, d.channel.value,
            d.online_level.value, d.full_online_eligible, _instant(d.due_at),
            d.processing_days, d.fee_required, d.paper_result, d.handling_unit_code,
            d.handling_unit_level.value if d.handling_unit_level is not None else None,
        ) + extra
    if isinstance(d, TransferredData):
        return (kind, ts, d.from_unit, d.to_unit)
    if isinstance(d, ExtendedData):
        return (kind, ts, d.new_due_at.timestamp())
    if isinstance(d, ResolvedData):
        return (kind, ts, d.result_electronic)
    if isinstance(d, DigitizedData):
        return (kind, ts, d.components_total, d.components_digitized, d.components_reused)
    if isinstance(d, SyncedData):
        return (kind, ts, d.target)
    if isinstance(d, PaymentData):
        if d.gateway == PORTAL_GATEWAY:
            return (kind, ts, d.method.value, True)
        return (kind, ts, d.method.value)
    if isinstance(d, RatedData):  # feedback.rated and petition.rated
        return (kind, ts, d.rating.value)
    if isinstance(d, PetitionReceivedData):
        return (kind, ts, d.unit_code, d.unit_level.value, d.within_competence,
                _instant(d.due_at), d.processing_days, d.dossier_code,
                d.channel.value if d.channel is not None else None)
    if isinstance(d, ProcedurePublishedData):
        return (kind, ts, d.unit_code, d.unit_level.value, d.procedure_code,
                d.online_level.value, d.online_payment, _instant(d.decided_at),
                _instant(d.due_at), d.fee_required, d.content_complete,
                d.citizen_data_connected, d.e_certified_copy)
    if isinstance(d, DocumentIssuedData):
        return (kind, ts, d.unit_code, d.unit_level.value, d.electronic, d.digitally_signed)
    return (kind, ts)


def _instant(at: datetime | None) -> float | None:
    return at.timestamp() if at is not None else None


def fact_rank(fact: Fact) -> tuple[str, ...]:
    """The rank of copies that compete under one fact key: the state keeps the copy of the
    lowest rank (:meth:`DossierState.with_fact`), whatever the order they arrive in."""
    return tuple(repr(x) for x in fact)


def keeps(old: Fact, new: Fact) -> bool:
    """Whether a state holding ``old`` under a key keeps it when ``new`` arrives under the
    same key: ``new`` is the same fact or does not rank below it (:func:`fact_rank`)."""
    return old == new or fact_rank(old) <= fact_rank(new)


@dataclass(frozen=True, slots=True)
class DossierState:
    """All distinct facts known about one dossier (mã hồ sơ = ``code``)."""

    code: str
    facts: dict[FactKey, Fact]

    @classmethod
    def empty(cls, code: str) -> DossierState:
        return cls(code, {})

    def with_fact(self, key: FactKey, fact: Fact) -> DossierState:
        """A new state with one more fact (the same state object if nothing changes)."""
        old = self.facts.get(key)
        if old is not None and keeps(old, fact):
            return self
        facts = dict(self.facts)
        facts[key] = fact
        return DossierState(self.code, facts)

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "facts": {k: list(v) for k, v in self.facts.items()}}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> DossierState:
        return cls(obj["code"], {k: tuple(v) for k, v in obj["facts"].items()})


def apply(state: DossierState | None, event: Event) -> DossierState:
    """The fold: the state after ``event`` (pure; ``state`` is not modified)."""
    if state is None:
        state = DossierState.empty(event.subject)
    return state.with_fact(fact_key(event.source, event.id), fact_of(event))


def fold(events: Iterable[Event], code: str | None = None) -> DossierState | None:
    state: DossierState | None = DossierState.empty(code) if code else None
    for event in events:
        state = apply(state, event)
    return state


def add_fact(facts: dict[FactKey, Fact], key: FactKey, fact: Fact) -> None:
    """In-place variant of :meth:`DossierState.with_fact` for the batch path."""
    old = facts.get(key)
    if old is None or not keeps(old, fact):
        facts[key] = fact


__all__ = [
    "fact_rank",
    "keeps",
    "DossierState",
    "Fact",
    "FactKey",
    "add_fact",
    "apply",
    "PORTAL_GATEWAY",
    "fact_key",
    "fact_of",
    "fold",
]
