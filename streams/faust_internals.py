"""Every use of faust's private API, in one module (checked against faust-streaming 0.15.3
and aiokafka 0.14.0; ``tests/unit/test_faust_internals.py`` fails naming any attribute of
:data:`PRIVATE_API` that an upgrade removes).

What the worker needs from faust beyond its public API, and why:

* **Batch topics** (:class:`Consumer`): the records of the events and contributions topics
  go straight from faust's fetcher to the pipeline, one call per topic per fetch, instead
  of through faust's conductor, channels, streams and agents, which cost a task and an
  ``asyncio.wait`` per message (docs/decisions/streams-batch-topics.md). This replaces
  the consumer's fetch loop (``_drain_messages``) and acks the handled offsets in faust's
  own bookkeeping (``_acked``, ``_acked_index``, ``_n_acked``, ``_committed_offset``,
  ``_read_offset``), so faust's commit machinery is unchanged. Every topic the worker
  subscribes to is a batch topic: there is no per-message path.
* **The transport** (:class:`App`, ``_new_transport``): how a faust app picks its consumer
  class.
* **Record batches to the changelogs** (:func:`aiokafka_producer`): faust's producer does
  not expose aiokafka's ``create_batch`` / ``send_batch``; one future per batch instead of
  one per row (``Producer._ensure_producer``).
* **Owned partitions** (:func:`owned_partitions`): ``app.assignor.assigned_actives()``,
  the partitions this worker was assigned in the current generation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as _driver

BatchHandler = Callable[[list[Any]], Awaitable[bool]]
"""Processes a list of aiokafka ``ConsumerRecord``s of one topic (partitions interleaved,
each partition in offset order); returns True once their effects are delivered, False if
it cannot take them now (they are then fetched again). If it raises, nothing is acked."""


@dataclass(frozen=True)
class Private:
    """One private faust attribute this module relies on."""

    owner: str
    """Where it lives: ``Consumer`` (class or instance), ``Fetcher``, ``Producer``, ``App``."""
    name: str
    why: str


PRIVATE_API: tuple[Private, ...] = (
    Private("Consumer", "_drain_messages", "the fetch loop, replaced by the batch-topic loop"),
    Private("Consumer", "_reset_state", "extended to reset the batch bookkeeping on restart"),
    Private("Consumer", "_wait_next_records", "one fetch: (records, active partitions)"),
    Private("Consumer", "_committed_offset", "where a partition's next handled fetch starts"),
    Private("Consumer", "_acked", "acked offsets, what faust commits"),
    Private("Consumer", "_acked_index", "set of acked offsets (faust's duplicate check)"),
    Private("Consumer", "_n_acked", "acks since the last commit (commit every N)"),
    Private("Consumer", "_commit_every", "the broker_commit_every setting, as faust reads it"),
    Private("Consumer", "_read_offset", "last offset handed over, as faust's loop keeps it"),
    Private("Consumer", "_stopped", "mode's stop event: the fetch loop's exit condition"),
    Private("Fetcher", "_stopped", "mode's stop event: the fetch loop's exit condition"),
    Private("Producer", "_ensure_producer", "the aiokafka producer, for send_batch"),
    Private("App", "_new_transport", "installs the batch-topic consumer"),
    Private("App", "_fetcher", "the fetcher service whose loop is _drain_messages"),
)
"""Every private attribute used below. Public methods overridden or called here too:
``Consumer.perform_seek`` (overridden: forget the batch bookkeeping), ``Consumer.seek``,
``Consumer.commit``, ``Consumer.flow_active``, ``Consumer.consumer_stopped_errors``,
``App.consumer_generation_id``, ``App.assignor.assigned_actives``."""


class Consumer(_driver.Consumer):
    """faust's aiokafka consumer whose fetched records go to *batch handlers*
    (``app.batch_handlers[topic]``), one call per topic per fetch, acked for commit only
    after the handler returned True. Rules that keep this at-least-once with nothing
    skipped (the pipeline's whole reasoning: :mod:`streams.delivery`):

    * records are handed over only while the flow is active and the generation unchanged;
      otherwise nothing is acked and the partition is fetched again from its committed
      offset after the rebalance (faust seeks every partition there once it is assigned);
    * per partition, the first offset of a fetch must follow the last one handled (or the
      committed offset); on a hole the partition is seeked back and the records dropped,
      never acked — faust's own path would record the hole as a "gap" and commit past it.
      A hole that persists after one seek back is a real one (the log has no such
      offsets) and is accepted with a warning;
    * a handler that returns False (not ready) gets its records again later; one that
      raises stops the fetch loop with nothing of that fetch acked.
    """

    _batch_next: dict[Any, int]
    """Per batch-topic partition, the offset its next fetch must start at."""
    _batch_retry: dict[Any, int]
    """Per partition, the first offset of a fetch that showed a hole and was re-fetched."""

    def _reset_state(self) -> None:  # faust calls it from __init__ and on restart
        super()._reset_state()
        self._batch_next = {}
        self._batch_retry = {}

    def _batch_handlers(self) -> dict[str, BatchHandler]:
        handlers: dict[str, BatchHandler] = getattr(self.app, "batch_handlers", {})
        return handlers

    async def perform_seek(self) -> None:
        self._batch_next = {}
        await super().perform_seek()

    def _expected(self, tp: Any) -> int | None:
        nxt = self._batch_next
        if tp in nxt:
            return nxt[tp]
        committed = self._committed_offset.get(tp)
        return committed if committed is not None and committed >= 0 else None

    async def _handle_batches(self, records: dict[Any, list[Any]], generation_id: int,
                              handlers: dict[str, BatchHandler]) -> None:
        by_topic: dict[str, list[Any]] = {}
        taken: dict[Any, list[Any]] = {}
        for tp, recs in records.items():
            if not recs:
                continue
            expected = self._expected(tp)
            first = recs[0].offset
            if expected is not None and first != expected:
                if first < expected:  # a re-fetch of what was handled: keep the rest
                    recs = [r for r in recs if r.offset >= expected]
                    if not recs:
                        continue
                elif self._batch_retry.get(tp) == first:
                    self.log.warning("offsets %d..%d of %s are missing from the log; "
                                     "continuing at %d", expected, first - 1, tp, first)
                else:
                    self._batch_retry[tp] = first
                    self.log.info("hole before offset %d of %s (expected %d): fetching "
                                  "again", first, tp, expected)
                    await self.seek(tp, expected)
                    continue
            self._batch_retry.pop(tp, None)
            taken[tp] = recs
            by_topic.setdefault(tp.topic, []).extend(recs)
        for topic, recs in by_topic.items():
            if not self.flow_active or self.app.consumer_generation_id != generation_id:
                return  # a rebalance began: nothing acked, fetched again afterwards
            tps = [tp for tp in taken if tp.topic == topic]
            if not await handlers[topic](recs):
                for tp in tps:
                    await self.seek(tp, taken[tp][0].offset)
                    self._batch_next.pop(tp, None)
                continue
            for tp in tps:
                self._ack_offsets(tp, [r.offset for r in taken[tp]])
                self._batch_next[tp] = taken[tp][-1].offset + 1
                self._read_offset[tp] = taken[tp][-1].offset

    def _ack_offsets(self, tp: Any, offsets: list[int]) -> None:
        """:meth:`faust.transport.consumer.Consumer.ack` for records that have no faust
        message object."""
        committed = self._committed_offset[tp]
        acked_index = self._acked_index[tp]
        acked = self._acked[tp]
        for offset in offsets:
            if (committed is None or offset >= committed) and offset not in acked_index:
                acked_index.add(offset)
                acked.append(offset)
                self._n_acked += 1

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - faust loop
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        set_flag, unset_flag = self.diag.set_flag, self.diag.unset_flag
        commit_every = self._commit_every
        unhandled: set[str] = set()
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                if not self.flow_active:
                    await self.perform_seek()  # as faust's getmany does
                records, active = await self._wait_next_records(1.0)
                generation_id = self.app.consumer_generation_id
                await self.sleep(0)
                if not records or self.should_stop:
                    unset_flag(CONSUMER_FETCHING)
                    continue
                handlers = self._batch_handlers()
                batch: dict[Any, list[Any]] = {}
                for tp, recs in records.items():
                    if not recs:
                        continue
                    if tp.topic not in handlers:  # never acked, so never committed
                        if tp.topic not in unhandled:
                            unhandled.add(tp.topic)
                            self.log.error("records of %s have no batch handler: "
                                           "ignored", tp.topic)
                        continue
                    if active is None or tp in active:
                        batch[tp] = recs
                    else:  # paused meanwhile: fetched again from here once resumed
                        await self.seek(tp, recs[0].offset)
                if batch:
                    await self._handle_batches(batch, generation_id, handlers)
                if commit_every is not None and self._n_acked >= commit_every:
                    self._n_acked = 0
                    await self.commit()
                unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)


class Transport(_driver.Transport):
    Consumer = Consumer


class App(faust.App):
    """``faust.App`` consuming through :class:`Consumer` (batch topics only)."""

    def _new_transport(self) -> Any:
        return Transport(self.conf.broker_consumer, self)


def aiokafka_producer(app: faust.App) -> Any:
    """The started ``aiokafka.AIOKafkaProducer`` behind ``app.producer``."""
    return app.producer._ensure_producer()  # type: ignore[attr-defined]


def owned_partitions(app: faust.App, topic: str) -> set[int]:
    """The partitions of ``topic`` assigned to this worker in the current generation."""
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}
