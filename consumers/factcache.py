"""A bounded memory of the facts of stored events, for the SQL sink's ledger.

Every flush re-judges the dossiers it touches from *all* their stored events; without
this memory each of those events is read from ``raw_events`` and decoded again at every
flush that touches its dossier. :class:`FactCache` maps an event's (source, id) to the
fact of the payload **stored** under that key, so the writer reads only the keys of a
dossier's stored events and the payloads of the keys it does not know
(:func:`consumers.store.load_events`).

Contract: an entry is only ever the fact of the payload stored under its key — the
writer adds facts it decoded from payloads read from the table, and facts of rows it
inserted itself (all new: :func:`consumers.store.insert_new_events`), and only after the
transaction committed. A ``raw_events`` row is never changed or deleted (a duplicate
(source, id) keeps its first copy; the table is never emptied while a sink runs — the
recovery procedures keep it), so an entry never goes stale, whichever process stored the
row. The least recently used entries leave beyond ``capacity``; 0 keeps nothing.
docs/decisions/sink-pipeline.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

from kpi.dossier import Fact, FactKey, fact_key


class FactCache:
    """(source, id) → fact of the stored event, at most ``capacity`` entries (LRU)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(0, capacity)
        self._facts: dict[FactKey, Fact] = {}  # insertion order = recency

    def __len__(self) -> int:
        return len(self._facts)

    def known(self, source: str, event_id: str) -> bool:
        """Whether the fact of the stored event (source, id) is held."""
        return fact_key(source, event_id) in self._facts

    def get(self, key: FactKey) -> Fact | None:
        """The fact held for ``key`` (now the most recently used), or None."""
        fact = self._facts.pop(key, None)
        if fact is not None:
            self._facts[key] = fact
        return fact

    def add(self, items: Iterable[tuple[FactKey, Fact]]) -> None:
        """Hold these facts of stored events (see the module's contract), evicting the
        least recently used beyond ``capacity``."""
        if not self.capacity:
            return
        facts = self._facts
        for key, fact in items:
            facts.pop(key, None)
            facts[key] = fact
        excess = len(facts) - self.capacity
        if excess > 0:
            for key in list(islice(facts, excess)):
                del facts[key]


__all__ = ["FactCache"]
