"""The stream layer's state machines, free of faust and of I/O: what
:class:`streams.pipeline.Pipeline` does with each message. Plain objects, so they can be
tested and reasoned about alone.

* :class:`Tracker` — dossier states of the owned ``events`` partitions; turns touched
  dossiers into *versioned whole contributions* and keeps a heap of due instants.
* :class:`Aggregator` — per (unit, dossier) the last applied version and its rows; KPI
  counters per (unit, period) that are always the sum of those rows.

Wire formats (JSON, orjson):

* contributions message, key = unit: ``{"d": [[code, version, level, rows], ...]}`` with
  ``rows`` = ``[[period keys], [count keys]]`` pairs (:func:`kpi.contribution.contribution_rows`);
  empty ``rows`` retract the dossier from that unit.
* dossier table row: ``{"f": facts, "v": version, "u": unit, "h": horizon, "p": partition}``.
* applied table row (key ``unit␟code``): ``{"v": version, "l": level, "r": rows, "p": partition}``.

Memory: a worker holds every open dossier of its partitions, so :class:`Tracked` keeps a
dossier's facts packed in one ``bytes`` object (the JSON of its row's ``"f"``) and unpacks
them only when the dossier is touched or emitted, and the due heap gets a new entry only
when a dossier's next change moves (docs/decisions/streams-compact-state.md).
"""

from __future__ import annotations

import heapq
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import orjson

from kpi.contribution import contribution_rows, next_change
from kpi.counters import INDEX, Counters
from kpi.dossier import DossierState, Fact, FactKey, fact_key, fact_of
from kpi.sla import CalendarFor, summarize
from schemas.events import Event

SEP = "\x1f"
Rows = list[list[list[str]]]
"""``[[period keys], [count keys]]`` pairs."""
Entry = list[Any]
"""``[code, version, level, rows]`` of a contributions message."""


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


def _kept(data: bytes) -> bytes:
    """An exact-size copy of an orjson result that will be kept (by the tracker, the
    aggregator, or a caller holding table rows): a kept ``orjson.dumps`` result holds on
    to its whole output buffer (docs/decisions/streams-compact-state.md)."""
    return bytes(memoryview(data))


_unpack = msgspec.json.Decoder(dict[str, tuple]).decode


def pack_facts(facts: dict[FactKey, Fact]) -> bytes:
    """A dossier's facts as one JSON object: exactly the ``"f"`` of its table row."""
    return _kept(orjson.dumps(facts))


def unpack_facts(packed: bytes) -> dict[FactKey, Fact]:
    """:func:`pack_facts` reversed: the same keys in the same order and equal tuples of the
    same types (JSON keeps ``1`` and ``1.0`` apart; orjson's floats read back exactly)."""
    return _unpack(packed)


class _Row(msgspec.Struct):
    """A dossier table row with its facts left packed."""

    f: msgspec.Raw
    v: int
    u: str | None
    h: float
    p: int


_decode_row = msgspec.json.Decoder(_Row).decode


class Tracked:
    """One dossier as the tracker holds it, compactly: the facts stay packed
    (:func:`pack_facts`) and :attr:`state` unpacks them on every read, so read it once per
    use; the unit string is interned (few units, many dossiers). ``due`` is the instant it
    is scheduled to be re-emitted at (its next change)."""

    __slots__ = ("code", "packed", "partition", "version", "unit", "due")

    def __init__(self, state: DossierState, partition: int, version: int = 0,
                 unit: str | None = None, due: float | None = None) -> None:
        self._set(state.code, pack_facts(state.facts), partition, version, unit, due)

    def _set(self, code: str, packed: bytes, partition: int, version: int,
             unit: str | None, due: float | None) -> None:
        self.code = code
        self.packed = packed
        self.partition = partition
        self.version = version
        self.unit = sys.intern(unit) if unit is not None else None
        self.due = due

    @classmethod
    def packed_as(cls, code: str, packed: bytes, partition: int, version: int,
                  unit: str | None) -> Tracked:
        """A dossier whose facts are already packed (as in its table row)."""
        rec = cls.__new__(cls)
        rec._set(code, packed, partition, version, unit, None)
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
                f"partition={self.partition}, version={self.version}, unit={self.unit!r}, "
                f"due={self.due})")


