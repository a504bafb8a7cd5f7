"""The live KPI gauges: the latest snapshot per (unit, period) and their exposition text.

* :class:`KpiFeed` reads the compacted KPI topic as a table (no consumer group: every
  metrics process sees every snapshot) into a :class:`KpiBoard`;
* :meth:`KpiBoard.exposition` is the one renderer of ``motcua_kpi_ratio`` and
  ``motcua_kpi_count`` (Prometheus text format 0.0.4), for the periods asked — the server
  asks for the *current* month, quarter and year (:func:`current_periods`, local time
  Asia/Ho_Chi_Minh), so the cardinality stays bounded (units × 3 × keys). Labels: ``unit``,
  ``level``, ``period``, ``kpi``. A ratio whose denominator is 0 is null in the report and
  has no sample (never a fake 0); every count key has a sample.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition
from prometheus_client.utils import floatToGoString

from kpi.counters import COUNT_KEYS
from kpi.periods import period_keys
from kpi.ratios import RATIO_KEYS
from runtime.settings import Settings

log = logging.getLogger(__name__)

RATIO_HELP = "KPI ratio (tỷ lệ), EVENTS.md"
COUNT_HELP = "KPI count (số hồ sơ), EVENTS.md"


def current_periods(now: float) -> tuple[str, str, str]:
    """(month, quarter, year) keys holding ``now`` in local time (Asia/Ho_Chi_Minh)."""
    return period_keys(now)


class KpiBoard:
    """The latest report per (unit, period); thread-safe, last ``as_of`` wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reports: dict[tuple[str, str], dict[str, Any]] = {}
        self._as_of: dict[tuple[str, str], float] = {}
        self._text: dict[tuple[str, str], tuple[str, str]] = {}
        """(unit, period) → its rendered ratio and count lines, until the report changes."""

    def put(self, report: dict[str, Any]) -> None:
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
        """The reports of ``periods``, ordered by (unit, period)."""
        wanted = set(periods)
        with self._lock:
            return [r for (_, p), r in sorted(self._reports.items()) if p in wanted]

    def __len__(self) -> int:
        with self._lock:
            return len(self._reports)

    def exposition(self, periods: Iterable[str]) -> bytes:
        """``motcua_kpi_ratio`` and ``motcua_kpi_count`` of the reports of ``periods`` in
        the Prometheus text format, ordered by (unit, period). Each report is rendered once
        and its text reused until it changes (docs/decisions/metrics-cached-kpi-text.md)."""
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


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _render(report: dict[str, Any]) -> tuple[str, str]:
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


class KpiFeed:
    """Reads the KPI topic from the beginning into a :class:`KpiBoard`, then follows it."""

    def __init__(self, settings: Settings, bootstrap: str, board: KpiBoard) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.board = board

    def run(self, stop: threading.Event) -> None:
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


__all__ = ["COUNT_HELP", "RATIO_HELP", "KpiBoard", "KpiFeed", "current_periods"]
