"""The tracker: the dossier states (hồ sơ) of the owned ``events`` partitions, free of
faust and of I/O. It folds facts into states, turns touched dossiers into *versioned whole
contributions* (the entries of :mod:`streams.wire`'s contributions messages) and keeps a
heap of due instants, when a dossier's contribution changes with no event.

A *counter key* is a unit code (the unit's own figures) or a unit's scoped total key
(:func:`kpi.attribution.scoped`). Each count of a dossier goes to the unit in force at its
judged instant and to the totals above it (:func:`kpi.contribution.contribution_rows` with
the tracker's :class:`kpi.attribution.Attribution`), so one dossier may touch several
counter keys: the receiving unit, the handling unit, the units in force at different
instants and their totals.

Retractions: every emission sends the dossier's rows to each counter key it touches now and
an empty entry to each key of its previous emission it no longer touches, so a dossier that
moves (another handling unit, a merger, a registry change) leaves no stale counts. The
table row's ``keys`` always include every key the aggregator may hold non-empty rows of the
dossier under (the keys of the emission it accompanies, retracted ones too), so a restored
dossier still retracts what a lost emission sent.

Retirement (docs/decisions/streams-local-state.md): with an
:class:`streams.ports.Archive` (the worker's local state, :mod:`streams.localstate`), a
dossier whose contribution can no longer change by time alone leaves memory when the
pipeline decides so (:meth:`Tracker.retire`, after an emission whose entries carry the
fifth element and whose row carries ``"x"``); its row lives on in the archive and
:meth:`Tracker.apply_fact` reads it back when an event for it comes.

Memory: a worker holds every open dossier of its partitions, so :class:`Tracked` keeps a
dossier's facts packed in one ``bytes`` object (the JSON of its row's ``"f"``) and unpacks
them only when the dossier is touched or emitted, and the due heap gets a new entry only
when a dossier's next change moves (docs/decisions/streams-compact-state.md).

The dossier table row's format is :mod:`streams.wire`'s; :meth:`Tracker.row` writes it.
"""

from __future__ import annotations

import heapq
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import orjson

from kpi.attribution import NO_REGISTRY, Attribution
from kpi.contribution import DEFAULT_SYNC_WINDOW
from kpi.dossier import DossierState, Fact, fact_key, fact_of
from kpi.sla import CalendarFor, summarize
from kpi.subject import subject_next_change, subject_rows
from schemas.events import Event
from streams.localstate import DOSSIER
from streams.ports import Archive
from streams.wire import (
    Entry,
    check_format,
    join_keys,
    kept,
    pack_facts,
    split_keys,
    unpack_facts,
)

HEAP_SLACK = 10_000
"""Due-heap entries beyond twice the dossiers in memory before :meth:`Tracker.retire`
rebuilds the heap."""


class Versions:
    """Strictly increasing version numbers: ``max(previous + 1, now in µs)``. Time-based, so
    a version stays newer than any sent before a crash whose table write was lost."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._last = 0

    def next(self, previous: int) -> int:
        v = max(previous + 1, self._last + 1, int(self._clock() * 1_000_000))
        self._last = v
        return v


class _Row(msgspec.Struct):
    """A dossier table row with its facts left packed."""

    f: msgspec.Raw
    v: int
    u: str | None
    h: float
    p: int
    r: str | None = None
    a: bool = False
    x: bool = False
    w: int | None = None
    """The row's format (:data:`streams.wire.WIRE_FORMAT`; None: format 1)."""


_row_decoder = msgspec.json.Decoder(_Row).decode


def _decode_row(raw: bytes) -> _Row:
    row = _row_decoder(raw)
    check_format(row.w, "a dossier table row")
    return row


def last_fact_time(rec: Tracked) -> float:
    """The business time of the dossier's latest fact (its last touch)."""
    return max((f[1] for f in unpack_facts(rec.packed).values()), default=0.0)


