"""The live pipeline as one object, free of faust: what the worker does with each batch of
records, each timer tick and each rebalance.

Data flow::

    events topic (key = dossier code, raw CloudEvents JSON)
      │  track_batch
      │    invalid ──► DLQ (runtime.dlq: reason + original bytes + topic/partition/offset)
      │    wrong key ─► re-sent to the events topic keyed by ``subject`` (one dossier, one
      │                 partition, one owner)
      │    valid ───► Tracker (kpi.dossier fold, idempotent; counts attributed with the
      │                 unit registry, kpi.attribution); changed dossiers' rows ──►
      │                 dossiers changelog
      │    joins ───► links topic (key = the target subject, co-partitioned with events):
      │                 the kpi.links link facts of every subject that received a fact of a
      │                 SOURCE kind (a dossier's receipt or payment, a petition's receipt);
      │                 read back by the same step and folded into the target like an event
      ▼
    contributions topic (key = counter key: a unit's own figures, or its total): the
      │  WHOLE current contribution of every dossier touched in the batch, with a version
      │  number, one message per counter key per batch; empty rows retract a dossier
      │  from a key it no longer touches
      │  aggregate_batch
      │    Aggregator: per key␟code the last applied (version, rows), applied only if the
      │    version is newer; counters += new rows − old rows; changed rows ──► applied
      │    changelog
      ▼
    publish (timer): changed (counter key, period) buckets only ──► kpi topic (compacted,
      key = kpi.report.snapshot_key: ``unit|period`` own, ``unit|period|total`` total; the
      kpi.report.build_report JSON, view ``as_was``, with the scope and the unit's name)
    sweep (timer): dossiers whose next change (due instant passing, a new month, a
      future-dated fact becoming visible, a unit version beginning or ending) is due are
      re-emitted like a new event.

The class is read top-down in three modules: this one (batches and timers),
:mod:`streams.rebuild` (revocation and rebuild, a base class) and :mod:`streams.delivery`
(what is committed when, a base class under it); the state machines are
:class:`streams.tracker.Tracker` and :class:`streams.aggregator.Aggregator`, the byte
formats :mod:`streams.wire`.

Contracts (why together they lose nothing and count nothing twice: :mod:`streams.delivery`):

* A batch method returns only when every record it produced is acknowledged by the broker
  (:meth:`Pipeline.delivered`); if it raises, its input must not be acknowledged for
  commit and the process must stop (its in-memory state may be half-applied): the caller
  (:mod:`streams.app`) does both.
* With a local state, what a batch or sweep changed is committed to it once
  ``checkpoint_interval`` seconds have passed since the last commit, else by
  :meth:`Pipeline.flush_checkpoint` (the sweep timer); a dossier whose contribution can no
  longer change by time alone retires (leaves memory for the local state)
  ``retire_after`` seconds after its latest fact (docs/decisions/streams-local-state.md).
* Rebalances (:meth:`Pipeline.revoke`, :meth:`Pipeline.recover`): :mod:`streams.rebuild`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from kpi.attribution import AS_WAS, Attribution, split_scoped
from kpi.catalog import shipped_catalogs
from kpi.contribution import DEFAULT_SYNC_WINDOW
from kpi.decode import decode_record
from kpi.dossier import Fact, keeps
from kpi.links import SOURCE_KINDS as LINK_SOURCES
from kpi.links import links_of
from kpi.periods import parse_period
from kpi.registry import UnitRegistry
from kpi.report import build_report, report_criteria, snapshot_key
from kpi.units import CalendarBook
from runtime.dlq import DeadLetter
from schemas.errors import InvalidEvent
from streams.aggregator import Aggregator
from streams.localstate import APPLIED, DOSSIER, LocalState
from streams.ports import ChangelogSource, Delivery, Producer, Record, Row, Topics
from streams.rebuild import Rebuild
from streams.tracker import Tracked, Tracker, last_fact_time
from streams.units import UnitNames, registry_fingerprint
from streams.wire import (
    SEP,
    Entry,
    decode_entries,
    decode_link,
    encode_entries,
    encode_link,
    split_keys,
)

log = logging.getLogger("motcua.streams")

MAX_ENTRIES_PER_MESSAGE = 2000
"""Contributions entries per message (one counter key); bigger batches are split."""

LINKS_MEMO = 20_000
"""Most links a worker remembers as sent (:meth:`Pipeline._remember_links`; ~300 B each):
a month's links of a province's catalog entries in use."""

DAY = 86_400.0

MAX_SWEPT = 20_000
"""Dossiers re-emitted per sweep at most; the others stay due for the next sweep, so that
a mass re-emission (a registry change, a long downtime) does not hold the event loop for
seconds (group heartbeats run on it)."""


class Pipeline(Rebuild):
    """Tracker + aggregator of this worker's partitions, their producer and the delivery
    check. One instance per worker process; every method runs on the event loop.

    ``registry`` (None: every unit code stands for itself, no totals) attributes the counts
    (:class:`kpi.attribution.Attribution`) and names the units in the snapshots; a given
    ``tracker`` is used as it is.

    ``local`` (None: everything in memory, every rebuild reads whole changelogs) is the
    worker's local state; ``retire_after`` the retention window in seconds;
    ``checkpoint_interval`` the least time in seconds between two commits of the local
    state after batches (0: after each; see the module's contracts);
    ``identity`` what else the local state must have been written with to be used (e.g.
    the partition count), besides the changelog topics and the registry."""

    def __init__(self, topics: Topics, producer: Producer, changelogs: ChangelogSource, *,
                 clock: Callable[[], float] = time.time, with_criteria: bool = False,
                 tracker: Tracker | None = None,
                 registry: UnitRegistry | None = None,
                 local: LocalState | None = None, retire_after: float = 35 * DAY,
                 identity: dict[str, Any] | None = None,
                 sync_window: float = DEFAULT_SYNC_WINDOW,
                 checkpoint_interval: float = 0.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.topics = topics
        self.producer = producer
        self.changelogs = changelogs
        self.clock = clock
        self.with_criteria = with_criteria
        self.tracker = tracker if tracker is not None else Tracker(
            CalendarBook(), attribution=Attribution(registry),
            fingerprint=registry_fingerprint(registry), sync_window=sync_window)
        self.names = UnitNames(registry)
        self.aggregator = Aggregator()
        self.ready = False
        """True once the state of the owned partitions is rebuilt (:meth:`recover`)."""
        self.stats: defaultdict[str, int] = defaultdict(int)
        self.written: dict[tuple[str, int], int] = {}
        """(topic, partition) → the highest offset the broker acknowledged to this process."""
        self.first_offsets: dict[int, int] = {}
        """Per events partition, the first offset processed since the last assignment."""
        self._lock = asyncio.Lock()
        """Held by every batch, by the revocation and by the end of a rebuild."""
        self._epoch = 0
        """Bumped by every revocation: a rebuild begun before one is dropped."""
        self._catalogs: list[Any] = []
        self.links_sent: dict[str, Fact] = {}
        """``target SEP link key`` → the link fact a target keeps (:func:`kpi.dossier.keeps`)
        of those under that key this process sent and had acknowledged."""
        self.local = local
        self.retire_after = retire_after
        self.identity = {"dossiers": topics.dossiers_changelog,
                         "applied": topics.applied_changelog,
                         "registry": self.tracker.fingerprint, **(identity or {})}
        self.reflected: dict[str, dict[int, int]] = {DOSSIER: {}, APPLIED: {}}
        """Per table, per changelog partition: the next offset the local state reflects
        (partitions no longer owned keep theirs)."""
        self._owned: dict[str, set[int]] = {DOSSIER: set(), APPLIED: set()}
        self.checkpoint_interval = checkpoint_interval
        self._monotonic = monotonic
        self._committed_at = monotonic()
        """When the local state was last committed (:attr:`_monotonic`'s clock)."""
        if local is not None:
            self.tracker.archive = local
            self.aggregator.archive = local


    # ---------------------------------------------------------------------- track
    async def handle_track(self, records: list[Any]) -> bool:
        """:meth:`track_batch` once recovered; False (not taken) before."""
        return await self._handle(self.track_batch, records)

    async def handle_aggregate(self, records: list[Any]) -> bool:
        """:meth:`aggregate_batch` once recovered; False (not taken) before."""
        return await self._handle(self.aggregate_batch, records)

    async def _handle(self, work: Callable[[list[Any]], Awaitable[None]],
                      records: list[Any]) -> bool:
        async with self._lock:
            if not self.ready:
                return False
            await work(records)
            return True

    async def track_batch(self, records: list[Record]) -> None:
        """Fold a batch of event records and send what changed: dead letters, re-keyed
        events, the changelog rows of the dossiers that changed (or moved between counter
        keys, or were :attr:`Tracker.stale`) and one contributions message per counter key
        (split above :data:`MAX_ENTRIES_PER_MESSAGE`). Should the batch be lost, its events
        are processed again, so the rows go with the entries."""
        now = self.clock()
        topics, tracker, send = self.topics, self.tracker, self.producer.send
        sent: list[Delivery] = []
        first = self.first_offsets
        for msg in records:
            if msg.partition not in first:
                first[msg.partition] = msg.offset
                log.info("events partition %d: processing from offset %d", msg.partition,
                         msg.offset)
        touched: dict[str, Any] = {}
        changed: set[str] = set()
        linking: set[str] = set()
        dead: list[DeadLetter] = []
        links_topic = topics.links
        facts: list[tuple[str, str, Fact, int]] = []  # (subject, fact key, fact, partition)
        wanted: defaultdict[int, set[str]] = defaultdict(set)
        for msg in records:
            if msg.topic == links_topic:  # a join record: a fact for the subject it names
                code = msg.key.decode() if msg.key is not None else ""
                lkey, lfact = decode_link(msg.value)
                facts.append((code, lkey, lfact, msg.partition))
                wanted[msg.partition].add(code)
                continue
            raw_value = msg.value
            headers = getattr(msg, "headers", None)  # CloudEvents binary mode: ce_* headers
            try:
                subject, fkey, fact = decode_record(raw_value, headers)
            except InvalidEvent as exc:
                dead.append(_dead(exc.reason, msg))
                continue
            except Exception as exc:  # a validator bug must not drop the event silently
                dead.append(_dead(f"processing failed: {exc!r}", msg))
                continue
            key = subject.encode()
            if msg.key != key:
                sent.append(await send(topics.events, key, raw_value, None,
                                       list(headers) if headers else None))
                self.stats["rekeyed"] += 1
                continue
            facts.append((subject, fkey, fact, msg.partition))
            wanted[msg.partition].add(subject)
        try:
            tracker.prefetch(wanted)  # retired dossiers back in one query per partition
            for subject, fkey, fact, partition in facts:
                rec, did_change = tracker.apply_fact(subject, fkey, fact, partition)
                touched[subject] = rec
                if did_change:
                    changed.add(subject)
                if fact[0] in LINK_SOURCES:
                    linking.add(subject)
        finally:
            tracker.absent.clear()
        for dl in dead:
            sent.append(await send(topics.dlq, dl.key, dl.encode(), None, dl.headers()))
        self.stats["dead"] += len(dead)
        by_unit: dict[str, list[Entry]] = defaultdict(list)
        rows: list[Row] = []
        stale = tracker.stale
        retiring: list[Tracked] = []
        for code, rec in touched.items():
            old = rec.keys
            pairs = tracker.emit(rec, now)
            for unit, entry in pairs:
                by_unit[unit].append(entry)
            if self._retires(rec, now):
                retiring.append(rec)
                for _, entry in pairs:
                    entry.append(1)
                rows.append(self._row(rec, now, [k for k, _ in pairs] if rec.keys != old
                                      else None, retired=True))
                stale.discard(code)
            elif rec.keys != old:  # the row names the retracted keys too
                rows.append(self._row(rec, now, [k for k, _ in pairs]))
                stale.discard(code)
            elif code in changed or code in stale:
                rows.append(self._row(rec, now))
                stale.discard(code)
        sent.extend(await self.producer.send_rows(topics.dossiers_changelog, rows))
        await self._send_entries(sent, by_unit)
        # every time, duplicates and replays too (a link lost in a crash is resent), but
        # for a link this process has had acknowledged with a fact that wins over it
        memo, sending = self.links_sent, []
        for code in linking:
            for target, lkey, lfact in links_of(code,
                                                tracker.state_of(touched[code]).facts.values()):
                name = f"{target}{SEP}{lkey}"
                held = memo.get(name)
                if held is not None and keeps(held, lfact):
                    self.stats["links_known"] += 1
                    continue
                sent.append(await send(links_topic, target.encode(), encode_link(lkey, lfact)))
                sending.append((name, lfact))
                self.stats["links"] += 1
        tracker.fresh.clear()
        await self.delivered(sent)
        self._remember_links(sending)
        self._retire(rows, retiring)
        self._checkpoint()
        self.stats["events"] += len(records)

    def _remember_links(self, acknowledged: list[tuple[str, Fact]]) -> None:
        """Note links the broker acknowledged: their target will hold a fact at least as
        early (the fold keeps the earliest copy under a key), so a later link under the
        same key that does not win over it need not be sent. Forgotten all at once past
        :data:`LINKS_MEMO` entries (a forgotten link is merely sent again)."""
        memo = self.links_sent
        if len(memo) + len(acknowledged) > LINKS_MEMO:
            memo.clear()
        for name, fact in acknowledged:
            held = memo.get(name)
            if held is None or not keeps(held, fact):
                memo[name] = fact

    def _retires(self, rec: Tracked, now: float) -> bool:
        """After an emission: whether the dossier retires with it — its contribution can no
        longer change by time alone (no next change) and its latest fact is
        :attr:`retire_after` old. A settled dossier not that old yet is scheduled to be
        re-emitted (and so retired) when it is."""
        if self.local is None or rec.due is not None:
            return False
        at = last_fact_time(rec) + self.retire_after
        if at <= now:
            return True
        self.tracker.schedule(rec, at)
        return False

    def _retire(self, rows: list[Row], retiring: list[Tracked]) -> None:
        """After the deliveries: the dossier rows written go to the local state (retired
        ones as such) and the retired dossiers leave memory."""
        local = self.local
        if local is None:
            return
        gone = {rec.code for rec in retiring}
        for key, value, part in rows:
            code = key.decode()
            local.put(DOSSIER, part, code, value, retired=code in gone)
        for rec in retiring:
            self.tracker.retire(rec)
        self.stats["retired"] += len(retiring)

    async def _send_entries(self, sent: list[Delivery], by_unit: dict[str, list[Entry]]
                            ) -> None:
        send, topic = self.producer.send, self.topics.contributions
        for unit, entries in by_unit.items():
            key = unit.encode()
            for i in range(0, len(entries), MAX_ENTRIES_PER_MESSAGE):
                chunk = entries[i : i + MAX_ENTRIES_PER_MESSAGE]
                sent.append(await send(topic, key, encode_entries(chunk)))

    async def sweep(self) -> None:
        """Re-emit the dossiers whose next change is due, at most :data:`MAX_SWEPT` (nothing
        before recovery).

        No event is replayed for a sweep lost in a crash, so a swept dossier's table row
        is written only after its entries are delivered — and, when the emission sends to
        a counter key its row may not name, also *ahead* of them (:meth:`Tracker.row`),
        so that a restore re-emits it and retracts that key. Rows are written for dossiers
        whose keys moved or that were :attr:`Tracker.stale`; the others keep their row,
        whose horizon makes a restore redo the re-emission. Holds the pipeline's lock, as
        a batch does (:mod:`streams.delivery`)."""
        async with self._lock:
            await self._sweep()

    async def _sweep(self) -> None:
        if not self.ready:
            return
        now = self.clock()
        tracker = self.tracker
        by_unit: dict[str, list[Entry]] = defaultdict(list)
        ahead: list[Row] = []
        after: list[Row] = []
        retiring: list[Tracked] = []
        for rec in list(itertools.islice(tracker.due(now), MAX_SWEPT)):
            old = rec.keys
            pairs = tracker.emit(rec, now)
            for unit, entry in pairs:
                by_unit[unit].append(entry)
            retires = self._retires(rec, now)
            if retires:
                retiring.append(rec)
                for _, entry in pairs:
                    entry.append(1)
            if retires or rec.keys != old or rec.code in tracker.stale:
                tracker.stale.discard(rec.code)
                after.append(self._row(rec, now, retired=retires))
                if not set(split_keys(rec.keys)) <= set(split_keys(old)):
                    ahead.append(self._row(rec, now, [k for k, _ in pairs], ahead=True))
        if not by_unit and not after:
            return
        self.stats["swept"] += sum(len(v) for v in by_unit.values())
        changelog, send_rows = self.topics.dossiers_changelog, self.producer.send_rows
        if ahead:
            await self.delivered(await send_rows(changelog, ahead))
        sent: list[Delivery] = []
        await self._send_entries(sent, by_unit)
        await self.delivered(sent)
        if after:
            await self.delivered(await send_rows(changelog, after))
        self._retire(ahead + after, retiring)
        self._checkpoint()

    def _row(self, rec: Tracked, now: float, sent: list[str] | None = None, *,
             ahead: bool = False, retired: bool = False) -> Row:
        return (rec.code.encode(), self.tracker.row(rec, now, sent, ahead=ahead,
                                                    retired=retired), rec.partition)

    # ------------------------------------------------------------------ aggregate
    async def aggregate_batch(self, records: list[Record]) -> None:
        """Apply a batch of contributions messages; send the changed applied rows."""
        aggregator, local = self.aggregator, self.local
        rows: list[Row] = []
        keys: list[str] = []
        for msg in records:
            unit = msg.key.decode() if msg.key is not None else ""
            part = msg.partition
            entries = decode_entries(msg.value)
            if local is not None:  # the rows these entries replace, in one query
                aggregator.prefetch({part: {unit + SEP + entry[0] for entry in entries}})
            for entry in entries:
                row = aggregator.apply(unit, entry, part)
                if row is not None:
                    rows.append((row[0].encode(), row[1], part))
                    keys.append(row[0])
        sent = await self.producer.send_rows(self.topics.applied_changelog, rows)
        await self.delivered(sent)
        if local is not None:
            gone = aggregator.retiring
            for key, (_, value, part) in zip(keys, rows, strict=True):
                local.put(APPLIED, part, key, value, retired=key in gone)
            aggregator.drain()
            self._checkpoint()
        self.stats["contributions"] += len(records)

    async def publish(self) -> None:
        """Send a snapshot of every changed (counter key, period) bucket to the kpi topic,
        keyed by :func:`kpi.report.snapshot_key`: view ``as_was``, the scope of the key and
        the unit's name (:class:`streams.units.UnitNames`); if that fails the buckets stay
        changed (sent again next time). Holds the pipeline's lock: a revocation waits for
        it."""
        async with self._lock:
            await self._publish()

    async def _publish(self) -> None:
        aggregator = self.aggregator
        if not self.ready or not aggregator.dirty:
            return
        if self.with_criteria and not self._catalogs:
            self._catalogs.extend(shipped_catalogs())
        now = self.clock()
        buckets = aggregator.take_dirty()
        sent: list[Delivery] = []
        try:
            attribution = self.tracker.attribution
            for key, period, _summed in buckets:
                level = aggregator.levels.get(key)
                unit, scope = split_scoped(key)
                counters = aggregator.published(key, period, attribution, now)
                criteria = report_criteria(
                    counters.to_dict(), level, parse_period(period).first_day,
                    self._catalogs) if self.with_criteria else []
                report = build_report(unit, period, counters, now, criteria=criteria,
                                      level=level, view=AS_WAS, scope=scope,
                                      unit_name=self.names.name(unit, period, now))
                sent.append(await self.producer.send(
                    self.topics.kpi, snapshot_key(unit, period, scope).encode(),
                    orjson.dumps(report)))
            await self.delivered(sent)
        except BaseException:
            aggregator.dirty.update((u, p) for u, p, _ in buckets)
            raise
        self.stats["snapshots"] += len(buckets)


def _dead(reason: str, msg: Record) -> DeadLetter:
    return DeadLetter(reason, msg.value, topic=msg.topic, partition=msg.partition,
                      offset=msg.offset, record_key=msg.key,
                      record_headers=tuple(getattr(msg, "headers", None) or ()))
