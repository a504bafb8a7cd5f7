"""Which unit each count goes to (docs/contract.md, "Units in force and attribution").

Default view, *as it was* (``as_was``): every count goes to the unit in force for its code
at the instant the count is judged — the unit's *own* figures (số liệu của đơn vị) — and
to the *total* (tổng hợp) of that unit and of every unit above it at that instant. Which
code and which instant, per count, is decided by :mod:`kpi.contribution`; this module only
answers "the unit in force for this code at this instant" and "whose totals include it".

*Restated* view (``restated``, "as it is now"): the own figures with every unit replaced by
its unit in force at ``as_of``, and totals over today's hierarchy (:func:`restate`), so a
new commune's 2025 series includes its predecessors' first half.

Without a registry every code stands for itself and no totals are kept (a unit with no
units below it has total = own). With one, a unit keeps a total bucket only if it is a
parent in some version of the registry: for every other unit the total is its own figures.

Counters of totals share the counter space of own figures under a *scoped key*
(:func:`scoped`): the unit code followed by :data:`TOTAL_MARK`, a character no valid unit
code contains (codes are printable).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import lru_cache

from kpi.calendar import local_date, local_instant, local_ordinal
from kpi.counters import INDEX, Counters
from kpi.periods import parse_period
from kpi.registry import UnitRegistry

OWN = "own"
TOTAL = "total"
SCOPES = (OWN, TOTAL)
AS_WAS = "as_was"
RESTATED = "restated"
VIEWS = (AS_WAS, RESTATED)

VIEW_LABELS_VI = {AS_WAS: "Theo thời điểm phát sinh", RESTATED: "Quy đổi theo đơn vị hiện nay"}
SCOPE_LABELS_VI = {OWN: "Số liệu của đơn vị", TOTAL: "Tổng hợp"}
"""How reports, tables and evidence files name a view and a scope, in Vietnamese."""

TOTAL_MARK = "\x1e"
"""Ends the counter key of a unit's total (a control character: never in a unit code)."""


def scoped(unit: str, scope: str) -> str:
    """The counter key of ``unit``'s figures of ``scope``."""
    return unit + TOTAL_MARK if scope == TOTAL else unit


def split_scoped(key: str) -> tuple[str, str]:
    """(unit, scope) of a counter key made by :func:`scoped`."""
    if key.endswith(TOTAL_MARK):
        return key[:-1], TOTAL
    return key, OWN


class Attribution:
    """The unit in force for a code at an instant, and the totals a count joins there."""

    def __init__(self, registry: UnitRegistry | None = None) -> None:
        self.registry = registry
        self.parents: frozenset[str] = frozenset(
            v.parent for code in registry.codes for v in registry.versions(code) if v.parent
        ) if registry is not None else frozenset()
        """Units that are a parent in some version: they keep a total of their own."""
        self._changes: list[float] = sorted({
            local_instant(day) for code in registry.codes for v in registry.versions(code)
            for day in (v.valid_from, v.valid_to and v.valid_to + dt.timedelta(days=1))
            if day and day != dt.date.min
        }) if registry is not None else []
        """Local midnights at which some unit version begins or ends."""
        if registry is not None:
            self._on_day = lru_cache(maxsize=65536)(self._resolve)
            self._communes_on = lru_cache(maxsize=65536)(self._communes)
        self._commune_cache: dict[dt.date, list[tuple[str, frozenset[str]]]] = {}

    @property
    def keeps_totals(self) -> bool:
        return self.registry is not None

    def next_change(self, t: float) -> float | None:
        """The first local midnight after ``t`` at which a unit version begins or ends."""
        changes = self._changes
        if not changes or changes[-1] <= t:
            return None
        lo, hi = 0, len(changes)
        while lo < hi:
            mid = (lo + hi) // 2
            if changes[mid] <= t:
                lo = mid + 1
            else:
                hi = mid
        return changes[lo]

    def unit_at(self, code: str, t: float) -> str:
        """The unit in force for ``code`` at instant ``t``."""
        if self.registry is None:
            return code
        return self._on_day(code, local_ordinal(t))[0]

    def at(self, code: str, t: float) -> tuple[str, tuple[str, ...], str | None]:
        """(unit in force, total keys the count joins, that unit's level if registered)."""
        if self.registry is None:
            return code, (), None
        return self._on_day(code, local_ordinal(t))

    def communes(self, unit: str, scope: str, level: str | None, t: float) -> int:
        """v1.2 ``communes``: the commune-level units in scope at instant ``t`` — the unit
        itself if it is a commune and, for a total, the communes below it in force then.
        ``level`` is the unit's level as counted (used when the registry does not know
        it; without a registry there are no totals)."""
        if self.registry is None:
            return 1 if level == "commune" else 0
        return self._communes_on(unit, scope, level, local_ordinal(t))

    def _communes(self, unit: str, scope: str, level: str | None, ordinal: int) -> int:
        assert self.registry is not None
        day = dt.date.fromordinal(ordinal)
        cache = self._commune_cache
        if day not in cache:  # the communes in force that day, with the units above each
            registry = self.registry
            if len(cache) >= COMMUNE_DAYS:  # keep memory flat
                cache.clear()
            cache[day] = [(v.code, frozenset(registry.ancestors_on(v.code, day)))
                          for v in registry.in_force_units(day) if v.level == "commune"]
        own_level = self.registry.level_on(unit, day) or level
        n = 1 if own_level == "commune" else 0
        if scope == TOTAL:
            n += sum(1 for _code, above in cache[day] if unit in above)
        return n

    def _resolve(self, code: str, ordinal: int) -> tuple[str, tuple[str, ...], str | None]:
        assert self.registry is not None
        day = dt.date.fromordinal(ordinal)
        unit = self.registry.in_force_on(code, day)
        above = self.registry.ancestors_on(unit, day)
        totals = [scoped(u, TOTAL) for u in above]
        if unit in self.parents:
            totals.insert(0, scoped(unit, TOTAL))
        return unit, tuple(totals), self.registry.level_on(unit, day)


