"""The procedure catalog (danh mục TTHC, công khai — docs/contract.md): one entry per
(unit, procedure), ``subject`` = ``{unit_code}/{procedure_code}``.

An entry's state is the set of its facts (kinds ``procedure_published``,
``procedure_withdrawn``, and ``used`` link facts from the dossiers of that (receiving unit,
procedure): :mod:`kpi.links`). As known before a horizon:

* the entry is *in force* at an instant ``J`` when its latest publication or withdrawal
  before ``J`` is a publication, which also says what it offers then (``online_level``,
  ``online_payment``: a later publication updates the entry);
* ``procedures_published`` (+ ``_on_time`` when at or before its ``due_at``, or without
  one): the entry's first publication, counted in the periods of its instant, the unit in
  force then;
* for every period from the first publication up to the horizon, judged at the period's end
  (or the horizon while it runs), an entry in force counts in ``procedures`` and, by what it
  offers, ``procedures_online`` / ``_full_online`` / ``_online_payment``, each with its
  ``_used`` count when a dossier of that (receiving unit, procedure) was received in the
  period online / fully online / paid online (a ``used`` link received in the period); the
  unit is the one in force just before the judged instant.

v1.2 (docs/contract.md): every publication after an entry's first is an *update*, counted
in ``procedures_updated`` (+ ``_on_time`` at or before its own ``due_at``, or without one)
in the periods of its instant, the unit in force then; an entry in force counts, by its
latest publication, in ``procedures_complete``, ``procedures_citizen_data``,
``fee_procedures`` (+ ``_paid_online`` / ``_paid_portal`` when a dossier of it received in
the period was paid online / through the portal's gateway) and, when its unit in force is
a commune, ``communes_e_certified_copy`` (once per commune). A unit's total counts the
catalog keys once per procedure code (:func:`kpi.contribution.add_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass

from kpi.attribution import Attribution
from kpi.contribution import Levels, Row, add_judged_rows, add_rows, next_open_change
from kpi.dossier import DossierState, Fact
from kpi.periods import period_keys, periods_between

PUBLISHED = "procedure_published"
WITHDRAWN = "procedure_withdrawn"
USED = "used"
KINDS = frozenset({PUBLISHED, WITHDRAWN, USED})

ONLINE, FULL, PAYMENT, PORTAL = "online", "full", "payment", "portal"
"""Flags of a ``used`` link: a dossier received with channel ``online``, with
``online_level`` ``full``, paid online, paid online through the portal's gateway (v1.2)."""


@dataclass(frozen=True, slots=True)
class Offer:
    """What an entry in force offers, by its latest publication."""

    online_level: str
    online_payment: bool
    fee_required: bool = False
    content_complete: bool = True
    citizen_data_connected: bool = False
    e_certified_copy: bool = False


def offer_of(fact: Fact) -> Offer:
    """The offer of a ``procedure_published`` fact (v1.1 facts: the v1.2 defaults)."""
    if len(fact) > 9:
        return Offer(fact[5], bool(fact[6]), bool(fact[9]), bool(fact[10]), bool(fact[11]),
                     bool(fact[12]))
    return Offer(fact[5], bool(fact[6]))


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """What is known of one catalog entry before a horizon."""

    subject: str
    unit: str
    level: str
    procedure: str
    first_published_at: float
    published_on_time: bool
    changes: tuple[Fact, ...]
    """Publications and withdrawals, in time order (ties by content)."""
    used: dict[str, tuple[float, ...]]
    """Flag → receipt instants of the dossiers that used the entry that way."""
    publish_due_at: float | None = None
    """The ``due_at`` (deadline to publish) of the first publication, if it gave one."""
    updates: tuple[tuple[float, bool], ...] = ()
    """(instant, on time) of every publication after the first (v1.2 updates)."""

    def offer_at(self, instant: float) -> Offer | None:
        """What the entry offers at ``instant`` (changes strictly before it), None when
        not in force."""
        latest = None
        for fact in self.changes:
            if fact[1] >= instant:
                break
            latest = fact
        if latest is None or latest[0] != PUBLISHED:
            return None
        return offer_of(latest)


