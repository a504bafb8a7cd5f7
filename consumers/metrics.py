"""Prometheus exposition (``/metrics``): live KPI gauges and pipeline health.

* :class:`KpiBoard` holds the latest KPI snapshot per (unit, period), fed by
  :class:`KpiFeed` which reads the compacted KPI topic as a table (no consumer group: every
  metrics process sees every snapshot);
* :class:`KpiCollector` turns the board into ``motcua_kpi_ratio`` / ``motcua_kpi_count``
  at scrape time, for the *current* month, quarter and year only (local time,
  Asia/Ho_Chi_Minh), so the cardinality stays bounded (units × 3 × keys). A ratio whose
  denominator is 0 is null in the report and has no sample here (never a fake 0);
* :class:`HealthCollector` reports ``motcua_dlq_records`` (sum of the DLQ end offsets),
  ``motcua_consumer_lag{group,topic}`` and ``motcua_newest_event_age_seconds`` from a
  :class:`PipelineHealth` probe (:class:`KafkaHealth` asks the broker, cached briefly);
* the sink's own ``motcua_sink_batch_seconds`` and ``motcua_sink_db_errors_total`` live in
  :class:`consumers.sink.SinkMetrics`, registered on the registry the sink is given.

Everything takes a ``registry``; nothing is registered on the global default registry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from kpi.counters import COUNT_KEYS
from kpi.periods import period_keys
from kpi.ratios import RATIO_KEYS
from runtime.kafka import end_offsets, group_lag
from runtime.settings import Settings

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- KPI state


class KpiBoard:
    """The latest report per (unit, period); thread-safe, last ``as_of`` wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reports: dict[tuple[str, str], dict[str, Any]] = {}
        self._as_of: dict[tuple[str, str], float] = {}
        self._text: dict[tuple[str, str], tuple[str, str]] = {}
        """(unit, period) → its rendered ratio and count lines, until the report changes."""

    def put(self, report: dict[str, Any]) -> None:
        from datetime import datetime

        key = (report["unit"], report["period"])
        as_of = datetime.fromisoformat(report["as_of"]).timestamp()
        with self._lock:
            if as_of >= self._as_of.get(key, float("-inf")):
                self._reports[key] = report
                self._as_of[key] = as_of
                self._text.pop(key, None)

    def delete(self, unit: str, period: str) -> None:
        with self._lock:
            self._reports.pop((unit, period), None)
            self._as_of.pop((unit, period), None)
            self._text.pop((unit, period), None)

    def apply_record(self, key: bytes | None, value: bytes | None) -> None:
        """One record of the KPI topic (a tombstone deletes; garbage is logged, skipped —
        the SQL sink keeps it as a dead letter)."""
        if value is None:
            unit, sep, period = (key or b"").decode("utf-8", "replace").rpartition("|")
            if sep:
                self.delete(unit, period)
            return
        try:
            self.put(orjson.loads(value))
        except Exception as exc:
            log.warning("skipping an unreadable KPI snapshot: %s", exc)

    def reports_for(self, periods: Iterable[str]) -> list[dict[str, Any]]:
        wanted = set(periods)
        with self._lock:
            return [r for (_, p), r in sorted(self._reports.items()) if p in wanted]

    def __len__(self) -> int:
        with self._lock:
            return len(self._reports)

    def exposition(self, periods: Iterable[str]) -> bytes:
        """``motcua_kpi_ratio`` and ``motcua_kpi_count`` in the Prometheus text format (the
        same samples :class:`KpiCollector` yields), each report rendered once and reused
        until it changes: at 5,000 units formatting every sample on every scrape took
        seconds."""
        wanted = set(periods)
        ratios: list[str] = []
        counts: list[str] = []
        with self._lock:
            for key in sorted(self._reports):
                if key[1] not in wanted:
                    continue
                text = self._text.get(key)
                if text is None:
                    text = self._text[key] = _render(self._reports[key])
                ratios.append(text[0])
                counts.append(text[1])
        return "".join([
            f"# HELP motcua_kpi_ratio {RATIO_HELP}\n# TYPE motcua_kpi_ratio gauge\n", *ratios,
            f"# HELP motcua_kpi_count {COUNT_HELP}\n# TYPE motcua_kpi_count gauge\n", *counts,
        ]).encode("utf-8")