NO_REGISTRY = Attribution()

COMMUNE_DAYS = 64
"""Judged days whose communes :meth:`Attribution.communes` keeps listed (a snapshot cycle
judges each period at its own end: ~35 days for two years of months, quarters and years);
its answers are memoized apart."""

COMMUNES = "communes"
_EPSILON = 0.001


def set_communes(counters: Mapping[tuple[str, str], Counters], scope: str,
                 attribution: Attribution, levels: Mapping[str, str], horizon: float) -> None:
    """Set ``communes`` (v1.2) of every non-empty (unit, period) bucket of one scope,
    judged just before the period's end or the horizon, whichever comes first: a count of
    the registry, not of events, so the batch and the live snapshots set it the same way."""
    index = INDEX[COMMUNES]
    for (unit, period), c in counters.items():
        if not any(c.values):  # an empty bucket stays empty (as a bucket never made)
            continue
        end = parse_period(period).end
        judged = (end if end < horizon else horizon) - _EPSILON
        c.values[index] = attribution.communes(unit, scope, levels.get(unit), judged)


def restate(
    own: Mapping[tuple[str, str], Counters], registry: UnitRegistry | None, as_of: float
) -> tuple[dict[tuple[str, str], Counters], dict[tuple[str, str], Counters]]:
    """The restated view of own figures: (own, total) with every unit replaced by its unit
    in force at ``as_of`` and totals over the hierarchy in force at ``as_of``.

    v1.2: ``communes`` is the registry's at ``as_of`` (a merged commune is one commune);
    the catalog counts of a restated total are the sum of its units' (the per-code detail
    that counts them once is not kept in own figures)."""
    attribution = Attribution(registry)
    out_own: dict[tuple[str, str], Counters] = {}
    out_total: dict[tuple[str, str], Counters] = {}
    for (unit, period), counters in own.items():
        now_unit, totals, _ = attribution.at(unit, as_of)
        acc = out_own.get((now_unit, period))
        if acc is None:
            acc = out_own[(now_unit, period)] = Counters()
        acc += counters
        for key in totals:
            total_unit, _scope = split_scoped(key)
            acc = out_total.get((total_unit, period))
            if acc is None:
                acc = out_total[(total_unit, period)] = Counters()
            acc += counters
    index = INDEX[COMMUNES]
    for (unit, _period), c in out_own.items():
        level = registry.level_on(unit, local_date(as_of)) if registry is not None else None
        c.values[index] = (1 if level == "commune" else 0) if level is not None else min(
            1, c.values[index])
    for (unit, _period), c in out_total.items():
        c.values[index] = attribution.communes(unit, TOTAL, None, as_of)
    return out_own, out_total


__all__ = [
    "AS_WAS",
    "Attribution",
    "NO_REGISTRY",
    "OWN",
    "RESTATED",
    "SCOPES",
    "SCOPE_LABELS_VI",
    "TOTAL",
    "TOTAL_MARK",
    "VIEWS",
    "VIEW_LABELS_VI",
    "restate",
    "scoped",
    "set_communes",
    "split_scoped",
]