@dataclass
class Tracker:
    """Dossier states (hồ sơ) of this worker's partitions of the events topic."""

    calendar_for: CalendarFor
    versions: Versions = field(default_factory=Versions)
    dossiers: dict[str, Tracked] = field(default_factory=dict)
    _heap: list[tuple[float, str]] = field(default_factory=list)

    def clear(self) -> None:
        self.dossiers.clear()
        self._heap.clear()

    def apply(self, event: Event, partition: int) -> tuple[Tracked, bool]:
        """Fold one valid event in; returns the dossier and whether its state changed."""
        return self.apply_fact(event.subject, fact_key(event.source, event.id),
                               fact_of(event), partition)

    def apply_fact(self, code: str, key: str, fact: Fact, partition: int
                   ) -> tuple[Tracked, bool]:
        """:meth:`apply` for an event already reduced to its fact (the fast path)."""
        rec = self.dossiers.get(code)
        if rec is None:
            rec = self.dossiers[code] = Tracked(DossierState.empty(code), partition)
        old = rec.state
        new = old.with_fact(key, fact)
        changed = new is not old
        if changed:
            rec.state = new
        rec.partition = partition
        return rec, changed

    def emit(self, rec: Tracked, now: float) -> list[tuple[str, Entry]]:
        """The dossier's whole contribution at ``now`` under a new version, as
        ``(unit, entry)`` pairs (two when its unit changed: a retraction for the old one),
        and its next change scheduled."""
        state = rec.state
        d = summarize(state, now, self.calendar_for)
        rec.version = v = self.versions.next(rec.version)
        out: list[tuple[str, Entry]] = []
        unit = None
        if d is not None:
            unit = sys.intern(d.unit)
            rows = contribution_rows(d, now)  # tuples: JSON arrays on the wire
            out.append((unit, [rec.code, v, d.level, rows]))
        if rec.unit is not None and rec.unit != unit:
            out.append((rec.unit, [rec.code, v, None, []]))
        rec.unit = unit
        self.schedule(rec, next_change(state, now, self.calendar_for, summary=d,
                                       summarized=True))
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
    @staticmethod
    def row(rec: Tracked, horizon: float) -> bytes:
        return _kept(orjson.dumps({"f": orjson.Fragment(rec.packed), "v": rec.version,
                                   "u": rec.unit, "h": horizon, "p": rec.partition}))

    def restore(self, code: str, raw: bytes, partitions: set[int]) -> None:
        """Take one table row back (after recovery) if its partition is ours; its next
        change is computed from the horizon it was last written at, so a re-emission lost
        in a crash is redone at once."""
        row = _decode_row(raw)
        if row.p not in partitions:
            return
        rec = Tracked.packed_as(code, bytes(row.f), row.p, row.v, row.u)
        self.dossiers[code] = rec
        self.schedule(rec, next_change(rec.state, row.h, self.calendar_for))


@dataclass(slots=True)
class Applied:
    """What the aggregator last applied for one (unit, dossier). The rows are kept as their
    JSON (exact-size bytes) rather than as decoded lists of strings; they are decoded only
    when a newer version replaces them (docs/decisions/streams-compact-state.md)."""

    version: int
    level: str | None
    packed: bytes
    partition: int

    @property
    def rows(self) -> Rows:
        return orjson.loads(self.packed)


_INDICES: dict[tuple[str, ...], tuple[int, ...]] = {}


def _indices(keys: list[str]) -> tuple[int, ...]:
    t = tuple(keys)
    idx = _INDICES.get(t)
    if idx is None:
        idx = _INDICES[t] = tuple(INDEX[k] for k in t)
    return idx


@dataclass
class Aggregator:
    """KPI counters per (unit, period) of this worker's partitions of the contributions
    topic, kept equal to the sum of the last applied rows of every dossier."""

    applied: dict[str, Applied] = field(default_factory=dict)
    counters: dict[tuple[str, str], Counters] = field(default_factory=dict)
    levels: dict[str, str] = field(default_factory=dict)
    dirty: set[tuple[str, str]] = field(default_factory=set)

    def clear(self) -> None:
        self.applied.clear()
        self.counters.clear()
        self.dirty.clear()

    def _add(self, unit: str, rows: Rows, sign: int) -> None:
        counters, dirty = self.counters, self.dirty
        for periods, keys in rows:
            idx = _indices(keys)
            for pk in periods:
                bucket = (unit, pk)
                c = counters.get(bucket)
                if c is None:
                    c = counters[bucket] = Counters()
                v = c.values
                for i in idx:
                    v[i] += sign
                dirty.add(bucket)

    def apply(self, unit: str, entry: Entry, partition: int) -> tuple[str, bytes] | None:
        """Apply one entry if its version is newer; returns the table row to persist
        (key, value) when the stored rows changed, else None."""
        code, version, level, rows = entry
        key = unit + SEP + code
        old = self.applied.get(key)
        if old is not None and version <= old.version:
            return None
        if level is not None:
            level = sys.intern(level)
            self.levels[unit] = level
        packed = orjson.dumps(rows)
        if old is not None and old.packed == packed:
            old.version = version  # nothing to add; a replay of it changes nothing either
            return None
        if old is not None:
            self._add(unit, old.rows, -1)
        self._add(unit, rows, 1)
        self.applied[key] = Applied(version, level, _kept(packed), partition)
        # the table row, around the rows' JSON already made (same bytes as dumping the dict)
        return key, b'{"v":%d,"l":%s,"r":%s,"p":%d}' % (version, orjson.dumps(level), packed,
                                                        partition)

    def restore(self, key: str, raw: bytes, partitions: set[int]) -> None:
        obj = orjson.loads(raw)
        if obj["p"] not in partitions:
            return
        unit = key.split(SEP, 1)[0]
        level = sys.intern(obj["l"]) if obj["l"] is not None else None
        self.applied[key] = Applied(obj["v"], level, _kept(orjson.dumps(obj["r"])), obj["p"])
        if level is not None:
            self.levels[unit] = level
        self._add(unit, obj["r"], 1)

    def take_dirty(self) -> list[tuple[str, str, Counters]]:
        out = [(u, p, self.counters[(u, p)]) for (u, p) in sorted(self.dirty)]
        self.dirty.clear()
        return out


def decode_entries(value: bytes) -> list[Entry]:
    return orjson.loads(value)["d"]


def encode_entries(entries: list[Entry]) -> bytes:
    return orjson.dumps({"d": entries})


__all__ = ["Aggregator", "Applied", "Tracked", "Tracker", "Versions", "decode_entries",
           "encode_entries", "pack_facts", "unpack_facts"]
