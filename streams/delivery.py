"""The part of :class:`streams.pipeline.Pipeline` that decides what is durable
(:class:`AtLeastOnce`): the delivery check (:meth:`AtLeastOnce.delivered`), the lost-log
check (:meth:`AtLeastOnce.check_not_lost`) and the local state's commits
(:meth:`AtLeastOnce._checkpoint`, :meth:`AtLeastOnce.flush_checkpoint`).
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
