"""The v1.1 families a run may add (``SimulationConfig(families=True)``): citizen petitions
(PAKN), each unit's procedure catalog and the documents it sends, plus dossiers synced to
the national portal — so that every group of Decision 766 can be scored.

Every rate here is **[M]** (plausible, not calibrated to any report; docs/domain.md gives none):

* **petitions** (``petition.*``): ``petitions_per_dossier`` (1 per 100 dossiers) drawn per
  dossier, received 1–19 working days after it by the unit handling it (the successor from
  the cutover); ``petition_names_dossier_share`` (half) name that dossier in
  ``dossier_code``; ``petition_outside_competence_share`` (10%) are outside the unit's
  competence; channels online 50%, direct 20%, hotline 20%, postal 10%; due
  ``petition_days`` (10) working days after receipt (``processing_days``);
  ``petition_late_share`` (8%) answered 1–10 working days after the due instant, the others
  before it; ``petition_rated_share`` (half) rated after the answer, ``dissatisfied`` with
  ``petition_dissatisfied_share`` (15%; half of the late ones), else mostly ``satisfied``.
  Events after the run's end are not emitted, so late-year petitions are still open.
* **the procedure catalog** (``procedure.*``, subject ``{unit}/{procedure}`` — the
  receiving unit and procedure codes of the dossiers): every procedure of a unit's level is
  published by every desk in force on the run's first working day (with the
  reorganisation: the old units then, and the new desks on the cutover day, when the old
  units' entries are withdrawn — at the cutover instant, so they are still in force at the
  end of June). Each entry is decided on that day (``decided_at``, office opening) with a
  publication deadline ``catalog_due_days`` (5) working days later (``due_at``, 17:00);
  ``catalog_late_share`` (10%) are published 1–10 working days after it, the rest before.
  Offered: ``full`` for a full-online procedure, else ``partial``; online payment for a
  procedure with a fee with ``catalog_payment_share`` (85%). While the desk is in force,
  ``catalog_update_share`` (10%) of the entries are published again (an update: online
  payment switched on where there is a fee, else the same offer), and
  ``catalog_withdrawn_share`` (3%) withdrawn, then published again 10–30 working days later.
* **documents** (``document.issued``): ``documents_per_dossier`` (0.3) per dossier, sent by
  its receiving desk within the hour; ``document_electronic_share`` (90%) electronic, of
  which ``document_signed_share`` (75%) digitally signed (the Tân Hồng report names signed
  electronic documents as a weak criterion).
* **portal sync**: a dossier not already synced (``dossier.synced``, a v1.1 behaviour of the
  reorganisation) is synced within minutes of its receipt with ``portal_sync_share`` (90%);
  since v1.2 :mod:`kpi.simulate.portal` replaces that sync by one after each status event.
* **v1.2** (the portal's 2026 scoring): the dossiers' and catalog entries' new fields,
  :mod:`kpi.simulate.portal`.

The draws come from random streams of their own (``fam:<seed>`` per dossier, ``cat:<seed>``
for the catalogs), so a dossier's own draws are those of the run without families; its
event ids change only when it gains a ``dossier.synced``.
"""

from __future__ import annotations

import heapq
import random
from bisect import bisect_left
from collections import Counter
from typing import Any

from kpi.calendar import date_to_day, local_day
from kpi.simulate.core import DossierGenerator
from kpi.simulate.course import OFFICE_LEN, event_type
from kpi.simulate.portal import PortalFacts
from kpi.simulate.procedures import Procedure
from kpi.simulate.profiles import PROVINCE, UnitProfile
from kpi.simulate.timefmt import TimeFormatter

T_PETITION = event_type("petition.received")
T_ANSWERED = event_type("petition.answered")
T_PETITION_RATED = event_type("petition.rated")
T_PUBLISHED = event_type("procedure.published")
T_WITHDRAWN = event_type("procedure.withdrawn")
T_DOCUMENT = event_type("document.issued")
T_SYNCED = event_type("dossier.synced")

FAMILIES: tuple[str, ...] = ("petitions", "catalog_entries", "documents")
"""Keys of :attr:`kpi.simulate.config.SimulationStats.families` (subjects per family)."""

_CHANNELS = (("online", 0.5), ("direct", 0.7), ("hotline", 0.9), ("postal", 1.01))


