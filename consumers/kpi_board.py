"""The live KPI gauges: the latest snapshot per (unit, period, scope) and their exposition
text.

* :class:`KpiFeed` reads the compacted KPI topic as a table (no consumer group: every
  metrics process sees every snapshot) into a :class:`KpiBoard`; record keys are
  :func:`kpi.report.snapshot_key` (``unit|period`` own figures, ``unit|period|total``);
* :meth:`KpiBoard.exposition` is the one renderer of ``motcua_kpi_ratio`` and
  ``motcua_kpi_count`` (Prometheus text format 0.0.4), for the periods asked — the server
  asks for the *current* month, quarter and year (:func:`current_periods`, local time
  Asia/Ho_Chi_Minh), so the cardinality stays bounded (units × scopes × 3 × keys).

Labels: ``unit``, ``unit_name``, ``level``, ``period``, ``scope`` (``own``: the unit's own
figures; ``total``: plus every unit below it — docs/contract.md), ``view`` (the snapshot's,
``as_was`` for the live stream) and ``kpi``. ``unit_name`` is one name per unit in a
scrape — the name of the unit's newest served snapshot — so it adds no series (see
docs/decisions/metrics-unit-name-label.md); a unit without a known name has no
``unit_name`` label (Prometheus reads an absent label and an empty one alike). A ratio
whose denominator is 0 is null in the report and has no sample (never a fake 0); every
count key has a sample — dossiers', and those of petitions, the procedure catalog and
documents (docs/contract.md), all under ``kpi`` (tests/unit/test_families_outputs.py).
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

from kpi.attribution import AS_WAS, OWN
from kpi.counters import COUNT_KEYS
from kpi.periods import period_keys
from kpi.ratios import RATIO_KEYS
from kpi.report import parse_snapshot_key
from runtime.settings import Settings

log = logging.getLogger(__name__)

RATIO_HELP = "KPI ratio (tỷ lệ), docs/contract.md"
COUNT_HELP = "KPI count (số lượng: hồ sơ, PAKN, TTHC, văn bản), docs/contract.md"


def current_periods(now: float) -> tuple[str, str, str]:
    """(month, quarter, year) keys holding ``now`` in local time (Asia/Ho_Chi_Minh)."""
    return period_keys(now)


Key = tuple[str, str, str]
"""(unit, period, scope) of a snapshot."""


class KpiBoard:
    """The latest report per (unit, period, scope); thread-safe, last ``as_of`` wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reports: dict[Key, dict[str, Any]] = {}
        self._as_of: dict[Key, float] = {}
        self._text: dict[Key, tuple[str | None, str, str]] = {}
        """Key → (the unit name it was rendered with, its ratio lines, its count lines),
        until the report or the unit's name changes."""

    def put(self, report: dict[str, Any]) -> None:
        key = (report["unit"], report["period"], report.get("scope", OWN))
        as_of = datetime.fromisoformat(report["as_of"]).timestamp()
        with self._lock:
            if as_of >= self._as_of.get(key, float("-inf")):
                self._reports[key] = report
                self._as_of[key] = as_of
                self._text.pop(key, None)

    def delete(self, unit: str, period: str, scope: str = OWN) -> None:
        key = (unit, period, scope)
        with self._lock:
            self._reports.pop(key, None)
            self._as_of.pop(key, None)
            self._text.pop(key, None)

    def apply_record(self, key: bytes | None, value: bytes | None) -> None:
        """One record of the KPI topic (a tombstone deletes the snapshot its key names;
        garbage is logged, skipped — the SQL sink keeps it as a dead letter)."""
        if value is None:
            try:
                self.delete(*parse_snapshot_key((key or b"").decode("utf-8", "replace")))
            except ValueError:
                pass  # not a snapshot key: nothing to delete
            return
        try:
            self.put(orjson.loads(value))
        except Exception as exc:
            log.warning("skipping an unreadable KPI snapshot: %s", exc)

    def reports_for(self, periods: Iterable[str]) -> list[dict[str, Any]]:
        """The reports of ``periods``, ordered by (unit, period, scope)."""
        wanted = set(periods)
        with self._lock:
            return [r for (_, p, _s), r in sorted(self._reports.items()) if p in wanted]

    def __len__(self) -> int:
        with self._lock:
            return len(self._reports)

    def exposition(self, periods: Iterable[str]) -> bytes:
        """``motcua_kpi_ratio`` and ``motcua_kpi_count`` of the reports of ``periods`` in
        the Prometheus text format, ordered by (unit, period, scope). Each report is
        rendered once and its text reused until it or its unit's name changes
        (docs/decisions/metrics-cached-kpi-text.md)."""
        wanted = set(periods)
        ratios: list[str] = []
        counts: list[str] = []
        with self._lock:
            keys = [k for k in sorted(self._reports) if k[1] in wanted]
            names = self._unit_names(keys)
            for key in keys:
                name = names.get(key[0])
                text = self._text.get(key)
                if text is None or text[0] != name:
                    text = self._text[key] = (name, *_render(self._reports[key], name))
                ratios.append(text[1])
                counts.append(text[2])
        return "".join([
            f"# HELP motcua_kpi_ratio {RATIO_HELP}\n# TYPE motcua_kpi_ratio gauge\n", *ratios,
            f"# HELP motcua_kpi_count {COUNT_HELP}\n# TYPE motcua_kpi_count gauge\n", *counts,
        ]).encode("utf-8")


    def _unit_names(self, keys: list[Key]) -> dict[str, str | None]:
        """Unit → the ``unit_name`` of its newest snapshot among ``keys`` (ties: the last
        key in order), so each unit is served under one name (caller holds the lock)."""
        newest: dict[str, tuple[float, str | None]] = {}
        for key in keys:
            as_of = self._as_of[key]
            seen = newest.get(key[0])
            if seen is None or as_of >= seen[0]:
                newest[key[0]] = (as_of, self._reports[key].get("unit_name"))
        return {unit: name for unit, (_, name) in newest.items()}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _render(report: dict[str, Any], unit_name: str | None) -> tuple[str, str]:
    name = f'unit_name="{_label(unit_name)}",' if unit_name else ""
    labels = (f'unit="{_label(report["unit"])}",{name}'
              f'level="{_label(report.get("level") or "")}",'
              f'period="{_label(report["period"])}",'
              f'scope="{_label(report.get("scope", OWN))}",'
              f'view="{_label(report.get("view", AS_WAS))}"')
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