def summarize_entry(state: DossierState, horizon: float) -> CatalogEntry | None:
    """The entry as known before ``horizon``; None until a publication is visible."""
    changes: list[Fact] = []
    used: dict[str, list[float]] = {}
    for fact in state.facts.values():
        if fact[1] >= horizon:
            continue
        kind = fact[0]
        if kind == PUBLISHED or kind == WITHDRAWN:
            changes.append(fact)
        elif kind == USED:
            used.setdefault(fact[3], []).append(fact[2])
    published = [f for f in changes if f[0] == PUBLISHED]
    if not published:
        return None
    changes.sort(key=lambda f: (f[1], repr(f)))
    first = min(published, key=lambda f: (f[1], repr(f)))
    due = first[8]
    updates = tuple(sorted((f[1], f[8] is None or f[1] <= f[8]) for f in published
                           if f is not first))
    return CatalogEntry(state.code, first[2], first[3], first[4], first[1],
                        due is None or first[1] <= due, tuple(changes),
                        {flag: tuple(sorted(ts)) for flag, ts in used.items()}, due, updates)


_UPDATED = ("procedures_updated",)
_UPDATED_ON_TIME = ("procedures_updated", "procedures_updated_on_time")


def _used_in(instants: tuple[float, ...] | None, start: float, end: float) -> bool:
    return instants is not None and any(start <= t < end for t in instants)


def entry_rows(e: CatalogEntry, horizon: float, attribution: Attribution,
               levels: Levels | None = None) -> list[Row]:
    """What one catalog entry, as known before ``horizon``, adds to each unit."""
    rows: list[Row] = []
    published = ("procedures_published", "procedures_published_on_time") \
        if e.published_on_time else ("procedures_published",)
    add_rows(rows, attribution, levels, e.unit, e.level, e.first_published_at,
             period_keys(e.first_published_at), published)
    for at, on_time in e.updates:
        add_rows(rows, attribution, levels, e.unit, e.level, at, period_keys(at),
                 _UPDATED_ON_TIME if on_time else _UPDATED)
    judged: list[tuple[str, float, tuple[str, ...]]] = []
    for period in periods_between(e.first_published_at, horizon):
        if period.start >= horizon:
            continue
        instant = period.end if period.end < horizon else horizon
        offer = e.offer_at(instant)
        if offer is None:
            continue
        online_level, payment = offer.online_level, offer.online_payment
        keys = ["procedures"]
        if online_level != "none":
            keys.append("procedures_online")
            if _used_in(e.used.get(ONLINE), period.start, period.end):
                keys.append("procedures_online_used")
        if online_level == "full":
            keys.append("procedures_full_online")
            if _used_in(e.used.get(FULL), period.start, period.end):
                keys.append("procedures_full_online_used")
        if payment:
            keys.append("procedures_online_payment")
            if _used_in(e.used.get(PAYMENT), period.start, period.end):
                keys.append("procedures_online_payment_used")
        if offer.content_complete:
            keys.append("procedures_complete")
        if offer.citizen_data_connected:
            keys.append("procedures_citizen_data")
        if offer.fee_required:
            keys.append("fee_procedures")
            if _used_in(e.used.get(PAYMENT), period.start, period.end):
                keys.append("fee_procedures_paid_online")
            if _used_in(e.used.get(PORTAL), period.start, period.end):
                keys.append("fee_procedures_paid_portal")
        if offer.e_certified_copy:
            keys.append("communes_e_certified_copy")
        judged.append((period.key, instant, tuple(keys)))
    add_judged_rows(rows, attribution, levels, e.unit, e.level, judged, e.procedure)
    return rows


def entry_next_change(e: CatalogEntry | None, horizon: float, attribution: Attribution
                      ) -> list[float]:
    """Instants ≥ ``horizon`` at which the entry's rows may change with no new event
    (besides future-dated facts): while in force, a new month and a unit version
    changing."""
    if e is None or e.offer_at(horizon) is None:
        return []
    return next_open_change(horizon, attribution)


__all__ = ["FULL", "KINDS", "ONLINE", "PAYMENT", "PORTAL", "CatalogEntry", "Offer",
           "entry_next_change", "entry_rows", "offer_of", "summarize_entry"]
