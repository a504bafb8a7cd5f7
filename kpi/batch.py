"""The batch path: one pass over a JSON Lines file of events with the same core as the stream.

Used by ``motcua report --events`` for reports, reconciliation with the live pipeline and
backfill. Invalid lines are skipped and reported (line number and reason), never fatal.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from kpi.attribution import OWN, TOTAL, Attribution, set_communes, split_scoped
from kpi.contribution import DEFAULT_SYNC_WINDOW
from kpi.counters import Counters, add_distinct, key_indices
from kpi.decode import InvalidEvent, decode
from kpi.dossier import DossierState, Fact, FactKey, add_fact
from kpi.fastparse import fast_fact
from kpi.links import LINK_MARK, add_links
from kpi.registry import UnitRegistry
from kpi.sla import CalendarFor, summarize
from kpi.subject import subject_rows

MAX_KEPT_ERRORS = 1000


@dataclass
class BatchInput:
    """The dossiers folded from a file, and what was wrong with it."""

    facts: dict[str, dict[FactKey, Fact]] = field(default_factory=dict)
    lines: int = 0
    valid: int = 0
    invalid: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    """(line number, reason) of the first :data:`MAX_KEPT_ERRORS` invalid lines."""

    def states(self) -> Iterator[DossierState]:
        for code, facts in self.facts.items():
            yield DossierState(code, facts)

    def distinct_events(self) -> int:
        """How many distinct valid events were folded: every fact but the joins' link facts
        (:data:`kpi.links.LINK_MARK`), i.e. what the SQL store's raw events must hold."""
        return sum(1 for facts in self.facts.values() for key in facts
                   if not key.startswith(LINK_MARK))


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of small acyclic objects
    (facts, dicts, counters); its repeated full scans otherwise cost about a quarter of the
    batch time. Reference counting still frees everything as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def fold_lines(
    lines: Iterable[bytes], progress: Callable[[int], None] | None = None
) -> BatchInput:
    """Parse and fold every line, then add the link facts of the joins
    (:func:`kpi.links.add_links`); blank lines are skipped and not counted as invalid."""
    with _no_cyclic_gc():
        return _fold_lines(lines, progress)


def _fold_lines(lines: Iterable[bytes], progress: Callable[[int], None] | None) -> BatchInput:
    out = BatchInput()
    facts_by_code = out.facts
    errors = out.errors
    n = 0
    valid = 0
    quick_fact = fast_fact  # kpi.decode's first step, inlined: this loop runs per line
    petitions: set[str] = set()  # the sources of petitioned links (kpi.links)
    for n, raw in enumerate(lines, start=1):
        quick = quick_fact(raw)
        if quick is not None:
            subject, key, fact = quick
        else:
            try:
                subject, key, fact = decode(raw)
            except InvalidEvent as exc:
                if not raw.strip():
                    continue
                out.invalid += 1
                if len(errors) < MAX_KEPT_ERRORS:
                    errors.append((n, exc.reason))
                continue
        valid += 1
        if fact[0] == "petition_received":
            petitions.add(subject)
        facts = facts_by_code.get(subject)
        if facts is None:
            facts_by_code[subject] = {key: fact}
        elif key in facts:
            add_fact(facts, key, fact)  # a duplicate: the rule for conflicting copies
        else:
            facts[key] = fact
        if progress is not None and not n % 65536:
            progress(n)
    out.lines = n
    out.valid = valid
    add_links(facts_by_code, petitions)  # the joins (kpi.links): after the whole input
    return out


def fold_file(path: Path, progress: Callable[[int], None] | None = None) -> BatchInput:
    with path.open("rb") as fh:
        return fold_lines(fh, progress)


@dataclass
class Aggregate:
    counters: dict[tuple[str, str], Counters]
    """(unit, period) → the unit's own figures (số liệu của đơn vị), view "as it was"."""
    levels: dict[str, str]
    """unit code → unit level (from the registry, else from its dossiers)."""
    totals: dict[tuple[str, str], Counters] = field(default_factory=dict)
    """(unit, period) → the unit's total (tổng hợp) for units that have units below them
    in the registry; empty without a registry (every total is then the own figures)."""


def aggregate(
    states: Iterable[DossierState],
    horizon: float,
    calendar_for: CalendarFor,
    registry: UnitRegistry | None = None,
    sync_window: float = DEFAULT_SYNC_WINDOW,
) -> Aggregate:
    """Sum every dossier's contribution as known before ``horizon``, each count attributed
    to the unit in force at its judged instant (:mod:`kpi.attribution`); ``sync_window``
    is the setting ``sync_window_hours`` in seconds. Distinct row keys count once per
    distinct key (:func:`kpi.counters.add_distinct`) and ``communes`` comes from the
    registry (:func:`kpi.attribution.set_communes`), as in the live aggregator."""
    with _no_cyclic_gc():
        return _aggregate(states, horizon, calendar_for, Attribution(registry), sync_window)


def _aggregate(
    states: Iterable[DossierState], horizon: float, calendar_for: CalendarFor,
    attribution: Attribution, sync_window: float,
) -> Aggregate:
    counters: dict[tuple[str, str], Counters] = {}
    refs: dict[tuple[str, str], dict[str, int]] = {}
    levels: dict[str, str] = {}
    indices: dict[tuple[str, ...], tuple[tuple[int, ...], tuple[tuple[str, int], ...]]] = {}
    targets: dict[tuple[str, tuple[str, ...]], list[list[int]]] = {}
    for state in states:
        d = summarize(state, horizon, calendar_for)
        for unit, periods, keys in subject_rows(state, horizon, calendar_for, attribution,
                                                levels, d, summarized=True,
                                                sync_window=sync_window):
            found = indices.get(keys)
            if found is None:
                found = indices[keys] = key_indices(keys)
            idx, distinct = found
            vectors = targets.get((unit, periods))
            if vectors is None:
                vectors = targets[(unit, periods)] = [
                    counters.setdefault((unit, pk), Counters()).values for pk in periods
                ]
            for v in vectors:
                for i in idx:
                    v[i] += 1
            if distinct:
                for pk, v in zip(periods, vectors, strict=True):
                    add_distinct(v, refs.setdefault((unit, pk), {}), distinct, 1)
    own: dict[tuple[str, str], Counters] = {}
    totals: dict[tuple[str, str], Counters] = {}
    for (key, period), c in counters.items():
        unit, scope = split_scoped(key)
        (totals if scope == TOTAL else own)[(unit, period)] = c
    unit_levels = {split_scoped(k)[0]: v for k, v in levels.items()}
    set_communes(own, OWN, attribution, unit_levels, horizon)
    set_communes(totals, TOTAL, attribution, unit_levels, horizon)
    return Aggregate(own, unit_levels, totals)
