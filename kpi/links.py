"""Link facts: how the two joins of docs/contract.md cross subjects.

``dossiers_petitioned`` needs, at a dossier, the petitions that name it; the catalog's
``procedures_*_used`` need, at a catalog entry, the dossiers of its (receiving unit,
procedure). Neither side's events carry the other's subject, so each join is turned into
*link facts* derived from the source subject's facts and folded into the target subject's
state like any other fact:

* a ``petition_received`` fact naming ``dossier_code`` gives the dossier
  ``("petitioned", receipt instant, petition code)``;
* a dossier's first ``received`` fact gives its catalog entry ``{unit_code}/{procedure_code}``
  ``("used", receipt instant, receipt instant, flag, dossier code)`` for flag ``online``
  (channel online) and ``full`` (``online_level`` full), and — with an online payment —
  ``("used", max(receipt, first online payment), receipt instant, "payment", dossier code)``.

A link's time (its second field) is the instant it becomes visible, so the horizon rule of
every fact applies to it. Both joins need only *existence* (a dossier was petitioned; an
entry had a dossier of a kind in a period), so link keys are coarse and bounded: one
``petitioned`` key per dossier, one ``used`` key per (flag, month of receipt) per entry.
Many links under one key are folded by the rule for conflicting copies of a fact
(:meth:`kpi.dossier.DossierState.with_fact`: the one that sorts first, i.e. the earliest to
become visible, stays), which is a minimum: the same whatever the order, the number of
copies or replays, and "some link is visible before the horizon" holds exactly when the kept
one is. So a target's state grows with months, not with dossiers. Link keys start with
:data:`LINK_MARK` (never in an event's ``source``). The batch path adds the links after
folding the whole input (:func:`add_links`); the stream sends them to the target's
partition whenever a source fact arrives (``streams``).
"""

from __future__ import annotations

from collections.abc import Iterable

from kpi.dossier import Fact, FactKey, add_fact
from kpi.periods import period_keys

LINK_MARK = "\x1d"
"""First character of every link fact key (a control character: never in a ``source``)."""

PETITIONED_KEY = f"{LINK_MARK}petitioned"
"""The one link key of a dossier's petitions."""

SOURCE_KINDS = frozenset({"received", "payment", "petition_received"})
"""Fact kinds whose arrival may add or change a link of their subject."""

Link = tuple[str, FactKey, Fact]
"""(target subject, link fact key, link fact)."""


def entry_subject(unit: str, procedure: str) -> str:
    """The subject of a catalog entry (``{unit_code}/{procedure_code}``)."""
    return f"{unit}/{procedure}"


def links_of(code: str, facts: Iterable[Fact]) -> list[Link]:
    """Every link the subject ``code`` with ``facts`` gives to other subjects."""
    received: Fact | None = None
    paid_online: float | None = None
    paid_portal: float | None = None
    out: list[Link] = []
    for fact in facts:
        kind = fact[0]
        if kind == "received":
            if received is None or (fact[1], repr(fact)) < (received[1], repr(received)):
                received = fact
        elif kind == "payment":
            if fact[2] == "online" and (paid_online is None or fact[1] < paid_online):
                paid_online = fact[1]
            if (fact[2] == "online" and len(fact) > 3 and fact[3]
                    and (paid_portal is None or fact[1] < paid_portal)):
                paid_portal = fact[1]
        elif kind == "petition_received" and fact[7] is not None:
            out.append((fact[7], PETITIONED_KEY, ("petitioned", fact[1], code)))
    if received is not None:
        target = entry_subject(received[2], received[4])
        at = received[1]
        month = period_keys(at)[0]
        if received[5] == "online":
            out.append((target, f"{LINK_MARK}used\x1fonline\x1f{month}",
                        ("used", at, at, "online", code)))
        if received[6] == "full":
            out.append((target, f"{LINK_MARK}used\x1ffull\x1f{month}",
                        ("used", at, at, "full", code)))
        if paid_online is not None:
            out.append((target, f"{LINK_MARK}used\x1fpayment\x1f{month}",
                        ("used", max(at, paid_online), at, "payment", code)))
        if paid_portal is not None:  # v1.2: paid online through the portal's gateway
            out.append((target, f"{LINK_MARK}used\x1fportal\x1f{month}",
                        ("used", max(at, paid_portal), at, "portal", code)))
    return out


def add_links(facts_by_code: dict[str, dict[FactKey, Fact]],
              petitions: Iterable[str] | None = None) -> int:
    """The batch join: fold every link of a whole input into its target; returns how many
    were folded. A target absent from the input is skipped (a state of links alone
    contributes nothing, as in the stream), so only links into catalog entries present in
    the input are derived from the dossiers, and — when the caller knows them —
    ``petitions`` (the subjects with a ``petition_received`` fact) are the only sources of
    ``petitioned`` links looked at: an input without a catalog or petitions costs next to
    nothing."""
    entries = {code for code in facts_by_code if "/" in code
               and any(f[0] == "procedure_published" for f in facts_by_code[code].values())}
    pending: list[Link] = []
    if petitions is None:
        petitions = facts_by_code if not entries else ()
    for code in petitions:
        pending.extend(links_of(code, facts_by_code[code].values()))
    if entries:
        pending.extend(link for code, facts in facts_by_code.items()
                       for link in links_of(code, facts.values()))
    n = 0
    for target, key, fact in pending:
        facts = facts_by_code.get(target)
        if facts is not None:
            add_fact(facts, key, fact)
            n += 1
    return n


__all__ = ["LINK_MARK", "PETITIONED_KEY", "SOURCE_KINDS", "Link", "add_links",
           "entry_subject", "links_of"]
