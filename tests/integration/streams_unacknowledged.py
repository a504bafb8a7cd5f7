"""Test-only: a stream worker whose contributions records are never acknowledged by the
broker (``python -m tests.integration.streams_unacknowledged [loglevel]``).

The fault injection lives here, not in :mod:`streams`: a :class:`streams.app.FaustProducer`
subclass whose deliveries of contributions records fail as a broker timeout would,
installed as the pipeline's producer port. Otherwise it is ``python -m streams.run``
(settings from ``MOTCUA_*``, :func:`streams.run.run_app` mapping the failure to the exit
status). Used by ``tests/integration/test_streams.py::test_a_failed_batch_stops_the_worker``.
"""

from __future__ import annotations

import asyncio
import sys

import faust
from aiokafka.errors import KafkaTimeoutError

from runtime.settings import load_settings
from streams.app import FaustProducer, create_app
from streams.ports import Delivery
from streams.run import run_app


class Unacknowledged(FaustProducer):
    """Every contributions record's delivery fails; everything else is sent for real."""

    def __init__(self, app: faust.App, topic: str) -> None:
        super().__init__(app)
        self.topic = topic

    async def send(self, topic: str, key: bytes | None, value: bytes,
                   partition: int | None = None,
                   headers: list[tuple[str, bytes]] | None = None) -> Delivery:
        if topic != self.topic:
            return await super().send(topic, key, value, partition, headers)
        failed: Delivery = asyncio.get_running_loop().create_future()
        failed.set_exception(KafkaTimeoutError("injected: the broker did not acknowledge"))
        return failed


def main() -> None:
    settings = load_settings()
    assert settings.kafka_bootstrap, "MOTCUA_KAFKA_BOOTSTRAP is required"
    app = create_app(settings, settings.kafka_bootstrap)
    app.pipeline.producer = Unacknowledged(app, settings.topics.contributions)
    run_app(app, loglevel=sys.argv[1] if len(sys.argv) > 1 else "warn")


if __name__ == "__main__":
    main()
