"""The HTTP ingest's way to the broker: a port (:class:`Publisher`) and its real
implementation on an idempotent producer (:class:`KafkaPublisher`).

:meth:`Publisher.publish` returns only when the broker acknowledged every record given
(``acks=all``); otherwise it raises :class:`schemas.errors.DeliveryFailed` within
``timeout`` seconds — the ingest answers 503 and the client re-sends the whole request
(re-sending the same (``source``, ``id``) is harmless).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from abc import ABC, abstractmethod
from typing import Any

from runtime.kafka import admin as kafka_admin
from runtime.kafka import producer as kafka_producer
from runtime.settings import Settings
from schemas.errors import DeliveryFailed

OutRecord = tuple[str, bytes | None, bytes, list[tuple[str, bytes]] | None]
"""``(topic, key, value, headers)`` of one record to publish."""


class Publisher(ABC):
    """Where accepted events and dead letters go."""

    async def start(self) -> None:  # noqa: B027 - optional
        """Connect (called once before the first request)."""

    async def stop(self) -> None:  # noqa: B027 - optional
        """Flush and disconnect."""

    @abstractmethod
    async def publish(self, records: list[OutRecord]) -> None:
        """Publish ``records``; return once all are acknowledged, else raise
        :class:`DeliveryFailed`."""

    @abstractmethod
    async def ready(self) -> bool:
        """True if the broker answers now."""


class KafkaPublisher(Publisher):
    """The project's idempotent producer (:func:`runtime.kafka.producer`, kafka-python:
    ``enable_idempotence``, ``acks=all``), its acknowledgements bridged to asyncio.

    Not aiokafka's: its InitProducerId request fails on the embedded broker (Tansu 0.6
    answers ``UnknownError``), so aiokafka could only be used without idempotence;
    kafka-python's producer negotiates the request version and gets a producer id
    (docs/decisions/http-ingest-producer.md). ``send()`` may block for metadata, so it
    runs in a worker thread; the acknowledgements are awaited without one."""

    def __init__(self, settings: Settings, bootstrap: str, *, timeout: float = 10.0) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.timeout = timeout
        self._producer: Any = None
        self._lock = threading.Lock()

    def _connected(self) -> Any:
        with self._lock:
            if self._producer is None:
                ms = int(self.timeout * 1000)
                self._producer = kafka_producer(
                    self.settings, self.bootstrap, linger_ms=2, client_id="motcua-http",
                    request_timeout_ms=ms, max_block_ms=ms, delivery_timeout_ms=ms + 1000)
            return self._producer

    async def start(self) -> None:
        with contextlib.suppress(Exception):  # not reachable yet: /readyz says so
            await asyncio.to_thread(self._connected)

    def _drop(self) -> None:
        """Forget the producer; it is closed in the background (closing one whose broker
        is gone can take as long as its timeouts)."""
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            threading.Thread(target=_close_quietly, args=(producer,), daemon=True,
                             name="motcua-http-close").start()

    async def stop(self) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            await asyncio.to_thread(producer.close, self.timeout)

    def _send_all(self, records: list[OutRecord], loop: asyncio.AbstractEventLoop,
                  acks: list[asyncio.Future[Any]]) -> None:
        producer = self._connected()
        for (topic, key, value, headers), ack in zip(records, acks, strict=True):
            future = producer.send(topic, value=value, key=key, headers=headers)
            future.add_callback(lambda meta, a=ack: loop.call_soon_threadsafe(
                _settle, a, meta, None))
            future.add_errback(lambda exc, a=ack: loop.call_soon_threadsafe(
                _settle, a, None, exc))

    async def publish(self, records: list[OutRecord]) -> None:
        if not records:
            return
        loop = asyncio.get_running_loop()
        acks: list[asyncio.Future[Any]] = [loop.create_future() for _ in records]
        try:
            await asyncio.wait_for(self._all(records, loop, acks), self.timeout)
        except Exception as exc:
            # a producer that failed may hold half-sent batches: start afresh next time
            self._drop()
            raise DeliveryFailed(f"the broker did not acknowledge the events "
                                 f"({type(exc).__name__})") from exc

    async def _all(self, records: list[OutRecord], loop: asyncio.AbstractEventLoop,
                   acks: list[asyncio.Future[Any]]) -> None:
        await asyncio.to_thread(self._send_all, records, loop, acks)
        await asyncio.gather(*acks)

    async def ready(self) -> bool:
        """A metadata round trip within 3 s. The probe runs on a thread of its own: against
        a broker that is gone it may outlive the timeout, and must not hold up shutdown."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bool] = loop.create_future()

        def probe() -> None:
            loop.call_soon_threadsafe(_settle, answer, self._probe(), None)

        threading.Thread(target=probe, daemon=True, name="motcua-http-ready").start()
        try:
            return await asyncio.wait_for(answer, 3.0)
        except TimeoutError:
            return False

    def _probe(self) -> bool:
        try:
            client = kafka_admin(self.settings, self.bootstrap, request_timeout_ms=2000,
                                 client_id="motcua-http-ready")
        except Exception:  # noqa: BLE001 - not ready, whatever the reason
            return False
        try:
            client.list_topics()
            return True
        except Exception:  # noqa: BLE001
            return False
        finally:
            client.close()


def _close_quietly(producer: Any) -> None:
    with contextlib.suppress(Exception):
        producer.close(timeout=0)


def _settle(ack: asyncio.Future[Any], meta: Any, exc: BaseException | None) -> None:
    if ack.done():
        return
    if exc is not None:
        ack.set_exception(exc)
    else:
        ack.set_result(meta)


__all__ = ["KafkaPublisher", "OutRecord", "Publisher"]
