"""The live pipeline: a faust app that turns dossier events into KPI snapshots.

Data flow::

    events topic (key = dossier code, raw CloudEvents JSON)
      │  agent ``track`` (batches of events)
      │    invalid ──► DLQ (runtime.dlq: reason + original bytes + topic/partition/offset)
      │    wrong key ─► re-sent to the events topic keyed by ``subject`` (one dossier, one
      │                 partition, one owner)
      │    valid ───► table ``dossiers``: code → facts (kpi.dossier fold, idempotent)
      ▼
    contributions topic (key = unit): the WHOLE current contribution of every dossier
      │  touched in the batch, with a version number, one message per unit per batch
      │  agent ``aggregate``
      │    table ``applied``: unit␟code → (version, rows); an entry is applied only if its
      │    version is newer; counters += new rows − old rows (in memory, per (unit, period))
      ▼
    timer ``publish`` (every 0.5 s): changed (unit, period) buckets only ──► kpi topic
      (compacted, key = ``unit|period``, the kpi.report.build_report JSON)
    timer ``sweep`` (every 1 s): dossiers whose next change (due instant passing, a new
      month, a future-dated fact becoming visible) is due are re-emitted like a new event.

Why versions and whole contributions (DESIGN.md): faust is at-least-once, so after a
crash events whose table writes already reached the changelog are processed again. The
tracker's fold ignores duplicate facts, and it re-sends the dossier's whole contribution
after every event (a duplicate too, so a contribution lost in the crash is sent again).
The aggregator keeps one row per dossier and applies only newer versions, so replays are
no-ops and the counters always equal the sum of the latest contributions. Versions are
``max(previous + 1, now in µs)`` — newer than anything sent before a crash even when the
table write of the last version was lost.

Faust specifics (DESIGN.md, measured on this machine): ``concurrency=1`` per agent; short
group timings; every topic created from :mod:`runtime.topics` before anything produces, the
tables' changelogs with the same partition count (``settings.topic_partitions``). With the
fast path (default) each fetch's records of the events and contributions topics go
straight to ``track_batch`` / ``aggregate_batch`` (:mod:`streams.fastpath`: acked only
after the batch returned); without it the agents read them with ``take_events``. A batch
sends its table rows to the changelogs itself and returns only when every record it
produced is acknowledged by the broker (:func:`delivered`), so a commit never covers input
whose effects could still be lost. The faust tables exist for their changelog topics,
partition assignment and recovery hook; their in-memory copy is not kept. Storage is
``memory://``: on start and after every rebalance the in-memory structures (dossier
states, due heap, counters) are rebuilt from the changelogs (``on_recover``, reading them
to their true end: see :func:`read_changelog`). Nothing is stored on local disk; recovery
time grows with the number of dossiers (bench_memory: ~13 s to restore 1M dossiers).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import faust
import orjson

from kpi.decode import InvalidEvent, decode
from kpi.units import CalendarBook
from runtime.dlq import DeadLetter
from runtime.settings import Settings
from runtime.topics import declared_topics, ensure_topics, pipeline_group
from streams.core import Aggregator, Entry, Tracker, decode_entries, encode_entries

log = logging.getLogger("motcua.streams")

MAX_ENTRIES_PER_MESSAGE = 2000
"""Contributions entries per message (one unit); bigger batches are split."""


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


def read_changelog(
    settings: Settings, bootstrap: str, topic: str, partitions: set[int], timeout: float = 120.0,
    ends_out: dict[int, int] | None = None,
) -> dict[bytes, bytes]:
    """The latest value per key of some partitions of a changelog topic, read to the end.

    faust's own table recovery stops at the end offsets the broker lists, and Tansu 0.6
    lists too small ones (``runtime.kafka.end_offsets``): measured here, a SIGKILLed worker
    came back with ~5% of its dossier rows missing. So the in-memory structures are
    rebuilt from this read instead (blocking; run it in an executor).
    """
    from kafka import KafkaConsumer, TopicPartition

    from runtime.kafka import end_offsets

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             client_id="motcua-recovery", max_partition_fetch_bytes=8 << 20,
                             **settings.kafka_client_options())
    try:
        listed = {tp.partition: end for tp, end in end_offsets(consumer, topic).items()
                  if tp.partition in partitions}
        if ends_out is not None:
            ends_out.update(listed)
        ends = {p: end for p, end in listed.items() if end > 0}
        tps = [TopicPartition(topic, p) for p in ends]
        out: dict[bytes, bytes] = {}
        if not tps:
            return out
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp.partition] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to {ends}: no record for "
                                   f"{timeout:.0f} s")
            for records in consumer.poll(timeout_ms=500, max_records=50_000).values():
                if records:  # a stall, not a long changelog, is what times out
                    deadline = time.monotonic() + timeout
                for r in records:
                    if r.value is None:
                        out.pop(r.key, None)
                    else:
                        out[r.key] = r.value
        return out
    finally:
        consumer.close()


def create_app(
    settings: Settings,
    bootstrap: str,
    *,
    ensure: bool = True,
    batch_max: int = 5000,
    batch_within: float = 0.1,
    publish_interval: float = 0.5,
    sweep_interval: float = 1.0,
    fast_path: bool = True,
    with_criteria: bool = False,
    clock: Callable[[], float] = time.time,
) -> faust.App:
    """Build the pipeline's faust app (nothing runs until a worker starts it).

    ``ensure`` creates the declared topics first (:func:`runtime.topics.ensure_topics`).
    ``fast_path`` uses :mod:`streams.fastpath`'s message hand-off (same semantics,
    ~2.5× less overhead per message). ``with_criteria`` scores the criteria catalogs into
    every snapshot (``criteria``); off by default because scoring costs ~3 ms per snapshot
    (measured: it took a third of the worker's time) and readers (``motcua report``, the
    sink) score the stored counts themselves.
    """
    logging.getLogger("aiokafka").setLevel(logging.INFO)  # a debug record per send otherwise
    if ensure:
        ensure_topics(bootstrap, declared_topics(settings), settings)
    n = settings.topic_partitions
    names = settings.topics
    datadir = settings.data_dir / "faust"  # faust wants one; the memory store writes nothing
    datadir.mkdir(parents=True, exist_ok=True)
    app_cls = faust.App
    if fast_path:
        from streams.fastpath import App as app_cls  # type: ignore[assignment]
    app = app_cls(
        pipeline_group(settings),
        broker=[f"kafka://{hp.strip()}" for hp in bootstrap.split(",")],
        broker_credentials=_credentials(settings),
        store="memory://",
        topic_partitions=n,
        topic_replication_factor=1,
        processing_guarantee="at_least_once",
        broker_rebalance_timeout=5.0,
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.0,
        broker_commit_interval=1.0,
        broker_max_poll_records=20_000,
        consumer_max_fetch_size=8 * 1024 * 1024,
        producer_max_batch_size=512 * 1024,
        producer_max_request_size=4 * 1024 * 1024,
        stream_buffer_maxsize=50_000,
        web_enabled=False,
        datadir=str(datadir),
        table_standby_replicas=0,
    )
    raw = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw",
           "value_serializer": "raw"}
    events_topic = app.topic(names.events, partitions=n, **raw)
    contributions_topic = app.topic(names.contributions, partitions=n, **raw)
    table_opts = {"key_type": bytes, "value_type": bytes, "partitions": n}
    dossier_table = app.Table("dossiers", **table_opts)
    applied_table = app.Table("applied", **table_opts)

    tracker = Tracker(CalendarBook())
    aggregator = Aggregator()
    ready = {"track": False, "aggregate": False}
    batch_lock = asyncio.Lock()
    """Held by every batch and by the revocation, which clears the state."""
    stats = defaultdict(int)
    app.pipeline = {"tracker": tracker, "aggregator": aggregator, "ready": ready,  # type: ignore[attr-defined]
                    "stats": stats}

    async def send(sent: list[Any], topic: str, key: bytes | None, value: bytes,
                   partition: int | None = None,
                   headers: list[tuple[str, bytes]] | None = None) -> None:
        """Hand one record to the producer; its delivery future goes into ``sent``."""
        sent.append(await app.producer.send(topic, key, value, partition, None, headers))

    written: dict[tuple[str, int], int] = {}
    """(topic, partition) → the highest offset the broker acknowledged to this process."""

    def check_not_lost(topic: str, partitions: set[int], ends: dict[int, int]) -> None:
        """Stop the worker if a changelog partition ends at or before an offset this process
        has written there: the broker lost records (an in-memory broker restarted, a log
        truncated). Going on would rebuild the state from what is left and publish KPI
        snapshots that silently miss everything before (measured: every bucket wrong)."""
        lost = {p: (ends.get(p, 0), written[(topic, p)]) for p in sorted(partitions)
                if (topic, p) in written and ends.get(p, 0) <= written[(topic, p)]}
        if lost:
            log.critical(
                "the broker lost records of %s (partition: (end offset now, offset this "
                "worker wrote)) %s. Stopping rather than publish KPIs rebuilt from what is "
                "left. Recover by replaying the source events into an empty pipeline "
                "(README, Fault matrix).", topic, lost)
            logging.shutdown()
            os._exit(75)

    async def send_rows(sent: list[Any], topic: str,
                        rows: list[tuple[bytes, bytes, int]]) -> None:
        """Table rows ``(key, value, partition)`` to a changelog, as one record batch per
        partition (aiokafka ``send_batch``: one future per batch instead of one per row,
        the largest per-event cost of the producer here)."""
        producer = app.producer._ensure_producer()  # type: ignore[attr-defined]
        by_partition: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
        for k, v, p in rows:
            by_partition[p].append((k, v))
        for p, kvs in by_partition.items():
            batch = producer.create_batch()
            for k, v in kvs:
                if batch.append(key=k, value=v, timestamp=None) is None:
                    sent.append(await producer.send_batch(batch, topic, partition=p))
                    batch = producer.create_batch()
                    if batch.append(key=k, value=v, timestamp=None) is None:
                        raise ValueError(f"a {len(v)}-byte row of {topic} does not fit in "
                                         "an empty producer batch")
            if batch.record_count():
                sent.append(await producer.send_batch(batch, topic, partition=p))

    async def delivered(sent: list[Any]) -> None:
        """Wait until every record in ``sent`` is acknowledged by the broker, raising the
        first delivery error. A batch's input is acked (and later committed) only after
        this: faust's commit flushes the producer but does not look at delivery results,
        so an unchecked failed send would be lost silently with its input committed.
        (A producer flush waits on a few batch futures; gathering thousands of record
        futures cost ~9% of the worker's CPU.)"""
        if not sent:
            return
        if not sent[-1].done() or not all(f.done() for f in sent):
            await app.producer.flush()
        for f in sent:
            if not f.done():
                await f
            exc = f.exception()
            if exc is not None:
                raise exc
            md = f.result()
            if md is not None and md.offset is not None:
                tp = (md.topic, md.partition)
                if md.offset > written.get(tp, -1):
                    written[tp] = md.offset

    def owned(topic: str) -> set[int]:
        return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}

    async def send_entries(sent: list[Any], by_unit: dict[str, list[Entry]]) -> None:
        for unit, entries in by_unit.items():
            key = unit.encode()
            for i in range(0, len(entries), MAX_ENTRIES_PER_MESSAGE):
                chunk = entries[i : i + MAX_ENTRIES_PER_MESSAGE]
                await send(sent, names.contributions, key, encode_entries(chunk))

    async def guarded(work: Any) -> None:
        """Run one batch to its end even if the agent is cancelled meanwhile (the batch's
        events are acked when we return); a failure stops the process so that the
        uncommitted events are processed again on restart (at-least-once)."""
        task = asyncio.ensure_future(work)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            await asyncio.wait([task], timeout=30)
            raise
        except Exception:
            log.exception("batch failed; exiting so that it is processed again on restart")
            logging.shutdown()
            os._exit(70)

    # ------------------------------------------------------------------ track
    dossier_changelog = dossier_table.changelog_topic.get_topic_name()

    first_offsets: dict[int, int] = {}
    """Per events partition, the first offset processed since the last (re)assignment."""

    async def track_batch(records: list[Any]) -> None:
        """Fold a batch of event records (aiokafka records or faust messages: ``key``,
        ``value``, ``topic``, ``partition``, ``offset``) and send what changed."""
        now = clock()
        sent: list[Any] = []
        for msg in records:
            p = msg.partition
            if p not in first_offsets:
                first_offsets[p] = msg.offset
                log.info("events partition %d: processing from offset %d", p, msg.offset)
        touched: dict[str, Any] = {}
        changed: set[str] = set()
        out: list[tuple[bytes | None, bytes, int | None, Any]] = []  # (key, value, part, hdr)
        for msg in records:
            raw_value = msg.value
            try:
                subject, fkey, fact = decode(raw_value)
            except InvalidEvent as exc:
                out.append(_dead(exc.reason, raw_value, msg))
                continue
            except Exception as exc:  # a validator bug must not drop the event silently
                out.append(_dead(f"processing failed: {exc!r}", raw_value, msg))
                continue
            key = subject.encode()
            if msg.key != key:
                await send(sent, names.events, key, raw_value)
                stats["rekeyed"] += 1
                continue
            rec, did_change = tracker.apply_fact(subject, fkey, fact, msg.partition)
            touched[subject] = rec
            if did_change:
                changed.add(subject)
        for key_, value, _part, headers in out:
            await send(sent, names.dlq, key_, value, None, headers)
        stats["dead"] += len(out)
        by_unit: dict[str, list[Entry]] = defaultdict(list)
        rows: list[tuple[bytes, bytes, int]] = []
        for code, rec in touched.items():
            for unit, entry in tracker.emit(rec, now):
                by_unit[unit].append(entry)
            if code in changed:
                rows.append((code.encode(), tracker.row(rec, now), rec.partition))
        # the changelog only: faust's copy in memory is never read
        await send_rows(sent, dossier_changelog, rows)
        await send_entries(sent, by_unit)
        await delivered(sent)
        stats["events"] += len(records)

    def _dead(reason: str, raw_value: bytes, msg: Any) -> tuple[Any, bytes, None, Any]:
        dl = DeadLetter(reason, raw_value, topic=msg.topic, partition=msg.partition,
                        offset=msg.offset)
        return dl.key, dl.encode(), None, dl.headers()

    @app.agent(events_topic, concurrency=1, name="track")
    async def track(stream: faust.StreamT) -> None:
        # with the fast path, records bypass this agent (``batch_handlers`` below)
        async for events in stream.take_events(batch_max, batch_within):
            async with batch_lock:
                await guarded(track_batch([ev.message for ev in events]))

    async def changelog_rows(topic: str, partitions: set[int]) -> dict[bytes, bytes]:
        loop = asyncio.get_running_loop()
        ends: dict[int, int] = {}
        rows = await loop.run_in_executor(
            None, lambda: read_changelog(settings, bootstrap, topic, partitions, ends_out=ends))
        check_not_lost(topic, partitions, ends)  # a missing topic counts as ending at 0
        return rows

    @dossier_table.on_recover
    async def _rebuild_tracker() -> None:
        dossier_table.data.clear()  # faust's recovery filled it; we keep the tracker only
        tracker.clear()
        mine = owned(names.events)
        for k, v in (await changelog_rows(dossier_changelog, mine)).items():
            tracker.restore(k.decode(), v, mine)
        ready["track"] = True
        gc.freeze()
        log.info("tracker rebuilt: %d dossiers on partitions %s", len(tracker.dossiers),
                 sorted(mine))

    @app.timer(sweep_interval)
    async def sweep() -> None:
        if ready["track"]:
            await guarded(sweep_once())

    async def sweep_once() -> None:
        now = clock()
        by_unit: dict[str, list[Entry]] = defaultdict(list)
        for rec in list(tracker.due(now)):
            for unit, entry in tracker.emit(rec, now):
                by_unit[unit].append(entry)
        if by_unit:
            stats["swept"] += sum(len(v) for v in by_unit.values())
            sent: list[Any] = []
            await send_entries(sent, by_unit)
            await delivered(sent)

    # --------------------------------------------------------------- aggregate
    applied_changelog = applied_table.changelog_topic.get_topic_name()

    async def aggregate_batch(records: list[Any]) -> None:
        sent: list[Any] = []
        rows: list[tuple[str, bytes, int]] = []
        for msg in records:
            unit = msg.key.decode()
            for entry in decode_entries(msg.value):
                row = aggregator.apply(unit, entry, msg.partition)
                if row is not None:
                    rows.append((*row, msg.partition))
        await send_rows(sent, applied_changelog, [(k.encode(), v, p) for k, v, p in rows])
        await delivered(sent)
        stats["contributions"] += len(records)

    @app.agent(contributions_topic, concurrency=1, name="aggregate")
    async def aggregate(stream: faust.StreamT) -> None:
        async for events in stream.take_events(batch_max, batch_within):
            async with batch_lock:
                await guarded(aggregate_batch([ev.message for ev in events]))

    def batch_handler(name: str, work: Callable[[list[Any]], Any]) -> Any:
        async def handle(records: list[Any]) -> bool:
            async with batch_lock:
                if not ready[name]:
                    return False  # not recovered yet: fetched again later
                await guarded(work(records))
                return True
        return handle

    if fast_path:
        app.batch_handlers = {  # type: ignore[attr-defined]
            names.events: batch_handler("track", track_batch),
            names.contributions: batch_handler("aggregate", aggregate_batch),
        }

    @applied_table.on_recover
    async def _rebuild_aggregator() -> None:
        applied_table.data.clear()
        aggregator.clear()
        mine = owned(names.contributions)
        for k, v in (await changelog_rows(applied_changelog, mine)).items():
            aggregator.restore(k.decode(), v, mine)
        aggregator.dirty.update(aggregator.counters)  # publish all: a crash may have lost some
        ready["aggregate"] = True
        gc.freeze()  # the rebuilt state is long-lived: keep it out of every future GC scan
        log.info("aggregator rebuilt: %d rows, %d buckets", len(aggregator.applied),
                 len(aggregator.counters))

    catalogs: list[Any] = []

    @app.timer(publish_interval)
    async def publish() -> None:
        if not ready["aggregate"] or not aggregator.dirty:
            return
        from kpi.calendar import local_date
        from kpi.catalog import shipped_catalogs
        from kpi.periods import parse_period
        from kpi.report import build_report, report_criteria

        if with_criteria and not catalogs:
            catalogs.extend(shipped_catalogs())
        now = clock()
        buckets = aggregator.take_dirty()
        sent: list[Any] = []
        try:
            for unit, period, counters in buckets:
                level = aggregator.levels.get(unit)
                criteria = report_criteria(
                    counters.to_dict(), level, local_date(parse_period(period).start), catalogs
                ) if with_criteria else []
                report = build_report(unit, period, counters, now, criteria=criteria,
                                      level=level)
                await send(sent, names.kpi, f"{unit}|{period}".encode(), orjson.dumps(report))
            await delivered(sent)
        except BaseException:
            aggregator.dirty.update((u, p) for u, p, _ in buckets)
            raise
        stats["snapshots"] += len(buckets)

    @app.on_partitions_revoked.connect
    async def _revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        # until the tables are recovered, nothing is swept or published from stale state;
        # a batch in progress finishes first (its sends delivered), so the rebuild that
        # follows reads everything it wrote
        async with batch_lock:
            ready["track"] = ready["aggregate"] = False
            first_offsets.clear()
            tracker.clear()
            aggregator.clear()

    return app
