"""The aggregator: KPI counters per (counter key, period) of the owned ``contributions``
partitions, free of faust and of I/O. Per (counter key, dossier) it keeps the last applied
version and its rows, and applies an entry only if its version is newer; the counters are
always the sum of those rows (counter keys: :mod:`streams.tracker`).

With an :class:`streams.ports.Archive` (the worker's local state) the aggregator keeps
its (unit, dossier) rows there altogether — retired ones marked so — and reads those a
batch replaces (:meth:`Aggregator.prefetch`); only the counters stay in memory
(docs/decisions/streams-local-state.md).

The applied table row's format is :mod:`streams.wire`'s; :meth:`Aggregator.apply` writes it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import orjson

from kpi.attribution import Attribution, set_communes, split_scoped
from kpi.counters import Counters, add_distinct, key_indices
from streams.localstate import APPLIED
from streams.ports import Archive
from streams.wire import SEP, Entry, Rows, check_format, kept


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
    check_format(obj.get("w"), "an applied table row")
    level = sys.intern(obj["l"]) if obj["l"] is not None else None
    rows = obj["r"]
    return (Applied(obj["v"], level, kept(orjson.dumps(rows)), obj["p"]), rows,
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
            applied = Applied(version, level, kept(packed), partition)
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


__all__ = ["Aggregator", "Applied"]
