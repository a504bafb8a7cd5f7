"""Test-only: ``motcua sink`` that SIGKILLs itself between a batch's database commit and its
Kafka offset commit (``python -m tests.integration.sink_killed_after_db_commit``).

The fault injection lives here, not in :mod:`consumers.sink`: a :class:`~consumers.sink.Sink`
subclass whose offset committer (called by :func:`consumers.flush.deliver` only after the
writer's flush, i.e. the database transaction, has committed) counts the batches and, at the
``--kill-after``-th one, prints that batch's offsets as one JSON line and kills its own
process before committing them to Kafka. Otherwise it runs like ``motcua sink`` (settings
from ``MOTCUA_*``, migrations, the declared topics ensured first). Used by
``tests/integration/test_sink_kill.py::test_sink_killed_between_db_and_kafka_commit``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

import orjson

from consumers import store
from consumers.flush import KafkaCommitter, OffsetCommitter, Offsets
from consumers.rdconsumer import RdConsumer
from consumers.sink import Sink
from motcua.commands._common import service_settings
from runtime.topics import declared_topics, ensure_topics

KILLED_MARK = "KILLED-AFTER-DB-COMMIT "
"""Prefix of the line printed just before the SIGKILL; the JSON after it is
``{"batch": n, "offsets": [[topic, partition, next_offset], ...]}``."""


class KillingCommitter(KafkaCommitter):
    """Commits like the sink's own committer, but SIGKILLs the process instead of the
    ``kill_after``-th commit."""

    def __init__(self, consumer: RdConsumer, kill_after: int) -> None:
        super().__init__(consumer)
        self.kill_after = kill_after
        self.db_commits = 0

    def commit(self, offsets: Offsets) -> bool:
        self.db_commits += 1  # called only once the flush's transaction committed
        if self.db_commits == self.kill_after:
            listed = sorted([t, p, o] for (t, p), o in offsets.items())
            line = orjson.dumps({"batch": self.db_commits, "offsets": listed}).decode()
            sys.stdout.write(f"{KILLED_MARK}{line}\n")
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return super().commit(offsets)


class KilledAfterDbCommit(Sink):
    def __init__(self, *args: Any, kill_after: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kill_after = kill_after

    def committer(self, consumer: RdConsumer) -> OffsetCommitter:
        return KillingCommitter(consumer, self.kill_after)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--kill-after", type=int, required=True,
                        help="SIGKILL after this batch's DB commit, before its Kafka commit")
    args = parser.parse_args(argv)
    settings = service_settings(args.bootstrap, args.db)
    ensure_topics(args.bootstrap, declared_topics(settings), settings)
    engine = store.make_engine(args.db)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        KilledAfterDbCommit(settings, engine, args.bootstrap, kill_after=args.kill_after).run(stop)
    finally:
        engine.dispose()
    sys.exit(f"the sink stopped after {args.kill_after - 1} or fewer batches: never killed")


if __name__ == "__main__":
    main()
