"""Pipeline health gauges for ``/metrics``, from the broker.

:class:`HealthCollector` (a prometheus_client collector) reports, at scrape time, what a
:class:`PipelineHealth` probe returns — :class:`KafkaHealth` asks the broker, cached
briefly:

* ``motcua_health_probe_up``: 1 if the probe worked, else 0 (and nothing else: a scrape
  never fails because Kafka is away);
* ``motcua_dlq_records``: the sum of the DLQ topic's end offsets;
* ``motcua_consumer_lag{group,topic}``: end offsets minus committed offsets;
* ``motcua_newest_event_age_seconds``: seconds since the newest record reached the events
  topic;
* ``motcua_office_open``: 1 during office hours (:data:`OFFICE_HOURS`, Vietnam time) of a
  working day of the national calendar (:class:`kpi.calendar.WorkingCalendar`: weekends,
  public holidays and make-up Saturdays included), else 0 — reported even when the probe
  fails, so that the "pipeline stalled" alert fires only while events are expected (a 0/1
  flag: called ``motcua_working_hours`` before 1.2, a name that read as a duration in hours,
  docs/upgrading.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import time as clock_time
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from kpi.calendar import WorkingCalendar, to_local_datetime
from runtime.kafka import Partition, admin, end_offsets, group_lag, reader, take
from runtime.settings import Settings
from runtime.topics import sink_group

log = logging.getLogger(__name__)

OFFICE_OPEN = "motcua_office_open"
"""The 0/1 gauge of :func:`is_working_hour` at scrape time."""

OFFICE_HOURS = (clock_time(7, 30), clock_time(17, 0))
"""When one-stop desks receive and hand back dossiers (local time, start inclusive)."""


def is_working_hour(ts: float, calendar: WorkingCalendar) -> bool:
    """Whether instant ``ts`` falls in :data:`OFFICE_HOURS` of a working day."""
    local = to_local_datetime(ts)
    start, end = OFFICE_HOURS
    return calendar.is_working_day(local.date()) and start <= local.time() < end


@dataclass(frozen=True)
class PipelineHealth:
    dlq_records: int | None = None
    """Sum of the DLQ topic's end offsets (records ever dead-lettered)."""
    lag: dict[tuple[str, str], int] = field(default_factory=dict)
    """(group, topic) → end offsets − committed offsets, summed over partitions."""
    newest_event_ts: float | None = None
    """Broker timestamp (epoch seconds) of the newest record on the events topic."""


class HealthCollector:
    """Pipeline health gauges from a probe called at scrape time."""

    def __init__(
        self,
        probe: Callable[[], PipelineHealth],
        clock: Callable[[], float] = time.time,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.probe = probe
        self.clock = clock
        self.calendar = WorkingCalendar()
        if registry is not None:
            registry.register(self)

    def describe(self) -> list[Metric]:
        return []  # collect() queries the broker: do not call it at registration

    def collect(self) -> Iterator[Metric]:
        working = GaugeMetricFamily(
            OFFICE_OPEN,
            "1 during office hours of a working day (national calendar, Vietnam time), else 0")
        working.add_metric([], float(is_working_hour(self.clock(), self.calendar)))
        yield working
        up = GaugeMetricFamily("motcua_health_probe_up", "1 if the Kafka probe worked")
        try:
            health = self.probe()
        except Exception as exc:  # a scrape must not fail because Kafka is away
            log.warning("pipeline health probe failed: %s", exc)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        if health.dlq_records is not None:
            dlq = GaugeMetricFamily("motcua_dlq_records",
                                    "Records on the dead-letter topic (sum of end offsets)")
            dlq.add_metric([], float(health.dlq_records))
            yield dlq
        lag = GaugeMetricFamily("motcua_consumer_lag",
                                "End offsets minus committed offsets, per group and topic",
                                labels=["group", "topic"])
        for (group, topic), n in sorted(health.lag.items()):
            lag.add_metric([group, topic], float(n))
        yield lag
        if health.newest_event_ts is not None:
            age = GaugeMetricFamily("motcua_newest_event_age_seconds",
                                    "Seconds since the newest record reached the events topic")
            age.add_metric([], max(0.0, self.clock() - health.newest_event_ts))
            yield age


class KafkaHealth:
    """A :class:`PipelineHealth` probe against the broker, cached for ``ttl`` seconds."""

    def __init__(
        self, settings: Settings, bootstrap: str, groups: dict[str, list[str]],
        ttl: float = 5.0,
    ) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.groups = groups
        """group id → topics it consumes."""
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cached: tuple[float, PipelineHealth] | None = None
        self._consumer: Any = None
        self._admin: Any = None

    def _clients(self) -> tuple[Any, Any]:
        if self._consumer is None:
            self._consumer = reader(self.settings, self.bootstrap, "motcua-health",
                                    **{"socket.timeout.ms": 5000})
        if self._admin is None:
            self._admin = admin(self.settings, self.bootstrap, timeout=5.0)
        return self._consumer, self._admin

    def __call__(self) -> PipelineHealth:
        with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self.ttl:
                return self._cached[1]
            try:
                health = self._probe()
            except Exception:
                self.close()  # rebuild the clients next time
                raise
            self._cached = (now, health)
            return health

    def _probe(self) -> PipelineHealth:
        consumer, admin_client = self._clients()
        topics = self.settings.topics
        dlq = sum(end_offsets(consumer, topics.dlq).values())
        lag: dict[tuple[str, str], int] = {}
        for group, group_topics in self.groups.items():
            per_topic = group_lag(self.settings, self.bootstrap, group, group_topics,
                                  consumer=consumer, admin_client=admin_client)
            for topic, n in per_topic.items():
                lag[(group, topic)] = n
        return PipelineHealth(dlq, lag, self._newest_event(consumer))

    def _newest_event(self, consumer: Any) -> float | None:
        """The newest record's timestamp: each non-empty partition's last record is read
        (for at most 3 s)."""
        import confluent_kafka

        ends = end_offsets(consumer, self.settings.topics.events)
        nonempty = {tp: end for tp, end in ends.items() if end > 0}
        if not nonempty:
            return None
        consumer.assign([confluent_kafka.TopicPartition(t, p, end - 1)
                         for (t, p), end in nonempty.items()])
        newest: float | None = None
        deadline = time.monotonic() + 3.0
        pending = set(nonempty)
        try:
            while pending and time.monotonic() < deadline:
                for m in take(consumer, 1_000, 0.2):
                    if m.error() is None:
                        ts = m.timestamp()[1] / 1000.0
                        newest = ts if newest is None else max(newest, ts)
                    pending.discard(Partition(m.topic(), m.partition()))
        finally:
            consumer.unassign()
        return newest

    def close(self) -> None:
        for client in (self._consumer, self._admin):
            if client is not None:
                try:
                    client.close()
                except Exception:  # pragma: no cover
                    pass
        self._consumer = self._admin = None


def default_groups(settings: Settings, extra: dict[str, list[str]] | None = None
                   ) -> dict[str, list[str]]:
    """The consumer groups whose lag is reported: the SQL sink, plus ``extra``."""
    t = settings.topics
    groups = {sink_group(settings): [t.events, t.dlq, t.kpi]}
    groups.update(extra or {})
    return groups


__all__ = ["HealthCollector", "KafkaHealth", "PipelineHealth", "default_groups"]
