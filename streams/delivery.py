"""What is committed when, and why nothing is lost or counted twice: the live pipeline's
at-least-once reasoning, in one place, and the part of :class:`streams.pipeline.Pipeline`
that decides what is durable (:class:`AtLeastOnce`). Other modules state their own
contracts and point here for the why.

The worker's work leaves three durable traces, each committed on its own schedule:

1. **What it produces** — contributions, changelog rows, links, re-keyed events, dead
   letters, snapshots — counts as written only once the broker acknowledged it
   (:meth:`AtLeastOnce.delivered`; a failed delivery raises
   :class:`schemas.errors.DeliveryFailed`). The batch methods (``track_batch``,
   ``aggregate_batch``) and the timers (``sweep``, ``publish``) await the deliveries of
   everything they produced before they return; ``Pipeline.written`` keeps the highest
   offset the broker acknowledged per (topic, partition).
2. **Consumer offsets** of the events, links and contributions topics are faust's to
   commit (:mod:`streams.app`): every ``broker_commit_interval`` (1 s), every
   ``broker_commit_every`` acked records, and at a rebalance, faust commits the offsets
   *acked*. A fetch's records are acked only after the pipeline's batch method returned —
   after 1. — and only if they were handed over in the current generation with no hole
   before them (:class:`streams.faust_internals.Consumer`). A batch that raises is never
   acked: the app crashes (:class:`streams.app.PipelineApp`) and its input is consumed
   again after the restart; a batch refused before a rebuild is fetched again.
3. **The local state** (:mod:`streams.localstate`, one SQLite file): the changelog rows
   the batches, sweeps and rebuilds wrote (as the log has them, retired ones marked), the
   counters they changed and the *marker* — per owned changelog partition, the next
   offset all this reflects (``Pipeline.written`` + 1) — are committed in one transaction
   (:meth:`AtLeastOnce._checkpoint`): by a rebuild at once; by a batch or a sweep once
   ``checkpoint_interval`` (``MOTCUA_CHECKPOINT_SECONDS``, default 1; 0: after each) has
   passed since the last commit; otherwise by the sweep timer's
   :meth:`AtLeastOnce.flush_checkpoint` once it has. Until then the writes wait in the
   local state's buffer, which its reads see. A row is put only after its delivery was
   acknowledged, and the batches, the sweep, the publication, the revocation,
   ``flush_checkpoint`` and the rebuild (once it has read the changelogs) each hold
   ``Pipeline._lock`` to their end,
   so a commit never reflects an offset whose row the buffer lacks, nor counters whose
   rows it lacks, and no row made before an await lands after a newer one.

**Restart and rebuild** (:meth:`streams.rebuild.Rebuild.recover`, after every
assignment). The local state is loaded as of its marker and each changelog's tail after
the marker's offsets is read once (a partition the marker does not name: its whole
changelog); then every bucket is published again. A crash or a revocation loses only the
writes buffered since the last commit, and the tail holds them all: each was in its
changelog before it was put (1.). The consumer offsets (2.) may lag behind the
changelogs, never run ahead of them: the input of a batch whose rows were written but
whose offsets were not committed is processed again. That replay is harmless:

* **The fold is idempotent** (:mod:`kpi.dossier`): a dossier is the set of its distinct
  facts, so a duplicate fact changes nothing and any order gives the same state.
* **Whole, versioned contributions.** After every event, a duplicate too, the tracker
  sends the dossier's *whole* contribution under a new version
  (:class:`streams.tracker.Versions`: strictly increasing, and time-based, so newer than
  any sent before a crash whose table row was lost — as long as the clocks of the workers
  that owned the partition do not run backwards between them), so a contribution lost in
  a crash is sent again; an entry with empty rows retracts a counter key the dossier no
  longer touches, and the table row names every key to retract (:mod:`streams.tracker`).
* **Newer versions only.** The aggregator keeps per (counter key, dossier) the last
  applied version and rows and applies an entry only if its version is newer, replacing
  the old rows by the new in the counters: a replayed message is a no-op, and the
  counters always equal the sum of the latest contributions. Its rows and its counters
  are committed together (3.); at a restart each applied row of the tail replaces, in the
  counters, the row the local state holds (:meth:`streams.aggregator.Aggregator.replay`),
  so no row is added twice.
* **Links** (:mod:`kpi.links`) are sent every time a source fact is folded, duplicates
  and replays too, and delivered before the batch is acked, so a link lost in a crash is
  sent again; under one key a target keeps the earliest copy, so a replayed link changes
  nothing. Only a link this process had acknowledged with a copy that wins is skipped
  (``Pipeline.links_sent``; a restarted worker knows none).
* **Sweeps** replay no event. A swept dossier's table row is written only after its
  entries were delivered — and *ahead* of them too when the emission sends to a counter
  key its row does not name — and a restored row's horizon makes a re-emission lost in a
  crash due at once (:meth:`streams.tracker.Tracker.restore`).

**Snapshots** are published by a timer (``publish``, every 0.5 s) for the buckets changed
since the last publish; a failed publish leaves them changed (and stops the worker), and
a rebuild marks every bucket changed, since a crash may have lost a publish. A snapshot
may show counts whose input is not committed yet; a replay reproduces them. The kpi
topic is compacted by bucket: the latest snapshot wins, a repeated one is harmless.

**A lost log stops the worker.** All the above assumes the broker keeps what it
acknowledged. At every rebuild :meth:`AtLeastOnce.check_not_lost` raises
:class:`schemas.errors.LogLost` when a changelog ends at or before an offset this process
wrote there, or before the offset the local state reflects: the worker stops (exit 75)
rather than publish KPIs rebuilt from what is left (docs/operations.md, Fault matrix).

**One at a time.** Until 2026-12-07 the sweep and the publication ran without the lock
and could interleave with batches and revocations at their awaits (a batch's commit
reflecting a sweep's acknowledged rows before the sweep put them, a sweep's row landing
after a batch's newer one, a revocation not waiting for a sweep, a publication raising
``KeyError`` after one): docs/decisions/streams-engine-modules.md.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from schemas.errors import DeliveryFailed, LogLost
from streams.aggregator import Aggregator
from streams.localstate import APPLIED, DOSSIER, LocalState
from streams.ports import Delivery, Producer, Topics


class AtLeastOnce:
    """The part of :class:`streams.pipeline.Pipeline` that decides what is durable: the
    delivery check, the lost-log check and the local state's commits (module docstring).
    Its attributes are set by ``Pipeline.__init__``, which documents them."""

    topics: Topics
    producer: Producer
    aggregator: Aggregator
    local: LocalState | None
    ready: bool
    stats: defaultdict[str, int]
    identity: dict[str, Any]
    written: dict[tuple[str, int], int]
    reflected: dict[str, dict[int, int]]
    _owned: dict[str, set[int]]
    _lock: asyncio.Lock
    checkpoint_interval: float
    _monotonic: Callable[[], float]
    _committed_at: float

    async def delivered(self, sent: list[Delivery]) -> None:
        """Wait until every delivery in ``sent`` resolved; raise :class:`DeliveryFailed`
        (from the broker's error) for the first that failed, else record the offsets in
        :attr:`written`. One producer flush instead of awaiting each future: gathering
        thousands of futures costs far more (docs/decisions/streams-delivery-check.md)."""
        if not sent:
            return
        if not sent[-1].done() or not all(f.done() for f in sent):
            await self.producer.flush()
        written = self.written
        for f in sent:
            if not f.done():
                await asyncio.wait([f])
            exc = f.exception()
            if exc is not None:
                raise DeliveryFailed(f"the broker did not acknowledge a record: {exc!r}"
                                     ) from exc
            md = f.result()
            if md is not None and md.offset is not None:
                tp = (md.topic, md.partition)
                if md.offset > written.get(tp, -1):
                    written[tp] = md.offset

    def check_not_lost(self, topic: str, partitions: set[int], ends: dict[int, int],
                       reflected: dict[int, int] | None = None) -> None:
        """Raise :class:`LogLost` if a changelog partition ends at or before an offset this
        process wrote there, or before the next offset the local state reflects
        (``reflected``): the broker lost records (an in-memory broker restarted, a log
        truncated). Going on would rebuild the state from what is left and publish
        snapshots that silently miss everything before."""
        floor = {(topic, p): o - 1 for p, o in (reflected or {}).items() if o > 0}
        for tp, o in self.written.items():
            floor[tp] = max(o, floor.get(tp, -1))
        written = floor
        lost = {p: (ends.get(p, 0), written[(topic, p)]) for p in sorted(partitions)
                if (topic, p) in written and ends.get(p, 0) <= written[(topic, p)]}
        if lost:
            raise LogLost(
                f"the broker lost records of {topic} (partition: (end offset now, offset "
                f"this worker wrote)) {lost}. Stopping rather than publish KPIs rebuilt "
                "from what is left. Recover by replaying the source events into an empty "
                "pipeline (docs/operations.md, Fault matrix).")

    async def flush_checkpoint(self) -> None:
        """Commit the local state's buffered writes if the last commit is
        ``checkpoint_interval`` old (the sweep timer's call: a stream that went quiet gets
        its last batches committed too)."""
        if self.local is None or not self.local.pending:
            return
        async with self._lock:
            if self.ready:
                self._checkpoint()

    def _checkpoint(self, *, now: bool = False) -> None:
        """Commit the local state: what the batches buffered, the changed counters and the
        changelog offsets this reflects — unless ``now`` is False and the last commit is
        less than ``checkpoint_interval`` old (then everything stays buffered)."""
        local = self.local
        if local is None:
            return
        if (not now and self.checkpoint_interval > 0
                and self._monotonic() - self._committed_at < self.checkpoint_interval):
            return
        aggregator = self.aggregator
        homes = aggregator.homes
        for bucket in aggregator.take_changed():
            if bucket in aggregator.counters:
                local.put_counter(homes[bucket[0]], bucket[0], bucket[1],
                                  aggregator.checkpoint_value(bucket))
        topic_of = {DOSSIER: self.topics.dossiers_changelog,
                    APPLIED: self.topics.applied_changelog}
        for table, offsets in self.reflected.items():
            topic = topic_of[table]
            for p in self._owned[table]:
                w = self.written.get((topic, p))
                if w is not None and w + 1 > offsets.get(p, 0):
                    offsets[p] = w + 1
        local.commit(self._marker())
        self._committed_at = self._monotonic()
        self.stats["checkpoints"] += 1

    def _marker(self) -> dict[str, Any]:
        return {"identity": self.identity,
                "offsets": {t: dict(offs) for t, offs in self.reflected.items()}}


__all__ = ["AtLeastOnce"]