class FamilyGenerator:
    """The family events of one run, pushed into its dossier generator's time heap."""

    def __init__(self, gen: DossierGenerator) -> None:
        self.gen = gen
        self.c = gen.c
        self.rng = random.Random(f"fam:{gen.c.seed}")
        self.fmt = TimeFormatter()
        self.seq: Counter[tuple[str, int]] = Counter()
        self.portal = PortalFacts(gen.c.seed, gen.c.portal_sync_share)
        """The v1.2 facts (:mod:`kpi.simulate.portal`)."""

    # -- emitting -----------------------------------------------------------------

    def _push(self, subject: str, n: int, t: int, typ: str, data: dict[str, Any]) -> bool:
        """Put one event of ``subject`` (its ``n``-th) on the heap; False (nothing pushed)
        at or after the run's end."""
        gen = self.gen
        if t >= gen.end_ts:
            return False
        gen.push_seq += 1
        heapq.heappush(gen.heap, (t, gen.push_seq, {
            "specversion": "1.0",
            "id": f"{subject}.e{n}",
            "source": self.c.source,
            "type": typ,
            "time": self.fmt(t),
            "subject": subject,
            "datacontenttype": "application/json",
            "data": data,
        }))
        gen.stats.events += 1
        gen.stats.by_type[typ] += 1
        return True

    def _k_at(self, t: int) -> int:
        """Index of the first working day on or after ``t``'s local day."""
        return bisect_left(self.gen.wdays, local_day(t))

    def _code(self, kind: str, t: int) -> str:
        year = self.fmt(t)[:4]
        self.seq[(kind, int(year))] += 1
        return f"{self.c.code_prefix}-{kind}-{year}-{self.seq[(kind, int(year))]:06d}"

    # -- the procedure catalogs ---------------------------------------------------

    def start(self) -> None:
        """Push every catalog event of the run (before the first dossier)."""
        gen, c = self.gen, self.c
        rng = random.Random(f"cat:{c.seed}")
        procs = c.procedures_by_level()
        first_k = 0
        reorg = gen.reorg
        if reorg is None:
            for u in gen.units:
                self._catalog(rng, u.code, u.level, procs.get(u.level, ()), first_k, None)
            return
        cut_k = bisect_left(gen.wdays, date_to_day(reorg.cutover))
        assert gen.cutover_ts is not None
        for u in gen.units:  # the old desks until the cutover
            self._catalog(rng, u.code, u.level, procs.get(u.level, ()), first_k,
                          gen.cutover_ts)
        for code, level in reorg.desks_after():  # the new ones from it
            self._catalog(rng, code, level, procs.get(level, ()), cut_k, None)

    def _catalog(self, rng: random.Random, unit: str, level: str,
                 procedures: tuple[Procedure, ...], k0: int, until: int | None) -> None:
        """The entries of one desk: published from working day ``k0``; withdrawn at
        ``until`` (the desk ceases) when given."""
        gen, c = self.gen, self.c
        L = OFFICE_LEN
        end = min(gen.end_ts, until) if until is not None else gen.end_ts
        if gen.ts_of(k0, 0) >= end:
            return
        decided = gen.ts_of(k0, 0)
        due = gen.ts_of(k0 + c.catalog_due_days, L)
        for p in procedures:
            subject = f"{unit}/{p.code}"
            if rng.random() < c.catalog_late_share:
                t = gen.ts_of(k0 + c.catalog_due_days + 1 + rng.randrange(10),
                              rng.randrange(L))
            else:
                t = gen.ts_of(k0 + rng.randrange(c.catalog_due_days + 1), 600 + rng.randrange(
                    L - 600))
            level_offered = "full" if p.full_online else "partial"
            payment = p.fee_vnd > 0 and rng.random() < c.catalog_payment_share
            base = {"unit_code": unit, "unit_level": level, "procedure_code": p.code,
                    "online_level": level_offered,
                    **self.portal.entry(rng, p.code, level, p.fee_vnd > 0)}
            n = 1
            if not self._push(subject, n, t, T_PUBLISHED, {
                    **base, "online_payment": payment, "decided_at": self.fmt(decided),
                    "due_at": self.fmt(due)}):
                continue
            self.gen.stats.families["catalog_entries"] += 1
            later = t + 86400 + int(rng.random() * max(0, end - t - 2 * 86400))
            u = rng.random()
            if u < c.catalog_update_share and later < end:
                n += 1
                self._push(subject, n, later, T_PUBLISHED, {
                    **base, "online_payment": payment or p.fee_vnd > 0,
                    "due_at": self.fmt(PortalFacts.update_due(rng, later, 86400))})
            elif u < c.catalog_update_share + c.catalog_withdrawn_share and later < end:
                n += 1
                self._push(subject, n, later, T_WITHDRAWN, {})
                again = gen.ts_of(self._k_at(later) + 10 + rng.randrange(21), rng.randrange(L))
                if again < end:
                    n += 1
                    self._push(subject, n, again, T_PUBLISHED, {
                        **base, "online_payment": payment})
            if until is not None and until < gen.end_ts:
                self._push(subject, n + 1, until, T_WITHDRAWN, {})

    # -- per dossier: sync, petitions, documents -----------------------------------

    def dossier(self, subject: str, data: dict[str, Any],
                events: list[tuple[int, str, dict[str, Any]]], unit: UnitProfile,
                k_r: int, ts_r: int) -> None:
        """The family events one dossier draws (``events``: the dossier's own, in place)."""
        c, rand = self.c, self.rng.random
        if not any(typ == T_SYNCED for _, typ, _ in events) and rand() < c.portal_sync_share:
            # within minutes: before any rejection, withdrawal or stop (≥ 5 min after receipt)
            events.append((ts_r + 60 + int(rand() * 200), T_SYNCED, {"target": "dvcqg"}))
        # v1.2: the portal's facts; its sync schedule replaces the sync above (which is
        # still drawn, so that the draws below stay those of the v1.1 families)
        self.portal.dossier(data, events, ts_r)
        if rand() < c.documents_per_dossier:
            self._document(data["unit_code"], data["unit_level"], ts_r + 60 + int(rand() * 3000))
        if rand() < c.petitions_per_dossier:
            self._petition(subject, data, unit, k_r)

    def _document(self, unit: str, level: str, t: int) -> None:
        rand = self.rng.random
        electronic = rand() < self.c.document_electronic_share
        signed = electronic and rand() < self.c.document_signed_share
        code = self._code("VB", t)
        if self._push(code, 1, t, T_DOCUMENT, {"unit_code": unit, "unit_level": level,
                                               "electronic": electronic,
                                               "digitally_signed": signed}):
            self.gen.stats.families["documents"] += 1

    def _petition(self, dossier: str, data: dict[str, Any], unit: UnitProfile,
                  k_r: int) -> None:
        gen, c = self.gen, self.c
        rng, rand = self.rng, self.rng.random
        L = OFFICE_LEN
        t = gen.ts_of(k_r + 1 + rng.randrange(19), rng.randrange(L))
        code = data.get("handling_unit_code", data["unit_code"])
        level = data.get("handling_unit_level", data["unit_level"])
        reorg = gen.reorg
        if reorg is not None and gen.cutover_ts is not None and t >= gen.cutover_ts \
                and code in reorg.successor:
            code = reorg.successor[code]
            level = "province" if code == PROVINCE.code else "commune"
        u = rand()
        channel = next(name for name, upto in _CHANNELS if u < upto)
        within = rand() >= c.petition_outside_competence_share
        names = rand() < c.petition_names_dossier_share
        petition = self._code("PAKN", t)
        received: dict[str, Any] = {"unit_code": code, "unit_level": level,
                                    "channel": channel, "within_competence": within,
                                    "processing_days": c.petition_days}
        if names:
            received["dossier_code"] = dossier
        if not self._push(petition, 1, t, T_PETITION, received):
            return
        gen.stats.families["petitions"] += 1
        due = int(gen.cal.due_instant(float(t), c.petition_days))
        late = rand() < c.petition_late_share
        if late:
            k_due = self._k_at(due)
            answered = gen.ts_of(k_due + 1 + rng.randrange(10), rng.randrange(L))
        else:
            answered = t + 600 + int(rand() * max(0, due - t - 1200))
        if not self._push(petition, 2, answered, T_ANSWERED, {}):
            return
        if rand() < c.petition_rated_share:
            r = rand()
            dissatisfied = c.petition_dissatisfied_share if not late else 0.5
            rating = ("dissatisfied" if r < dissatisfied else
                      "neutral" if r < dissatisfied + 0.1 else "satisfied")
            self._push(petition, 3, answered + 3600 + int(rand() * 3 * 86400),
                       T_PETITION_RATED, {"rating": rating})


__all__ = ["FAMILIES", "FamilyGenerator"]
