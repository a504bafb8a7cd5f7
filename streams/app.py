"""The live pipeline on faust: :class:`streams.pipeline.Pipeline` wired to a faust app.

What faust does here, and nothing more: group membership and partition assignment of the
events and contributions topics, offset commits, the producer, two timers (``publish``
every 0.5 s, ``sweep`` every 1 s) and the rebalance signals. There are no faust agents and
no faust tables:

* each fetch's records go straight to :meth:`Pipeline.handle_track` /
  :meth:`Pipeline.handle_aggregate` (:mod:`streams.faust_internals`: batch topics; acked
  for commit only after the handler returned True);
* the changelogs are plain compacted topics declared in :mod:`runtime.topics`; the
  pipeline writes them itself and, once the assignment is complete
  (``app.on_rebalance_complete``), rebuilds its state (:meth:`Pipeline.recover`,
  :mod:`streams.rebuild`) from its local state on disk
  (:class:`streams.localstate.LocalState`, a slot of ``settings.worker_state_dir``) and
  the changelogs.

faust's standby replicas (``table_standby_replicas``) keep a copy of *faust tables* warm
on another worker; this pipeline has no faust tables, so they do not apply: a worker
taking over partitions it never held reads their whole changelog.

Fatal conditions: a batch, a timer or a rebuild that raises (:class:`schemas.errors.LogLost`,
:class:`schemas.errors.DeliveryFailed`, a bug) is recorded in :attr:`PipelineApp.failure`
and crashes the app, so the worker stops with nothing of the failed batch acked; its
input is processed again on restart (why that loses nothing and counts nothing twice:
:mod:`streams.delivery`). The entry point (:mod:`streams.run`) turns the failure into an
exit status.

Faust settings (docs/architecture.md, "Faust facts that bite"): short group timings; every topic
created from :mod:`runtime.topics` before anything produces; no leader topic.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import faust

from runtime.liveness import HEARTBEAT_INTERVAL, beat, heartbeat_path
from runtime.settings import Settings
from runtime.topics import changelog_topic, declared_topics, ensure_topics, pipeline_group
from streams.changelog import KafkaChangelogs
from streams.faust_internals import App, aiokafka_producer, owned_partitions
from streams.localstate import LocalState
from streams.pipeline import DAY, Pipeline
from streams.ports import Delivery, Producer, Row, Topics
from streams.units import load_registry

log = logging.getLogger("motcua.streams")
T = TypeVar("T")


def _credentials(settings: Settings) -> Any:
    if settings.kafka_security_protocol == "PLAINTEXT":
        return None
    import ssl

    context = None
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        )
    if settings.kafka_security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=(settings.kafka_sasl_password.get_secret_value()
                      if settings.kafka_sasl_password else None),
            ssl_context=context,
            mechanism=settings.kafka_sasl_mechanism or "PLAIN",
        )
    return faust.SSLCredentials(context)


class FaustProducer(Producer):
    """The :class:`streams.ports.Producer` port on faust's aiokafka producer."""

    def __init__(self, app: faust.App) -> None:
        self._app = app

    async def send(self, topic: str, key: bytes | None, value: bytes,
                   partition: int | None = None,
                   headers: list[tuple[str, bytes]] | None = None) -> Delivery:
        fut = await self._app.producer.send(topic, key, value, partition, None, headers)
        return cast(Delivery, fut)  # aiokafka's future of the RecordMetadata

    async def send_rows(self, topic: str, rows: list[Row]) -> list[Delivery]:
        """One aiokafka record batch per partition (split when full); each delivery
        resolves to the batch's *last* offset (aiokafka gives its first)."""
        producer = aiokafka_producer(self._app)
        by_partition: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
        for k, v, p in rows:
            by_partition[p].append((k, v))
        sent: list[Delivery] = []
        for p, kvs in by_partition.items():
            batch = producer.create_batch()
            for k, v in kvs:
                if batch.append(key=k, value=v, timestamp=None) is None:
                    count = batch.record_count()
                    sent.append(_last_of(await producer.send_batch(batch, topic, partition=p),
                                         count))
                    batch = producer.create_batch()
                    if batch.append(key=k, value=v, timestamp=None) is None:
                        raise ValueError(f"a {len(v)}-byte row of {topic} does not fit in "
                                         "an empty producer batch")
            count = batch.record_count()
            if count:
                sent.append(_last_of(await producer.send_batch(batch, topic, partition=p),
                                     count))
        return sent

    async def flush(self) -> None:
        await self._app.producer.flush()


@dataclass(frozen=True)
class _Written:
    """Where a record batch was written: its last record's offset."""

    topic: str
    partition: int
    offset: int


def _last_of(fut: Any, count: int) -> Delivery:
    """A delivery resolving like ``fut`` (a record batch's), with the offset of the batch's
    last record instead of its first."""
    out: Delivery = asyncio.get_running_loop().create_future()

    def done(f: Any) -> None:
        if out.done():
            return
        if f.cancelled():
            out.cancel()
        elif f.exception() is not None:
            out.set_exception(f.exception())
        else:
            md = f.result()
            out.set_result(_Written(md.topic, md.partition, md.offset + count - 1)
                           if md is not None and md.offset is not None else md)

    fut.add_done_callback(done)
    return out


