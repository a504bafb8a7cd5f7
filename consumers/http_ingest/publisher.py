"""The HTTP ingest's way to the broker: a port (:class:`Publisher`) and its real
implementation on librdkafka's idempotent producer (:class:`KafkaPublisher`).

:meth:`Publisher.publish` returns only when the broker acknowledged every record given
(``acks=all``); otherwise it raises :class:`schemas.errors.DeliveryFailed` within
``timeout`` seconds — the ingest answers 503 and the client re-sends the whole request
(re-sending the same (``source``, ``id``) is harmless).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from abc import ABC, abstractmethod
from typing import Any, cast

from runtime.rdkafka import rdkafka_config
from runtime.settings import Settings
from schemas.errors import DeliveryFailed

log = logging.getLogger("motcua.http.producer")

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
    """confluent-kafka's ``Producer`` (librdkafka; ``enable.idempotence``, ``acks=all``,
    settings by :func:`runtime.rdkafka.rdkafka_config`), its delivery reports bridged to
    asyncio.

    ``produce()`` only queues (it never waits for the network), so it runs on the event
    loop; a thread of the producer's own serves its delivery reports (``poll``) and wakes
    the waiting request once per request, when the last of its records is acknowledged or
    the first one fails. A delivery not acknowledged within ``timeout`` seconds
    (``message.timeout.ms``) fails the request; the producer is then replaced (closed in the
    background). Why not kafka-python's or aiokafka's producer:
    docs/decisions/http-ingest-producer.md."""

    def __init__(self, settings: Settings, bootstrap: str, *, timeout: float = 10.0,
                 linger_ms: float = 2.0) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.timeout = timeout
        self.linger_ms = linger_ms
        self._lane: _Lane | None = None
        self._lock = threading.Lock()

    def _connected(self) -> _Lane:
        with self._lock:
            if self._lane is None:
                ms = int(self.timeout * 1000)
                self._lane = _Lane(rdkafka_config(
                    self.settings, self.bootstrap, **{
                        "client.id": "motcua-http", "linger.ms": self.linger_ms,
                        "message.timeout.ms": ms, "socket.timeout.ms": max(ms, 10),
                        "logger": log}))
            return self._lane

    async def start(self) -> None:
        self._connected()  # connects in the background: /readyz tells when it is up

    def _drop(self, lane: _Lane) -> None:
        """Replace ``lane``'s producer; it is closed in the background."""
        with self._lock:
            if self._lane is lane:
                self._lane = None
        lane.close(wait=0.0)

    async def stop(self) -> None:
        with self._lock:
            lane, self._lane = self._lane, None
        if lane is not None:
            await asyncio.to_thread(lane.close, self.timeout)

    async def publish(self, records: list[OutRecord]) -> None:
        if not records:
            return
        lane = self._connected()
        loop = asyncio.get_running_loop()
        request = _Request(loop, len(records))
        try:
            deadline = time.monotonic() + self.timeout
            for topic, key, value, headers in records:
                while True:
                    try:
                        lane.producer.produce(topic, value=value, key=key,
                                              headers=cast(Any, headers),
                                              on_delivery=request.delivered)
                        break
                    except BufferError:  # the local queue is full: let it drain
                        if time.monotonic() > deadline:
                            raise
                        await asyncio.sleep(0.005)
            await asyncio.wait_for(request.done, self.timeout + 1.0)
        except Exception as exc:
            self._drop(lane)
            raise DeliveryFailed(f"the broker did not acknowledge the events "
                                 f"({_name(exc)})") from exc

    async def ready(self) -> bool:
        """A metadata round trip within 3 s. It runs on a thread of its own: against a
        broker that is gone it may outlive the timeout, and must not hold up shutdown."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bool] = loop.create_future()
        lane = self._connected()

        def probe() -> None:
            try:
                lane.producer.list_topics(timeout=2.5)
                ok = True
            except Exception:  # noqa: BLE001 - not ready, whatever the reason
                ok = False
            loop.call_soon_threadsafe(_settle, answer, ok)

        threading.Thread(target=probe, daemon=True, name="motcua-http-ready").start()
        try:
            return await asyncio.wait_for(answer, 3.0)
        except TimeoutError:
            return False


class _Lane:
    """One producer and the thread that serves its delivery reports."""

    def __init__(self, config: dict[str, Any]) -> None:
        import confluent_kafka

        self.producer = confluent_kafka.Producer(config)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True,
                                        name="motcua-http-deliveries")
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.05)

    def close(self, wait: float) -> None:
        """Flush up to ``wait`` seconds (0: in the background), then stop serving."""
        def finish() -> None:
            with contextlib.suppress(Exception):
                self.producer.flush(wait)
            self._stop.set()

        if wait:
            finish()
            self._thread.join(timeout=1.0)
        else:
            threading.Thread(target=finish, daemon=True, name="motcua-http-close").start()


class _Request:
    """The delivery reports of one request's records: ``done`` resolves (on the loop) when
    all are acknowledged, or fails at the first error."""

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        self.loop = loop
        self.left = count
        self.done: asyncio.Future[None] = loop.create_future()
        self._lock = threading.Lock()
        self._settled = False

    def delivered(self, err: Any, _msg: Any) -> None:
        """librdkafka's delivery report (on the producer's thread)."""
        with self._lock:
            if self._settled:
                return
            self.left -= 1
            if err is None and self.left:
                return
            self._settled = True
        failure = None if err is None else DeliveryFailed(str(err))
        self.loop.call_soon_threadsafe(_settle, self.done, None, failure)


def _name(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


__all__ = ["KafkaPublisher", "OutRecord", "Publisher"]
