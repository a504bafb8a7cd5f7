"""The stream layer's state machines, free of faust and of I/O: what
:class:`streams.pipeline.Pipeline` does with each message. Plain objects, so they can be
tested and reasoned about alone.

* :class:`Tracker` — dossier states of the owned ``events`` partitions; turns touched
  dossiers into *versioned whole contributions* and keeps a heap of due instants.
* :class:`Aggregator` — per (counter key, dossier) the last applied version and its rows;
  KPI counters per (counter key, period) that are always the sum of those rows.

A *counter key* is a unit code (the unit's own figures) or a unit's scoped total key
(:func:`kpi.attribution.scoped`). Each count of a dossier goes to the unit in force at its
judged instant and to the totals above it (:func:`kpi.contribution.contribution_rows` with
the tracker's :class:`kpi.attribution.Attribution`), so one dossier may touch several
counter keys: the receiving unit, the handling unit, the units in force at different
instants and their totals.

Wire formats (JSON, orjson):

* contributions message, key = counter key: ``{"d": [[code, version, level, rows], ...]}``
  with ``rows`` = ``[[period keys], [count keys]]`` pairs: the dossier's rows of that
  counter key; empty ``rows`` retract the dossier from that key.
* dossier table row: ``{"f": facts, "v": version, "u": keys, "h": horizon, "p": partition}``
  and, with a registry, ``"r": fingerprint`` (:func:`streams.units.registry_fingerprint`);
  ``"a": true`` marks a row written *ahead* of an emission not yet delivered; ``"x": true``
  a dossier retired with this row (below). ``keys``: the counter keys the dossier may hold
  rows under, sorted, joined by ``␟`` (null: none).
* applied table row (key ``counterkey␟code``): ``{"v": version, "l": level, "r": rows,
  "p": partition}``, and ``"x": true`` when the entry retired it.
* an entry ``[code, version, level, rows, 1]`` (a fifth element) retires the dossier's
  row at the aggregator.

Retirement (docs/decisions/streams-local-state.md): with an :class:`Archive` (the worker's
local state, :mod:`streams.localstate`), a dossier whose contribution can no longer change
by time alone leaves memory when the pipeline decides so (:meth:`Tracker.retire`, after an
emission whose entries carry the fifth element and whose row carries ``"x"``); its row
lives on in the archive and :meth:`Tracker.apply_fact` reads it back when an event for it
comes. The aggregator keeps its (unit, dossier) rows in the archive altogether — retired
ones marked so — and reads those a batch replaces (:meth:`Aggregator.prefetch`); only
the counters stay in memory.

Retractions: every emission sends the dossier's rows to each counter key it touches now and
an empty entry to each key of its previous emission it no longer touches, so a dossier that
moves (another handling unit, a merger, a registry change) leaves no stale counts. The
table row's ``keys`` always include every key the aggregator may hold non-empty rows of the
dossier under (the keys of the emission it accompanies, retracted ones too), so a restored
dossier still retracts what a lost emission sent.

Memory: a worker holds every open dossier of its partitions, so :class:`Tracked` keeps a
dossier's facts packed in one ``bytes`` object (the JSON of its row's ``"f"``) and unpacks
them only when the dossier is touched or emitted, and the due heap gets a new entry only
when a dossier's next change moves (docs/decisions/streams-compact-state.md).
"""

from __future__ import annotations

import heapq
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
import orjson

from kpi.attribution import NO_REGISTRY, Attribution, set_communes, split_scoped
from kpi.contribution import DEFAULT_SYNC_WINDOW
from kpi.counters import Counters, add_distinct, key_indices
from kpi.dossier import DossierState, Fact, FactKey, fact_key, fact_of
from kpi.sla import CalendarFor, summarize
from kpi.subject import subject_next_change, subject_rows
from schemas.events import Event
from streams.localstate import APPLIED, DOSSIER

SEP = "\x1f"
Rows = list[list[list[str]]]
"""``[[period keys], [count keys]]`` pairs."""
Entry = list[Any]
"""``[code, version, level, rows]`` of a contributions message."""
HEAP_SLACK = 10_000
"""Due-heap entries beyond twice the dossiers in memory before :meth:`Tracker.retire`
rebuilds the heap."""


def join_keys(keys: Iterable[str]) -> str | None:
    """A set of counter keys as one interned string (sorted, joined by ``␟``); None if
    empty. Few distinct sets, many dossiers: they share the string."""
    ks = sorted(set(keys))
    return sys.intern(SEP.join(ks)) if ks else None


