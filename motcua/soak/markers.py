"""Freshness markers: events timed *now* for dedicated units, and where they were first seen
(the kpi topic's record timestamp, the ``/metrics`` gauge)."""

from __future__ import annotations

import re
import threading
import time
import urllib.request
from dataclasses import dataclass

import orjson

from kpi.attribution import OWN
from kpi.simulate import format_time
from runtime.kafka import partitions_of, reader, take
from runtime.settings import Settings

MARKER_PREFIX = "SOAK.F"
MARKER_SOURCE = "urn:motcua:soak"


def marker_line(n: int, unit: str, now: float) -> bytes:
    return orjson.dumps({
        "specversion": "1.0", "id": f"soak-marker-{n}", "source": MARKER_SOURCE,
        "type": "vn.gov.motcua.dossier.received", "time": format_time(now),
        "subject": f"SOAK-MARKER-{n:06d}",
        "data": {"unit_code": unit, "unit_level": "commune", "procedure_code": "SOAK.P1",
                 "channel": "online", "online_level": "full", "processing_days": 5},
    })


@dataclass
class Marker:
    n: int
    unit: str
    nth: int
    """The marker's rank on its unit: seen when the unit's ``received`` reaches it."""
    month: str
    produced: float
    warmup: bool = False
    snapshot: float | None = None
    gauge: float | None = None


class Markers:
    """Markers in flight and their sightings (thread-safe)."""

    def __init__(self, units: int) -> None:
        self.units = [f"{MARKER_PREFIX}{i:02d}" for i in range(units)]
        self._lock = threading.Lock()
        self._next = 0
        self.all: list[Marker] = []
        self._by_unit: dict[str, list[Marker]] = {u: [] for u in self.units}

    def free_unit(self) -> str | None:
        """The next unit (round-robin) whose markers were all seen at both stages."""
        with self._lock:
            for i in range(len(self.units)):
                unit = self.units[(self._next + i) % len(self.units)]
                if all(m.gauge is not None and m.snapshot is not None
                       for m in self._by_unit[unit]):
                    self._next = (self._next + i + 1) % len(self.units)
                    return unit
        return None

    def add(self, unit: str, month: str, produced: float, warmup: bool = False) -> Marker:
        with self._lock:
            m = Marker(len(self.all) + 1, unit, len(self._by_unit[unit]) + 1, month, produced,
                       warmup)
            self.all.append(m)
            self._by_unit[unit].append(m)
            return m

    def saw(self, stage: str, unit: str, month: str, received: int, at: float) -> None:
        with self._lock:
            for m in self._by_unit.get(unit, ()):
                if m.month == month and m.nth <= received and getattr(m, stage) is None:
                    setattr(m, stage, at)

    def pending(self) -> list[Marker]:
        with self._lock:
            return [m for m in self.all if m.snapshot is None or m.gauge is None]

    def measured(self) -> list[Marker]:
        with self._lock:
            return [m for m in self.all if not m.warmup]


def watch_snapshots(settings: Settings, bootstrap: str, markers: Markers,
                    stop: threading.Event) -> None:
    """Tail the kpi topic; note when a marker unit's month snapshot first counts a marker
    (the record's CreateTime, set by the worker's producer)."""
    import confluent_kafka

    consumer = reader(settings, bootstrap, "motcua-soak-kpi", **{"fetch.wait.max.ms": 100})
    prefix = MARKER_PREFIX.encode()
    try:
        topic = settings.topics.kpi
        consumer.assign([confluent_kafka.TopicPartition(topic, p,
                                                        confluent_kafka.OFFSET_BEGINNING)
                         for p in partitions_of(consumer, topic)])
        while not stop.is_set():
            for m in take(consumer, 10_000, 0.1):
                key, value = m.key(), m.value()
                if m.error() is not None or value is None \
                        or not (key or b"").startswith(prefix):
                    continue
                report = orjson.loads(value)
                if report.get("scope", OWN) != OWN:  # a marker unit's own figures only
                    continue
                markers.saw("snapshot", report["unit"], report["period"],
                            int(report["counts"].get("received", 0)),
                            m.timestamp()[1] / 1000.0)
    finally:
        consumer.close()


_COUNT_LINE = re.compile(
    rb'^motcua_kpi_items\{(?=[^}]*kpi="received")(?=[^}]*unit="' +
    re.escape(MARKER_PREFIX.encode()) + rb')([^}]*)\} (\S+)$', re.M)
_LABEL = re.compile(rb'(\w+)="((?:[^"\\]|\\.)*)"')


def marker_gauges(body: bytes) -> list[tuple[str, str, int]]:
    """(unit, period, value) of every ``motcua_kpi_items`` gauge of ``kpi="received"`` for a
    marker unit's own figures in a ``/metrics`` body (labels in any order; a ``scope``
    label, when present, must be ``own``)."""
    out = []
    for labels, value in _COUNT_LINE.findall(body):
        got = {k.decode(): v.decode() for k, v in _LABEL.findall(labels)}
        if (got.get("kpi") == "received" and got.get("scope", OWN) == OWN
                and got.get("unit", "").startswith(MARKER_PREFIX) and "period" in got):
            out.append((got["unit"], got["period"], int(float(value))))
    return out


def scrape_gauges(url: str, markers: Markers, every: float, took_ms: list[float],
                  errors: list[str], stop: threading.Event) -> None:
    """Scrape ``/metrics`` every ``every`` seconds; note when a marker unit's month gauge
    first counts a marker (the wall clock when the scrape's answer was read)."""
    while not stop.is_set():
        started = time.time()
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                body = answer.read()
        except OSError as exc:
            errors.append(f"{time.strftime('%H:%M:%S')} {exc}")
            stop.wait(every)
            continue
        done = time.time()
        took_ms.append((done - started) * 1000)
        for unit, period, value in marker_gauges(body):
            markers.saw("gauge", unit, period, value, done)
        stop.wait(max(0.0, every - (time.time() - started)))

