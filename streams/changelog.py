"""Reading the worker's changelogs back (confluent-kafka, :mod:`runtime.kafka`), to their
true end.

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
    from runtime.kafka import end_offsets, read_range, reader

    consumer = reader(settings, bootstrap, "motcua-recovery",
                      **{"max.partition.fetch.bytes": 8 << 20})
    try:
        listed = {tp.partition: end for tp, end in end_offsets(consumer, topic).items()
                  if tp.partition in partitions}
        if ends_out is not None:
            ends_out.update(listed)
        begin = {p: (start or {}).get(p, 0) for p in listed}
        ends = {p: end for p, end in listed.items() if end > begin[p]}
        out: dict[bytes, bytes] = {}
        deadline = time.monotonic() + timeout
        for records in read_range(consumer, topic, begin, ends, batch=50_000):
            if records:  # a stall, not a long changelog, is what times out
                deadline = time.monotonic() + timeout
            elif time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to {ends}: no record for "
                                   f"{timeout:.0f} s")
            for r in records:
                key, value = r.key(), r.value()
                if value is None:
                    out.pop(key, None)
                else:
                    out[key] = value
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