def split_keys(keys: str | None) -> list[str]:
    """:func:`join_keys` reversed."""
    return keys.split(SEP) if keys is not None else []


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


class Archive(Protocol):
    """Where retired rows are read back from (:class:`streams.localstate.LocalState`):
    the row of ``key`` in ``table`` (``"dossier"`` or ``"applied"``) of changelog partition
    ``part``, or None; :meth:`get_many` for several keys (those found)."""

    def get(self, table: str, part: int, key: str) -> bytes | None: ...

    def get_many(self, table: str, part: int, keys: list[str]) -> dict[str, bytes]: ...


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
    r: str | None = None
    a: bool = False
    x: bool = False


_decode_row = msgspec.json.Decoder(_Row).decode


class _Retired(msgspec.Struct):
    x: bool = False


_decode_retired = msgspec.json.Decoder(_Retired).decode


class _Partition(msgspec.Struct):
    p: int


_decode_partition = msgspec.json.Decoder(_Partition).decode


def row_partition(raw: bytes) -> int:
    """The changelog partition a dossier or applied table row belongs to (its ``"p"``)."""
    return _decode_partition(raw).p


def is_retired_row(raw: bytes) -> bool:
    """Whether a dossier or applied table row retired its dossier (``"x": true``)."""
    return _decode_retired(raw).x


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
        return _kept(orjson.dumps(row))

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


_INDICES: dict[tuple[str, ...], tuple[tuple[int, ...], tuple[tuple[str, int], ...]]] = {}


def _indices(keys: Sequence[str]) -> tuple[tuple[int, ...], tuple[tuple[str, int], ...]]:
    """:func:`kpi.counters.key_indices`, memoized per key list."""
    t = tuple(keys)
    idx = _INDICES.get(t)
    if idx is None:
        idx = _INDICES[t] = key_indices(t)
    return idx


def _applied_of(raw: bytes) -> tuple[Applied, Rows, bool]:
    """An applied table row: (what the aggregator keeps, its rows decoded, retired)."""
    obj = orjson.loads(raw)
    level = sys.intern(obj["l"]) if obj["l"] is not None else None
    rows = obj["r"]
    return (Applied(obj["v"], level, _kept(orjson.dumps(rows)), obj["p"]), rows,
            bool(obj.get("x")))