class Tracked:
    """One dossier as the tracker holds it, compactly: the facts stay packed
    (:func:`pack_facts`) and :attr:`state` unpacks them on every read, so read it once per
    use. ``keys`` are the counter keys its last emission sent rows to (:func:`join_keys`,
    interned: few sets, many dossiers; after a restore, those of its table row). ``due`` is
    the instant it is scheduled to be re-emitted at (its next change)."""

    __slots__ = ("code", "packed", "partition", "version", "keys", "due")

    def __init__(self, state: DossierState, partition: int, version: int = 0,
                 keys: str | None = None, due: float | None = None) -> None:
        self._set(state.code, pack_facts(state.facts), partition, version, keys, due)

    def _set(self, code: str, packed: bytes, partition: int, version: int,
             keys: str | None, due: float | None) -> None:
        self.code = code
        self.packed = packed
        self.partition = partition
        self.version = version
        self.keys = sys.intern(keys) if keys is not None else None
        self.due = due

    @classmethod
    def packed_as(cls, code: str, packed: bytes, partition: int, version: int,
                  keys: str | None) -> Tracked:
        """A dossier whose facts are already packed (as in its table row)."""
        rec = cls.__new__(cls)
        rec._set(code, packed, partition, version, keys, None)
        return rec

    @property
    def state(self) -> DossierState:
        return DossierState(self.code, unpack_facts(self.packed))

    @state.setter
    def state(self, state: DossierState) -> None:
        self.code = state.code
        self.packed = pack_facts(state.facts)

    def __repr__(self) -> str:
        return (f"Tracked({self.code!r}, {len(unpack_facts(self.packed))} facts, "
                f"partition={self.partition}, version={self.version}, keys={self.keys!r}, "
                f"due={self.due})")