RATIO_HELP = "KPI ratio (tỷ lệ), EVENTS.md"
COUNT_HELP = "KPI count (số hồ sơ), EVENTS.md"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _render(report: dict[str, Any]) -> tuple[str, str]:
    from prometheus_client.utils import floatToGoString

    labels = (f'unit="{_label(report["unit"])}",level="{_label(report.get("level") or "")}",'
              f'period="{_label(report["period"])}"')
    ratios = "".join(
        f'motcua_kpi_ratio{{{labels},kpi="{key}"}} {floatToGoString(float(value))}\n'
        for key in RATIO_KEYS if (value := report["ratios"].get(key)) is not None
    )
    counts = "".join(
        f'motcua_kpi_count{{{labels},kpi="{key}"}} '
        f'{floatToGoString(float(report["counts"].get(key, 0)))}\n'
        for key in COUNT_KEYS
    )
    return ratios, counts


def current_periods(now: float) -> tuple[str, str, str]:
    """(month, quarter, year) keys holding ``now`` in local time (Asia/Ho_Chi_Minh)."""
    return period_keys(now)


class KpiCollector:
    """``motcua_kpi_ratio`` and ``motcua_kpi_count`` read from a :class:`KpiBoard`."""

    def __init__(
        self, board: KpiBoard, clock: Callable[[], float] = time.time,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.board = board
        self.clock = clock
        if registry is not None:
            registry.register(self)

    def describe(self) -> list[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        ratio, count = self._families()
        for r in self.board.reports_for(current_periods(self.clock())):
            labels = [r["unit"], r.get("level") or "", r["period"]]
            for key in RATIO_KEYS:
                value = r["ratios"].get(key)
                if value is not None:
                    ratio.add_metric([*labels, key], float(value))
            for key in COUNT_KEYS:
                count.add_metric([*labels, key], float(r["counts"].get(key, 0)))
        yield ratio
        yield count

    @staticmethod
    def _families() -> tuple[Any, Any]:
        from prometheus_client.core import GaugeMetricFamily

        labels = ["unit", "level", "period", "kpi"]
        return (
            GaugeMetricFamily("motcua_kpi_ratio", RATIO_HELP, labels=labels),
            GaugeMetricFamily("motcua_kpi_count", COUNT_HELP, labels=labels),
        )


class KpiFeed:
    """Reads the KPI topic from the beginning into a :class:`KpiBoard`, then follows it."""

    def __init__(self, settings: Settings, bootstrap: str, board: KpiBoard) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.board = board

    def run(self, stop: threading.Event) -> None:
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            client_id="motcua-metrics-kpi",
            **self.settings.kafka_client_options(),
        )
        topic = self.settings.topics.kpi
        try:
            while not stop.is_set():
                partitions = consumer.partitions_for_topic(topic)
                if partitions:
                    break
                stop.wait(1.0)  # the topic is created by whoever starts first
            else:
                return
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            while not stop.is_set():
                for recs in consumer.poll(timeout_ms=500).values():
                    for rec in recs:
                        self.board.apply_record(rec.key, rec.value)
        finally:
            consumer.close()


# --------------------------------------------------------------------------- health


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
        if registry is not None:
            registry.register(self)

    def describe(self) -> list[Metric]:
        return []  # collect() queries the broker: do not call it at registration

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        try:
            health = self.probe()
        except Exception as exc:  # a scrape must not fail because Kafka is away
            log.warning("pipeline health probe failed: %s", exc)
            up = GaugeMetricFamily("motcua_health_probe_up", "1 if the Kafka probe worked")
            up.add_metric([], 0.0)
            yield up
            return
        up = GaugeMetricFamily("motcua_health_probe_up", "1 if the Kafka probe worked")
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
        from kafka import KafkaConsumer

        from runtime.kafka import admin

        if self._consumer is None:
            self._consumer = KafkaConsumer(
                bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                client_id="motcua-health", request_timeout_ms=5000,
                **self.settings.kafka_client_options(),
            )
        if self._admin is None:
            self._admin = admin(self.settings, self.bootstrap, request_timeout_ms=5000)
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
        from kafka import TopicPartition

        ends = end_offsets(consumer, self.settings.topics.events)
        nonempty = {tp: end for tp, end in ends.items() if end > 0}
        if not nonempty:
            return None
        consumer.assign(list(nonempty))
        for tp, end in nonempty.items():
            consumer.seek(tp, end - 1)
        newest: float | None = None
        deadline = time.monotonic() + 3.0
        pending = set(nonempty)
        while pending and time.monotonic() < deadline:
            for tp, recs in consumer.poll(timeout_ms=200).items():
                for rec in recs:
                    ts = rec.timestamp / 1000.0
                    newest = ts if newest is None else max(newest, ts)
                pending.discard(TopicPartition(tp.topic, tp.partition))
        consumer.unsubscribe()
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
    from runtime.topics import sink_group

    t = settings.topics
    groups = {sink_group(settings): [t.events, t.dlq, t.kpi]}
    groups.update(extra or {})
    return groups


# --------------------------------------------------------------------------- serving


@dataclass
class MetricsServer:
    """What :func:`start_metrics` started; ``close()`` stops it."""

    board: KpiBoard
    registry: CollectorRegistry
    stop: threading.Event
    threads: list[threading.Thread]
    server: Any
    health: KafkaHealth | None

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        for t in self.threads:
            t.join(timeout)
        if self.health is not None:
            self.health.close()


def start_metrics(
    settings: Settings,
    bootstrap: str,
    *,
    registry: CollectorRegistry | None = None,
    port: int | None = None,
    addr: str = "0.0.0.0",
    groups: dict[str, list[str]] | None = None,
) -> MetricsServer:
    """Start the KPI feed thread and the HTTP server (``port`` 0 = no server) in this
    process; returns at once. The registry may be shared with an in-process sink."""
    from prometheus_client import CollectorRegistry

    registry = registry if registry is not None else CollectorRegistry()
    board = KpiBoard()
    health = KafkaHealth(settings, bootstrap, groups or default_groups(settings))
    HealthCollector(health, registry=registry)
    stop = threading.Event()
    feed = threading.Thread(target=KpiFeed(settings, bootstrap, board).run, args=(stop,),
                            name="motcua-kpi-feed", daemon=True)
    feed.start()
    port = settings.metrics_port if port is None else port
    server = None
    if port:
        server = serve_metrics(registry, board, port, addr)
    return MetricsServer(board, registry, stop, [feed], server, health)


def serve_metrics(
    registry: CollectorRegistry, board: KpiBoard, port: int, addr: str = "0.0.0.0",
    clock: Callable[[], float] = time.time,
) -> Any:
    """An HTTP server (own thread) answering ``/metrics`` with the registry's metrics
    followed by the board's KPI gauges for the current periods (text format 0.0.4)."""
    import gzip
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path.split("?")[0] not in ("/metrics", "/"):
                self.send_error(404)
                return
            body = generate_latest(registry) + board.exposition(current_periods(clock()))
            self.send_response(200)
            if "gzip" in self.headers.get("Accept-Encoding", ""):  # Prometheus asks for it
                body = gzip.compress(body, compresslevel=1)
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer((addr, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="motcua-metrics-http",
                     daemon=True).start()
    return server


__all__ = [
    "HealthCollector",
    "KafkaHealth",
    "KpiBoard",
    "KpiCollector",
    "KpiFeed",
    "MetricsServer",
    "PipelineHealth",
    "current_periods",
    "start_metrics",
]