@dataclass
class Aggregator:
    """KPI counters per (counter key, period) of this worker's partitions of the
    contributions topic, kept equal to the sum of the last applied rows of every dossier.
    Its "unit" strings are counter keys (a unit's total: :func:`kpi.attribution.scoped`).

    Without an :attr:`archive`, :attr:`applied` holds every row. With one (the worker's
    local state), the rows live there and only the counters stay in memory: a batch reads
    the rows its entries replace (:meth:`prefetch`, else one by one), :attr:`applied` holds
    what the batch read or changed until the caller has written the changed rows to the
    archive (:meth:`drain`). An entry with a fifth element retires its row: written to the
    archive as retired (:attr:`retiring`)."""

    applied: dict[str, Applied] = field(default_factory=dict)
    counters: dict[tuple[str, str], Counters] = field(default_factory=dict)
    levels: dict[str, str] = field(default_factory=dict)
    dirty: set[tuple[str, str]] = field(default_factory=set)
    archive: Archive | None = None
    retiring: set[str] = field(default_factory=set)
    """Keys whose last row changed since the last :meth:`drain` retired them."""
    absent: set[str] = field(default_factory=set)
    """Keys known, since the last :meth:`drain`, to have no row in the archive."""
    changed: set[tuple[str, str]] = field(default_factory=set)
    """Buckets changed since the last :meth:`take_changed` (the local checkpoint's)."""
    homes: dict[str, int] = field(default_factory=dict)
    """Counter key → its contributions partition (where its counters are checkpointed)."""
    revived: int = 0
    """Rows read back from :attr:`archive` so far."""
    refs: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    """Per bucket, the references of its distinct row keys (:func:`kpi.counters.add_distinct`):
    kept with the counters, checkpointed with them."""

    def clear(self) -> None:
        self.applied.clear()
        self.counters.clear()
        self.refs.clear()
        self.dirty.clear()
        self.retiring.clear()
        self.absent.clear()
        self.changed.clear()
        self.homes.clear()

    def _add(self, unit: str, rows: Iterable[Sequence[Sequence[str]]], sign: int) -> None:
        counters, dirty, changed = self.counters, self.dirty, self.changed
        for periods, keys in rows:
            idx, distinct = _indices(keys)
            for pk in periods:
                bucket = (unit, pk)
                c = counters.get(bucket)
                if c is None:
                    c = counters[bucket] = Counters()
                v = c.values
                for i in idx:
                    v[i] += sign
                if distinct:
                    refs = self.refs.get(bucket)
                    if refs is None:
                        refs = self.refs[bucket] = {}
                    add_distinct(v, refs, distinct, sign)
                dirty.add(bucket)
                changed.add(bucket)

    def _replace(self, unit: str, old: Rows, new: Rows) -> None:
        """``_add(old, -1)`` then ``_add(new, 1)``, but for the (periods, keys) pairs both
        hold, which cancel out: a re-emitted dossier keeps most of its pairs (a catalog
        entry's 26 periods after each new link), and buckets whose counts do not change
        are neither checkpointed nor published again."""
        held: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}
        for periods, keys in old:
            pair = (tuple(periods), tuple(keys))
            held[pair] = held.get(pair, 0) + 1
        added: list[Sequence[Sequence[str]]] = []
        for periods, keys in new:
            pair = (tuple(periods), tuple(keys))
            n = held.get(pair, 0)
            if n:
                held[pair] = n - 1
            else:
                added.append((periods, keys))
        removed = [pair for pair, n in held.items() for _ in range(n)]
        if removed:
            self._add(unit, removed, -1)
        if added:
            self._add(unit, added, 1)

    def _lookup(self, key: str, partition: int) -> Applied | None:
        """The last applied row of ``key``: in memory, or read from the archive."""
        old = self.applied.get(key)
        if old is None and self.archive is not None and key not in self.absent:
            raw = self.archive.get(APPLIED, partition, key)
            if raw is not None:
                old = self.applied[key] = _applied_of(raw)[0]
                self.revived += 1
            else:
                self.absent.add(key)
        return old

    def prefetch(self, keys: dict[int, set[str]]) -> None:
        """Read the archived rows of ``keys`` (per contributions partition) in one go, for
        the batch about to be applied."""
        archive = self.archive
        if archive is None:
            return
        applied, absent = self.applied, self.absent
        for part, wanted in keys.items():
            missing = [k for k in wanted if k not in applied and k not in absent]
            if not missing:
                continue
            found = archive.get_many(APPLIED, part, missing)
            for k in missing:
                raw = found.get(k)
                if raw is None:
                    absent.add(k)
                else:
                    applied[k] = _applied_of(raw)[0]
                    self.revived += 1

    def _keep(self, key: str, applied: Applied, retire: bool) -> None:
        self.applied[key] = applied
        self.absent.discard(key)
        if retire and self.archive is not None:
            self.retiring.add(key)
        else:
            self.retiring.discard(key)

    def drain(self) -> None:
        """With an archive: the caller has written the rows changed since the last call
        (retired ones as such); forget them here."""
        if self.archive is not None:
            self.applied.clear()
            self.absent.clear()
            self.retiring.clear()

    def apply(self, unit: str, entry: Entry, partition: int) -> tuple[str, bytes] | None:
        """Apply one entry if its version is newer; returns the table row to persist
        (key, value) when the stored rows changed or the entry retires them, else None."""
        code, version, level, rows = entry[0], entry[1], entry[2], entry[3]
        retire = len(entry) > 4 and bool(entry[4])
        key = unit + SEP + code
        old = self._lookup(key, partition)
        if old is not None and version <= old.version:
            return None
        self.homes[unit] = partition
        same_level = True
        if level is not None:
            level = sys.intern(level)
            same_level = self.levels.get(unit) is level
            self.levels[unit] = level
        packed = orjson.dumps(rows)
        if old is not None and old.packed == packed:
            old.version = version  # nothing to add; a replay of it changes nothing either
            if not retire:
                return None
            packed, applied = old.packed, old
            level, partition = old.level, old.partition
        else:
            if old is None:
                self._add(unit, rows, 1)
            elif same_level:
                self._replace(unit, old.rows, rows)
            else:  # every bucket the rows touch is published again, with the new level
                self._add(unit, old.rows, -1)
                self._add(unit, rows, 1)
            applied = Applied(version, level, _kept(packed), partition)
        self._keep(key, applied, retire)
        # the table row, around the rows' JSON already made (same bytes as dumping the dict)
        row = b'{"v":%d,"l":%s,"r":%s,"p":%d' % (version, orjson.dumps(level), packed,
                                                 partition)
        return key, row + (b',"x":true}' if retire else b"}")

    def restore(self, key: str, raw: bytes, partitions: set[int]) -> None:
        """Take one table row back (a whole changelog read after an assignment) if its
        partition is ours: its rows are added to the counters; it stays in memory only
        without an archive (the caller keeps the row there)."""
        applied, rows, _ = _applied_of(raw)
        if applied.partition not in partitions:
            return
        unit = key.split(SEP, 1)[0]
        self.homes[unit] = applied.partition
        if self.archive is None:
            self.applied[key] = applied
        if applied.level is not None:
            self.levels[unit] = applied.level
        self._add(unit, rows, 1)

    def load_counter(self, part: int, unit: str, period: str, value: bytes) -> None:
        """One bucket of the local checkpoint (:meth:`checkpoint_value`)."""
        obj = orjson.loads(value)
        self.counters[(unit, period)] = Counters.from_mapping(obj["c"])
        if obj.get("r"):
            self.refs[(unit, period)] = dict(obj["r"])
        self.homes[unit] = part
        if obj["l"] is not None:
            self.levels[unit] = sys.intern(obj["l"])

    def checkpoint_value(self, bucket: tuple[str, str]) -> bytes:
        """A bucket's counters and its counter key's level, as the checkpoint keeps them."""
        counts = {k: n for k, n in self.counters[bucket].to_dict().items() if n}
        refs = self.refs.get(bucket)
        if refs:
            return orjson.dumps({"l": self.levels.get(bucket[0]), "c": counts, "r": refs})
        return orjson.dumps({"l": self.levels.get(bucket[0]), "c": counts})

    def replay(self, key: str, raw: bytes) -> bool:
        """A changelog row written after the local checkpoint was taken: it replaces the
        row the checkpoint holds in the counters. Returns whether it retired its row (the
        caller writes it to the archive, then :meth:`drain`)."""
        applied, rows, retired = _applied_of(raw)
        unit = key.split(SEP, 1)[0]
        old = self._lookup(key, applied.partition)
        if old is not None:
            self._add(unit, old.rows, -1)
        self._add(unit, rows, 1)
        self.homes[unit] = applied.partition
        if applied.level is not None:
            self.levels[unit] = applied.level
        self._keep(key, applied, retired)
        return retired

    def take_changed(self) -> set[tuple[str, str]]:
        """The buckets changed since the last call (the caller checkpoints them)."""
        out, self.changed = self.changed, set()
        return out

    def published(self, key: str, period: str, attribution: Attribution, now: float
                  ) -> Counters:
        """The counts a snapshot of bucket (``key``, ``period``) shows at ``now``: the
        summed rows plus ``communes`` (v1.2: the registry's communes in scope,
        :func:`kpi.attribution.set_communes`, as the batch sets them)."""
        unit, scope = split_scoped(key)
        counters = Counters(self.counters[(key, period)].values)
        level = self.levels.get(key)
        set_communes({(unit, period): counters}, scope, attribution,
                     {unit: level} if level is not None else {}, now)
        return counters

    def take_dirty(self) -> list[tuple[str, str, Counters]]:
        out = [(u, p, self.counters[(u, p)]) for (u, p) in sorted(self.dirty)]
        self.dirty.clear()
        return out


def encode_link(key: str, fact: Fact) -> bytes:
    """A links-topic record value: ``[fact key, fact]`` (kpi.links)."""
    return orjson.dumps([key, fact])


def decode_link(value: bytes) -> tuple[str, Fact]:
    """:func:`encode_link` reversed."""
    key, fact = orjson.loads(value)
    return key, tuple(fact)


def decode_entries(value: bytes) -> list[Entry]:
    return orjson.loads(value)["d"]


def encode_entries(entries: list[Entry]) -> bytes:
    return orjson.dumps({"d": entries})


__all__ = ["Aggregator", "Applied", "Archive", "Tracked", "Tracker", "Versions",
           "decode_entries", "decode_link", "encode_entries", "encode_link",
           "is_retired_row", "join_keys", "last_fact_time", "pack_facts", "row_partition",
           "split_keys", "unpack_facts"]
