"""The live pipeline's ports: what :class:`streams.pipeline.Pipeline` needs from the
outside — its topics, the records it consumes, a producer, a changelog source and an
archive — as abstract classes and protocols. The faust/aiokafka adapters
(:mod:`streams.app`, :mod:`streams.changelog`) subclass them; unit tests subclass them with fakes.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Topics:
    """The topic names the pipeline reads and writes."""

    events: str
    contributions: str
    kpi: str
    dlq: str
    dossiers_changelog: str
    applied_changelog: str
    links: str = "links"
    """Join records (:mod:`kpi.links`), keyed by their target subject."""

class Record(Protocol):
    """A consumed record (aiokafka's ``ConsumerRecord``)."""

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes: ...

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...

class Acknowledged(Protocol):
    """What the broker acknowledged for a produced record or record batch (aiokafka's
    ``RecordMetadata``): where it was written. For a batch, ``offset`` is its last record's
    (so the offsets a process saw acknowledged are all below the end of the log)."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...


Delivery = asyncio.Future[Any]
"""A produced record's (or record batch's) delivery: resolves to an
:class:`Acknowledged`, or fails with the broker's error."""

Row = tuple[bytes, bytes, int]
"""A changelog row: (key, value, partition)."""


class Producer(ABC):
    """Sends records to the broker. Nothing is known to be written until its
    :data:`Delivery` resolved (:meth:`streams.pipeline.Pipeline.delivered` checks)."""

    @abstractmethod
    async def send(self, topic: str, key: bytes | None, value: bytes,
                   partition: int | None = None,
                   headers: list[tuple[str, bytes]] | None = None) -> Delivery:
        """Hand one record over; return its delivery (``partition`` ``None``: by key)."""

    @abstractmethod
    async def send_rows(self, topic: str, rows: list[Row]) -> list[Delivery]:
        """Hand changelog rows over as record batches (one delivery per batch, each batch
        within one partition, rows in order)."""

    @abstractmethod
    async def flush(self) -> None:
        """Push out everything handed over so far (deliveries then resolve soon)."""


class ChangelogSource(ABC):
    """Reads a changelog back, to its true end."""

    @abstractmethod
    async def read(self, topic: str, partitions: set[int],
                   start: Mapping[int, int] | None = None
                   ) -> tuple[dict[bytes, bytes], dict[int, int]]:
        """``(rows, ends)``: the latest value per key of ``partitions`` of ``topic`` among
        the records from offset ``start[p]`` (0 for a partition ``start`` does not name)
        to the end (keys whose latest value is a tombstone left out), and the end offset
        the broker lists for each partition (a missing topic or partition: absent, i.e.
        ending at 0)."""

class Archive(Protocol):
    """Where retired rows are read back from (:class:`streams.localstate.LocalState`):
    the row of ``key`` in ``table`` (``"dossier"`` or ``"applied"``) of changelog partition
    ``part``, or None; :meth:`get_many` for several keys (those found)."""

    def get(self, table: str, part: int, key: str) -> bytes | None: ...

    def get_many(self, table: str, part: int, keys: list[str]) -> dict[str, bytes]: ...
