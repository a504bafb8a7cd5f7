"""Reading the worker's changelogs back (kafka-python), to their true end.

The worker rebuilds its state after every assignment from its local state and its two
changelogs, reading each once with :func:`read_changelog` — the tail after the offset the
local state reflects, or the whole partition (faust's own table recovery is not used: it
stops at the end offsets the broker lists, and Tansu 0.6 lists too small ones, see
:func:`runtime.kafka.end_offsets`; docs/decisions/streams-changelog-read-once.md,
streams-local-state.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from runtime.settings import Settings
from streams.ports import ChangelogSource


def read_changelog(
    settings: Settings, bootstrap: str, topic: str, partitions: set[int], timeout: float = 120.0,
    ends_out: dict[int, int] | None = None, start: Mapping[int, int] | None = None,
) -> dict[bytes, bytes]:
    """The latest value per key of some partitions of a changelog topic, read from offset
    ``start[p]`` (0 for a partition it does not name) to the end (blocking; keys whose
    latest value is a tombstone left out). ``ends_out`` receives the end offset listed for
    each partition. Raises :class:`TimeoutError` if no record comes for ``timeout`` seconds
    before the end is reached."""
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
        begin = {p: (start or {}).get(p, 0) for p in listed}
        ends = {p: end for p, end in listed.items() if end > begin[p]}
        tps = [TopicPartition(topic, p) for p in ends]
        out: dict[bytes, bytes] = {}
        if not tps:
            return out
        consumer.assign(tps)
        for tp in tps:
            if begin[tp.partition] > 0:
                consumer.seek(tp, begin[tp.partition])
            else:
                consumer.seek_to_beginning(tp)
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


class KafkaChangelogs(ChangelogSource):
    """:func:`read_changelog` in a worker thread, for the event loop."""

    def __init__(self, settings: Settings, bootstrap: str) -> None:
        self.settings = settings
        self.bootstrap = bootstrap

    async def read(self, topic: str, partitions: set[int],
                   start: Mapping[int, int] | None = None
                   ) -> tuple[dict[bytes, bytes], dict[int, int]]:
        ends: dict[int, int] = {}
        if not partitions:
            return {}, ends
        rows = await asyncio.get_running_loop().run_in_executor(
            None, lambda: read_changelog(self.settings, self.bootstrap, topic, partitions,
                                         ends_out=ends, start=start))
        return rows, ends