class PipelineApp(App):
    """The worker's faust app: :attr:`pipeline` plus the first fatal :attr:`failure`."""

    pipeline: Pipeline
    failure: BaseException | None = None
    batch_handlers: dict[str, Callable[[list[Any]], Awaitable[bool]]]

    async def guarded(self, work: Awaitable[T]) -> T | None:
        """Run ``work`` to its end even if the caller is cancelled meanwhile (a batch's
        sends are then still delivered); if it raises, :meth:`fail` and return None."""
        task = asyncio.ensure_future(work)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            await asyncio.wait([task], timeout=30)
            raise
        except Exception as exc:
            await self.fail(exc)
            return None

    async def fail(self, exc: BaseException) -> None:
        """Record the first fatal exception and crash the app (the worker stops)."""
        if self.failure is None:
            self.failure = exc
            log.critical("the pipeline cannot go on: %s", exc, exc_info=exc)
            await self.crash(exc)

    def handler(self, work: Callable[[list[Any]], Awaitable[bool]]
                ) -> Callable[[list[Any]], Awaitable[bool]]:
        """A batch handler: not taken once failed; a failure is never acked."""
        async def handle(records: list[Any]) -> bool:
            if self.failure is not None:
                return False
            return bool(await self.guarded(work(records)))
        return handle


def create_app(
    settings: Settings,
    bootstrap: str,
    *,
    ensure: bool = True,
    publish_interval: float = 0.5,
    sweep_interval: float = 1.0,
    with_criteria: bool = False,
    clock: Callable[[], float] = time.time,
    local_state: bool = True,
) -> PipelineApp:
    """Build the pipeline's faust app (nothing runs until a worker starts it).

    ``ensure`` creates the declared topics first (:func:`runtime.topics.ensure_topics`).
    The unit registry is ``settings.units_file`` (:func:`streams.units.load_registry`; a
    broken file raises :class:`schemas.errors.RegistryError` first, before any topic is
    touched).
    ``with_criteria`` scores the criteria catalogs into every snapshot (``criteria``); off
    by default because it is costly per snapshot and readers (``motcua report``, the sink)
    score the stored counts themselves (docs/decisions/streams-criteria-off.md).
    ``local_state`` False keeps everything in memory (no retirement; every rebuild reads
    whole changelogs).
    """
    logging.getLogger("aiokafka").setLevel(logging.INFO)  # a debug record per send otherwise
    registry = load_registry(settings)
    if ensure:
        ensure_topics(bootstrap, declared_topics(settings), settings)
    n = settings.topic_partitions
    names = settings.topics
    datadir = settings.data_dir / "faust"  # faust wants one; nothing is written there
    datadir.mkdir(parents=True, exist_ok=True)
    app = PipelineApp(
        pipeline_group(settings),
        broker=[f"kafka://{hp.strip()}" for hp in bootstrap.split(",")],
        broker_credentials=_credentials(settings),
        topic_partitions=n,
        topic_replication_factor=settings.topic_replication_factor,
        topic_disable_leader=True,
        processing_guarantee="at_least_once",
        broker_rebalance_timeout=5.0,
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.0,
        broker_commit_interval=1.0,
        broker_max_poll_records=20_000,
        consumer_max_fetch_size=8 * 1024 * 1024,
        producer_max_batch_size=512 * 1024,
        producer_max_request_size=4 * 1024 * 1024,
        web_enabled=False,
        datadir=str(datadir),
    )
    topics = Topics(events=names.events, contributions=names.contributions, kpi=names.kpi,
                    dlq=names.dlq, dossiers_changelog=changelog_topic(settings, "dossiers"),
                    applied_changelog=changelog_topic(settings, "applied"), links=names.links)
    local = LocalState.open_slot(settings.worker_state_dir) if local_state else None
    if local is not None:
        log.info("local state: %s", local.path)
    pipeline = Pipeline(topics, FaustProducer(app), KafkaChangelogs(settings, bootstrap),
                        clock=clock, with_criteria=with_criteria,
                        registry=registry, local=local,
                        retire_after=settings.retire_after_days * DAY,
                        identity={"partitions": n},
                        sync_window=settings.sync_window_hours * 3600,
                        checkpoint_interval=settings.checkpoint_seconds)
    app.pipeline = pipeline
    # subscribed, without agents; faust's assignor gives a worker the same partitions of
    # every subscribed topic with the same partition count (co-partitioned), so events
    # partition p and links partition p (the link's target subject) go to one worker
    for name in (names.events, names.links, names.contributions):
        app.topics.add(app.topic(name, partitions=n, key_type=bytes, value_type=bytes,
                                 key_serializer="raw", value_serializer="raw"))
    app.batch_handlers = {names.events: app.handler(pipeline.handle_track),
                          names.links: app.handler(pipeline.handle_track),
                          names.contributions: app.handler(pipeline.handle_aggregate)}

    async def revoked(sender: Any, *args: Any, **kwargs: Any) -> None:
        await pipeline.revoke()

    async def assigned(sender: Any, *args: Any, **kwargs: Any) -> None:
        if app.failure is None:
            await app.guarded(pipeline.recover(owned_partitions(app, names.events),
                                               owned_partitions(app, names.contributions)))

    # (mode's handler type names its ``signal`` argument's type as a string mypy cannot
    # resolve, so no typed function matches it)
    app.on_partitions_revoked.connect(cast(Any, revoked))
    app.on_rebalance_complete.connect(cast(Any, assigned))

    @app.timer(sweep_interval)
    async def sweep() -> None:
        if app.failure is None:
            await app.guarded(pipeline.sweep())
        if app.failure is None:
            await app.guarded(pipeline.flush_checkpoint())

    heartbeat = heartbeat_path(settings)

    @app.timer(HEARTBEAT_INTERVAL)
    async def alive() -> None:  # the container healthcheck's file (runtime.liveness)
        if app.failure is None:
            beat(heartbeat)

    @app.timer(publish_interval)
    async def publish() -> None:
        if app.failure is None:
            await app.guarded(pipeline.publish())

    return app
