"""A librdkafka producer (confluent-kafka) behind the ``send``/``flush`` interface that
:func:`runtime.ingest.ingest_file` publishes through (:class:`runtime.ingest.Producer`),
for publishing whole files (``motcua ingest`` and the demo) and, through
:func:`runtime.kafka.producer`, every other record the project sends outside the stream
worker and the HTTP ingest (the soak, DLQ replay, tests).

Why: kafka-python, the client used before, spent its own Python on every record (~10,000
records/s on this machine, a core's worth), librdkafka batches in C (``bench_http``:
204k–378k/s), so a province-year replay (``tests/benchmarks/bench_replay.py``) is no longer
paced by its publisher nor starved of CPU by it. The settings are the HTTP ingest's
(:func:`runtime.rdkafka.rdkafka_config`: idempotent, ``acks=all``, the Java client's
murmur2 partitioner), so a subject lands on the same partition whichever client sent it.

Contract:

* :meth:`FileProducer.send` queues one record and returns a :class:`Delivery`; its
  callbacks run in the calling thread, from a later ``send`` or from ``flush``, once the
  broker acknowledged the record (``callback(*args, message)``: confluent-kafka's
  ``Message``, with its partition and offset) or it failed (``errback(*args,
  KafkaException)``). A full local queue makes ``send`` wait, serving deliveries, rather
  than fail. :meth:`Delivery.get` waits for that one record: it returns the ``Message``
  or raises the ``KafkaException`` (:class:`DeliveryTimeout` after ``timeout``).
* :meth:`FileProducer.flush` returns once every record sent was acknowledged or failed;
  raises :class:`DeliveryTimeout` naming how many are still unsettled after ``timeout``.
* :meth:`FileProducer.close` flushes (60 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from runtime.rdkafka import rdkafka_config
from runtime.settings import Settings

POLL_EVERY = 1_000
"""Sends between two polls for deliveries (each poll runs the callbacks due)."""


class DeliveryTimeout(RuntimeError):
    """Records still unacknowledged when a flush gave up."""


class Delivery:
    """The outcome of one send: callbacks, or :meth:`get` (``poll`` serves the producer's
    deliveries for at most the seconds it is given)."""

    __slots__ = ("_callbacks", "_errbacks", "_outcome", "_failed", "_poll")

    def __init__(self, poll: Callable[[float], Any] | None = None) -> None:
        self._callbacks: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self._errbacks: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self._outcome: Any = None
        self._failed: bool | None = None  # None: not settled yet
        self._poll = poll

    def get(self, timeout: float = 60.0) -> Any:
        """The acknowledged record's ``Message``, once the broker acknowledged it; raises
        its ``KafkaException`` when it failed, :class:`DeliveryTimeout` when neither
        happened within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self._failed is None:
            left = deadline - time.monotonic()
            if left <= 0 or self._poll is None:
                raise DeliveryTimeout(f"record unacknowledged after {timeout} s")
            self._poll(min(left, 0.1))
        if self._failed:
            raise self._outcome
        return self._outcome

    def add_callback(self, f: Callable[..., Any], *args: Any) -> Delivery:
        if self._failed is None:
            self._callbacks.append((f, args))
        elif not self._failed:
            f(*args, self._outcome)
        return self

    def add_errback(self, f: Callable[..., Any], *args: Any) -> Delivery:
        if self._failed is None:
            self._errbacks.append((f, args))
        elif self._failed:
            f(*args, self._outcome)
        return self

    def settle(self, err: Any, msg: Any) -> None:
        """librdkafka's delivery report (``on_delivery``)."""
        self._failed = err is not None
        if self._failed:
            from confluent_kafka import KafkaException  # not on every acknowledgement

            self._outcome = KafkaException(err)
        else:
            self._outcome = msg
        for f, args in self._errbacks if self._failed else self._callbacks:
            f(*args, self._outcome)
        self._callbacks.clear()
        self._errbacks.clear()


class FileProducer:
    """See the module docstring."""

    def __init__(self, settings: Settings, bootstrap: str, **overrides: Any) -> None:
        import confluent_kafka

        self._producer = confluent_kafka.Producer(rdkafka_config(
            settings, bootstrap, **{"client.id": "motcua-ingest", "linger.ms": 20,
                                    **overrides}))
        self._poll = self._producer.poll
        self._sent = 0

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None,
             headers: list[tuple[str, bytes]] | None = None) -> Delivery:
        delivery = Delivery(self._poll)
        pairs: Any = headers  # confluent-kafka's stubs type the list as invariant
        while True:
            try:
                self._producer.produce(topic, value, key, headers=pairs,
                                       on_delivery=delivery.settle)
                break
            except BufferError:  # the local queue is full: serve deliveries, retry
                self._producer.poll(0.05)
        self._sent += 1
        if self._sent % POLL_EVERY == 0:
            self._producer.poll(0)
        return delivery

    def flush(self, timeout: float | None = None) -> None:
        left = self._producer.flush(-1 if timeout is None else timeout)
        if left:
            raise DeliveryTimeout(f"{left:,} record(s) still unacknowledged after "
                                  f"{timeout} s")

    def close(self) -> None:
        self.flush(60.0)


__all__ = ["Delivery", "DeliveryTimeout", "FileProducer"]
