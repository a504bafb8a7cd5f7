"""The rebalance part of :class:`streams.pipeline.Pipeline` (:class:`Rebuild`): dropping
the state when partitions are taken away, and rebuilding it for the partitions assigned.

* :meth:`Rebuild.revoke` waits for a batch in progress, then drops the state in memory
  (the local state stays, as of its last commit).
* :meth:`Rebuild.recover` rebuilds the state of the owned partitions: from the local state
  (:mod:`streams.localstate`) and the changelogs' tail after the offsets it reflects, or —
  for a partition the local state does not hold — from the whole changelog (each changelog
  read once). It raises :class:`schemas.errors.LogLost` when a changelog ends at or before
  an offset this process wrote there, or before the offset the local state reflects
  (:meth:`streams.delivery.AtLeastOnce.check_not_lost`). Until it succeeds the batch
  handlers refuse records (they are fetched again later) and the timers do nothing.
* A registry change reaches the live numbers on restart: every dossier whose table row was
  written under another registry is re-emitted at once
  (:meth:`streams.tracker.Tracker.restore`, docs/decisions/streams-registry-change.md).

Why a rebuild from the local state and the changelogs' tail is exact: :mod:`streams.delivery`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections import defaultdict

from streams.delivery import AtLeastOnce
from streams.localstate import APPLIED, DOSSIER, StateUnusable
from streams.ports import ChangelogSource
from streams.tracker import Tracker, last_fact_time
from streams.wire import is_retired_row, row_partition

log = logging.getLogger("motcua.streams")


class Rebuild(AtLeastOnce):
    """Revocation and rebuild (module docstring). Its attributes are set by
    ``Pipeline.__init__``, which documents them."""

    tracker: Tracker
    changelogs: ChangelogSource
    first_offsets: dict[int, int]
    retire_after: float
    _epoch: int

    async def revoke(self) -> None:
        """Partitions are being taken away: after the batch in progress (its sends
        delivered, so the rebuild that follows reads them), drop every state in memory
        (the local state stays, as of its last commit)."""
        async with self._lock:
            self._epoch += 1
            self.ready = False
            self.first_offsets.clear()
            self.tracker.clear()
            self.aggregator.clear()
            if self.local is not None:
                self.local.discard()

    async def recover(self, events: set[int], contributions: set[int]) -> bool:
        """Rebuild the tracker (``events`` partitions) and the aggregator
        (``contributions`` partitions): for a partition the local state holds, from it and
        the changelog's tail after the offset it reflects; for another, from its whole
        changelog (each changelog read once, both modes in one read); then every bucket is
        published again (a crash may have lost some). Returns False if a revocation came
        meanwhile (the next assignment rebuilds). Raises :class:`schemas.errors.LogLost` (see
        :meth:`check_not_lost`)."""
        epoch = self._epoch
        topics = self.topics
        starts = self._starts(events, contributions)
        (dossier_rows, dossier_ends), (applied_rows, applied_ends) = await asyncio.gather(
            self.changelogs.read(topics.dossiers_changelog, events, starts[DOSSIER]),
            self.changelogs.read(topics.applied_changelog, contributions, starts[APPLIED]))
        self.check_not_lost(topics.dossiers_changelog, events, dossier_ends,
                            starts[DOSSIER])
        self.check_not_lost(topics.applied_changelog, contributions, applied_ends,
                            starts[APPLIED])
        read = len(dossier_rows) + len(applied_rows)
        async with self._lock:
            if epoch != self._epoch:
                log.info("partitions revoked during the rebuild: dropped")
                return False
            tracker, aggregator, local = self.tracker, self.aggregator, self.local
            tracker.clear()
            aggregator.clear()
            if local is not None:
                local.discard()
                for p in starts[DOSSIER]:
                    for code, raw in local.live(DOSSIER, p):
                        tracker.restore(code, raw, events)
            for k, v in dossier_rows.items():
                tracker.restore(k.decode(), v, events)
            if local is not None:
                await self._keep_rows(DOSSIER, dossier_rows, starts[DOSSIER])
            del dossier_rows
            if local is not None:
                for p in starts[APPLIED]:
                    for unit, period, value in local.counters(p):
                        aggregator.load_counter(p, unit, period, value)
                tail = starts[APPLIED]
                for k, v in applied_rows.items():
                    if row_partition(v) in tail:
                        key = k.decode()
                        retired = aggregator.replay(key, v)
                        local.put(APPLIED, row_partition(v), key, v, retired=retired)
                    else:
                        aggregator.restore(k.decode(), v, contributions)
                aggregator.drain()
                await self._keep_rows(APPLIED, applied_rows, tail)
                self._schedule_retirements()
            else:
                for k, v in applied_rows.items():
                    aggregator.restore(k.decode(), v, contributions)
            del applied_rows
            aggregator.dirty.update(aggregator.counters)
            if local is not None:
                self._owned = {DOSSIER: set(events), APPLIED: set(contributions)}
                for table, ends in ((DOSSIER, dossier_ends), (APPLIED, applied_ends)):
                    for p in self._owned[table]:
                        self.reflected[table][p] = ends.get(p, 0)
                self._checkpoint(now=True)
            self.ready = True
        gc.freeze()  # the rebuilt state is long-lived: keep it out of every future GC scan
        self.stats["changelog_rows_read"] += read
        tails = {t: sorted(v) for t, v in starts.items() if v}
        log.info("rebuilt from %s: %d changelog rows read (%s)",
                 "the local state and the changelogs' tail" if tails else "the changelogs",
                 read, f"tail of partitions {tails}" if tails else "whole partitions")
        log.info("tracker rebuilt: %d dossiers in memory on partitions %s",
                 len(tracker.dossiers), sorted(events))
        log.info("aggregator rebuilt: %d buckets (%d rows in memory)",
                 len(aggregator.counters), len(aggregator.applied))
        return True

    def _starts(self, events: set[int], contributions: set[int]) -> dict[str, dict[int, int]]:
        """Per table, the owned partitions the local state holds and the offset to read
        their changelog from; the local state is started afresh if unreadable or written
        for another pipeline, registry or partition count, and rows of owned partitions it
        does not hold are deleted (they are rebuilt from the whole changelog)."""
        out: dict[str, dict[int, int]] = {DOSSIER: {}, APPLIED: {}}
        local = self.local
        if local is None:
            return out
        try:
            marker = local.marker()
        except StateUnusable as exc:
            log.warning("local state unusable (%s): starting it afresh", exc)
            local.wipe()
            marker = None
        if marker is not None and marker["identity"] != self.identity:
            log.warning("local state written for %s, not %s: starting it afresh",
                        marker["identity"], self.identity)
            local.wipe()
            marker = None
        held = marker["offsets"] if marker is not None else {}
        self.reflected = {t: dict(held.get(t, {})) for t in (DOSSIER, APPLIED)}
        for table, owned in ((DOSSIER, events), (APPLIED, contributions)):
            reflected = self.reflected[table]
            out[table] = {p: reflected[p] for p in owned if p in reflected}
            local.drop(table, [p for p in owned if p not in reflected], None)
        return out

    async def _keep_rows(self, table: str, rows: dict[bytes, bytes], tail: dict[int, int]
                         ) -> None:
        """Changelog rows read at a rebuild, into the local state: a tail's rows buffered
        (committed with the marker), whole partitions' rows written at once, in a worker
        thread (the event loop keeps the group's heartbeats going meanwhile)."""
        local = self.local
        assert local is not None
        whole: dict[int, list[tuple[str, bytes, bool]]] = defaultdict(list)
        for k, v in rows.items():
            p = row_partition(v)
            if p in tail:
                if table == DOSSIER:
                    local.put(table, p, k.decode(), v, retired=is_retired_row(v))
            else:
                whole[p].append((k.decode(), v, is_retired_row(v)))
        loop = asyncio.get_running_loop()
        for p, part_rows in whole.items():
            await loop.run_in_executor(None, local.write_rows, table, p, part_rows)

    def _schedule_retirements(self) -> None:
        """After a rebuild: every settled dossier in memory is due for the emission that
        retires it, when its latest fact is :attr:`retire_after` old."""
        tracker = self.tracker
        for rec in tracker.dossiers.values():
            if rec.due is None and rec.code not in tracker.stale:
                tracker.schedule(rec, last_fact_time(rec) + self.retire_after)


__all__ = ["Rebuild"]