@dataclass
class Tracker:
    """Dossier states (hồ sơ) of this worker's partitions of the events topic, attributed
    with ``attribution`` (:data:`kpi.attribution.NO_REGISTRY`: every code stands for
    itself, no totals) whose registry has ``fingerprint``
    (:func:`streams.units.registry_fingerprint`; None without a registry)."""

    calendar_for: CalendarFor
    versions: Versions = field(default_factory=Versions)
    dossiers: dict[str, Tracked] = field(default_factory=dict)
    _heap: list[tuple[float, str]] = field(default_factory=list)
    attribution: Attribution = NO_REGISTRY
    fingerprint: str | None = None
    stale: set[str] = field(default_factory=set)
    """Dossiers whose table row does not say what their next emission will: restored from a
    row of another registry or written ahead of an emission. Their next emission writes
    their row (the caller discards them here then)."""
    archive: Archive | None = None
    """Retired dossiers' rows (None: nothing retires, every dossier stays in memory)."""
    revived: int = 0
    """Dossiers read back from :attr:`archive` so far."""
    absent: set[str] = field(default_factory=set)
    """Codes :meth:`prefetch` found neither in memory nor in :attr:`archive`: the next
    :meth:`apply_fact` of each does not ask the archive again. Valid for one batch: the
    caller clears it when the batch ends."""
    sync_window: float = DEFAULT_SYNC_WINDOW
    """The setting ``sync_window_hours`` in seconds (:func:`kpi.contribution.contribution_rows`)."""
    fresh: dict[str, DossierState] = field(default_factory=dict)
    """The unpacked states of the dossiers :meth:`apply_fact` changed or read in this batch
    (equal to their packed facts), so that a batch unpacks each dossier once. Valid for
    one batch: the caller clears it when the batch ends."""

    def clear(self) -> None:
        self.dossiers.clear()
        self._heap.clear()
        self.stale.clear()
        self.fresh.clear()

    def apply(self, event: Event, partition: int) -> tuple[Tracked, bool]:
        """Fold one valid event in; returns the dossier and whether its state changed."""
        return self.apply_fact(event.subject, fact_key(event.source, event.id),
                               fact_of(event), partition)

    def apply_fact(self, code: str, key: str, fact: Fact, partition: int
                   ) -> tuple[Tracked, bool]:
        """:meth:`apply` for an event already reduced to its fact (the fast path)."""
        rec = self.dossiers.get(code)
        if rec is None:
            rec = (self._revive(code, partition)
                   if self.archive is not None and code not in self.absent else None)
            if rec is None:
                rec = self.dossiers[code] = Tracked(DossierState.empty(code), partition)
        old = self.fresh.get(code)
        if old is None:
            old = rec.state
        new = old.with_fact(key, fact)
        changed = new is not old
        if changed:
            rec.state = new
        self.fresh[code] = new
        rec.partition = partition
        return rec, changed

    def state_of(self, rec: Tracked) -> DossierState:
        """``rec.state``, unpacked once per batch (:attr:`fresh`)."""
        state = self.fresh.get(rec.code)
        return state if state is not None else rec.state

    def prefetch(self, codes: dict[int, set[str]]) -> None:
        """Read back, one query per partition, the retired dossiers among ``codes``
        (partition → codes) not in memory, and note the rest in :attr:`absent`: a batch's
        new dossiers cost one query, not one each."""
        if self.archive is None:
            return
        for partition, wanted in codes.items():
            ask = [c for c in wanted if c not in self.dossiers]
            if not ask:
                continue
            rows = self.archive.get_many(DOSSIER, partition, ask)
            for code in ask:
                raw = rows.get(code)
                if raw is None:
                    self.absent.add(code)
                else:
                    self._revived_from(code, raw)

    def _revive(self, code: str, partition: int) -> Tracked | None:
        """A retired dossier back in memory, from its archived row (None: not retired).
        Its due instant is unset: the caller emits it now."""
        assert self.archive is not None
        raw = self.archive.get(DOSSIER, partition, code)
        if raw is None:
            return None
        return self._revived_from(code, raw)

    def _revived_from(self, code: str, raw: bytes) -> Tracked:
        row = _decode_row(raw)
        rec = self.dossiers[code] = Tracked.packed_as(code, bytes(row.f), row.p, row.v, row.u)
        if row.r != self.fingerprint or row.a:
            self.stale.add(code)
        self.revived += 1
        return rec

    def retire(self, rec: Tracked) -> None:
        """Drop the dossier from memory; its row (written with ``retired=True``) must be in
        :attr:`archive`, where :meth:`apply_fact` finds it again."""
        if self.archive is None:
            raise RuntimeError("no archive: a dossier cannot retire")
        self.dossiers.pop(rec.code, None)
        self.stale.discard(rec.code)
        rec.due = None
        if len(self._heap) > 2 * len(self.dossiers) + HEAP_SLACK:
            self._compact()

    def _compact(self) -> None:
        """Rebuild the due heap from the dossiers in memory. Entries of dossiers that left
        (or whose due instant moved) are skipped when popped, but until then each keeps
        its code alive: without this, every retired dossier that was ever scheduled (an
        open one is, for the next month's start at least) would cost ~150 B for ever."""
        self._heap = [(rec.due, code) for code, rec in self.dossiers.items()
                      if rec.due is not None]
        heapq.heapify(self._heap)

    def emit(self, rec: Tracked, now: float) -> list[tuple[str, Entry]]:
        """The dossier's whole contribution at ``now`` under a new version, as
        ``(counter key, entry)`` pairs: one per key it touches now, then a retraction
        (empty rows, level None) per key of :attr:`Tracked.keys` it no longer touches; its
        keys and its next change updated."""
        state = self.state_of(rec)
        d = summarize(state, now, self.calendar_for)
        rec.version = v = self.versions.next(rec.version)
        out: list[tuple[str, Entry]] = []
        by_key: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {}
        attribution = self.attribution
        # a plain dossier without a registry: its level is the dossier's (cheaper than
        # ``levels``); any other subject reports the level of each counter key
        plain = d is not None and not d.mixed and not attribution.keeps_totals
        levels: dict[str, str] | None = None if plain else {}
        for key, periods, counts in subject_rows(state, now, self.calendar_for, attribution,
                                                 levels, d, summarized=True,
                                                 sync_window=self.sync_window):
            rows = by_key.get(key)
            if rows is None:
                by_key[key] = [(periods, counts)]  # tuples: JSON arrays on the wire
            else:
                rows.append((periods, counts))
        for key, rows in by_key.items():
            if levels is not None:
                level = levels[key]
            else:
                assert d is not None
                level = d.level if key == d.unit else d.handling_level
            out.append((key, [rec.code, v, level, rows]))
        if len(by_key) == 1:
            keys: str | None = sys.intern(next(iter(by_key)))
        else:
            keys = join_keys(by_key)
        old = rec.keys
        if old is not None and old != keys:
            for key in split_keys(old):
                if key not in by_key:
                    out.append((key, [rec.code, v, None, []]))
        rec.keys = keys
        self.schedule(rec, subject_next_change(state, now, self.calendar_for, summary=d,
                                               summarized=True, attribution=self.attribution))
        return out

    def schedule(self, rec: Tracked, at: float | None) -> None:
        """Set the dossier's next change; the heap holds an entry ``(rec.due, code)`` for
        every dossier with a due instant, so an unchanged one needs no new entry."""
        if at is not None and at != rec.due:
            heapq.heappush(self._heap, (at, rec.code))
        rec.due = at

    def due(self, now: float) -> Iterator[Tracked]:
        """Dossiers whose scheduled change is at or before ``now`` (each once)."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, code = heapq.heappop(heap)
            rec = self.dossiers.get(code)
            if rec is not None and rec.due == at:
                rec.due = None
                yield rec

    # ----------------------------------------------------------------- table rows
    def row(self, rec: Tracked, horizon: float, sent: Iterable[str] | None = None, *,
            ahead: bool = False, retired: bool = False) -> bytes:
        """The dossier's table row after an emission at ``horizon``; ``keys`` are ``sent``
        (every key the emission sent an entry to, retractions included) if given, else
        :attr:`Tracked.keys`. ``ahead``: written before that emission is delivered (a
        restore then re-emits the dossier at once). ``retired``: the dossier retires with
        this emission (a restore leaves it in the archive)."""
        keys = rec.keys if sent is None else join_keys(sent)
        row: dict[str, Any] = {"f": orjson.Fragment(rec.packed), "v": rec.version,
                               "u": keys, "h": horizon, "p": rec.partition}
        if self.fingerprint is not None:
            row["r"] = self.fingerprint
        if ahead:
            row["a"] = True
        if retired:
            row["x"] = True
        return kept(orjson.dumps(row))

    def restore(self, code: str, raw: bytes, partitions: set[int]) -> None:
        """Take one table row back (after recovery) if its partition is ours. Its next
        change is computed from the horizon it was last written at, so a re-emission lost
        in a crash is redone at once; a row of another registry (fingerprint) or written
        ahead is due at once (and :attr:`stale`): its attribution may have changed. With an
        :attr:`archive`, a row that retired its dossier (``"x"``) of this registry leaves
        it out of memory (the caller keeps the row in the archive)."""
        row = _decode_row(raw)
        if row.p not in partitions:
            return
        if (row.x and self.archive is not None and row.r == self.fingerprint
                and not row.a):
            self.dossiers.pop(code, None)
            self.stale.discard(code)
            return
        rec = Tracked.packed_as(code, bytes(row.f), row.p, row.v, row.u)
        self.dossiers[code] = rec
        if row.r != self.fingerprint or row.a:
            self.stale.add(code)
            self.schedule(rec, row.h)
        else:
            self.schedule(rec, subject_next_change(rec.state, row.h, self.calendar_for,
                                                   attribution=self.attribution))


__all__ = ["Tracked", "Tracker", "Versions", "last_fact_time"]
