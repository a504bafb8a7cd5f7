"""The live KPI gauges: the latest snapshot per (unit, period, scope) and their exposition
text.

* :class:`KpiFeed` reads the compacted KPI topic as a table (no consumer group: every
  metrics process sees every snapshot) into a :class:`KpiBoard`; record keys are
  :func:`kpi.report.snapshot_key` (``unit|period`` own figures, ``unit|period|total``);
* :meth:`KpiBoard.exposition` is the one renderer of the KPI families (Prometheus text
  format 0.0.4), for the periods asked — the server asks for the *current* month, quarter
  and year (:func:`current_periods`, local time Asia/Ho_Chi_Minh), so the cardinality stays
  bounded (units × scopes × 3 × keys).

Families (:data:`FAMILIES`; all gauges, docs/upgrading.md lists the names before 1.2):

* ``motcua_kpi_ratio{…,kpi}``: every non-null ratio of the report — a ratio whose
  denominator is 0 is null in the report and has no sample (never a fake 0);
* ``motcua_kpi_items{…,kpi}``: every count key (dossiers', and those of petitions, the
  procedure catalog and documents, docs/contract.md), 0 when the report lacks it;
* ``motcua_score_group_points{…,catalog,group,group_name}`` and
  ``motcua_score_group_max_points{…}``: each entry of the report's ``groups`` (as many
  groups as the catalog has, in its order; a null value has no sample);
* ``motcua_score_total_points{…,catalog}`` and ``motcua_score_total_max_points{…}``: the
  report's ``total_points`` / ``total_max_points``.

Labels ``…``: ``unit``, ``unit_name``, ``level``, ``period``, ``scope`` (``own``: the unit's
own figures; ``total``: plus every unit below it, docs/contract.md), ``view`` (the
snapshot's, ``as_was`` for the live stream). Every series of a family has the same label set:
``unit_name`` is one name per unit in a scrape — the name of the unit's newest served
snapshot — so it adds no series (see docs/decisions/metrics-unit-name-label.md), empty for a
unit without a known name; ``level`` is empty when unknown; ``catalog`` is the report's
``id@version``. A report without ``groups`` (a live snapshot: the worker does not score) is
scored here from its counts, once per snapshot (:func:`with_scores`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
from prometheus_client.utils import floatToGoString

from kpi.attribution import AS_WAS, OWN
from kpi.catalog import Catalog, shipped_catalogs
from kpi.counters import COUNT_KEYS
from kpi.periods import parse_period, period_keys
from kpi.ratios import RATIO_KEYS
from kpi.report import add_scores, parse_snapshot_key
from kpi.scoring import criteria_for_report
from runtime.kafka import partitions_of, reader, take
from runtime.settings import Settings

log = logging.getLogger(__name__)

RATIO_HELP = "KPI ratio (tỷ lệ), docs/contract.md"
COUNT_HELP = "KPI count (số lượng: hồ sơ, PAKN, TTHC, văn bản), docs/contract.md"

RATIO = "motcua_kpi_ratio"
ITEMS = "motcua_kpi_items"
GROUP_POINTS = "motcua_score_group_points"
GROUP_MAX_POINTS = "motcua_score_group_max_points"
TOTAL_POINTS = "motcua_score_total_points"
TOTAL_MAX_POINTS = "motcua_score_total_max_points"

FAMILIES: tuple[tuple[str, str], ...] = (
    (RATIO, RATIO_HELP),
    (ITEMS, COUNT_HELP),
    (GROUP_POINTS, "Điểm của nhóm tiêu chí (points of a scoring group), docs/scoring.md"),
    (GROUP_MAX_POINTS, "Điểm tối đa của nhóm tiêu chí được chấm (the group's applicable "
                       "maximum), docs/scoring.md"),
    (TOTAL_POINTS, "Tổng điểm (total points of the catalog), docs/scoring.md"),
    (TOTAL_MAX_POINTS, "Tổng điểm tối đa được chấm (the catalog's applicable maximum), "
                       "docs/scoring.md"),
)
"""(name, help) of every KPI family, in exposition order."""


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
        self._text: dict[Key, tuple[str | None, tuple[str, ...]]] = {}
        """Key → (the unit name it was rendered with, its lines of each of
        :data:`FAMILIES`), until the report or the unit's name changes."""

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
        """The :data:`FAMILIES` of the reports of ``periods`` in the Prometheus text
        format, each family's samples ordered by (unit, period, scope). Each report is
        rendered once and its text reused until it or its unit's name changes
        (docs/decisions/metrics-cached-kpi-text.md)."""
        wanted = set(periods)
        lines: list[list[str]] = [[] for _ in FAMILIES]
        with self._lock:
            keys = [k for k in sorted(self._reports) if k[1] in wanted]
            names = self._unit_names(keys)
            for key in keys:
                name = names.get(key[0])
                text = self._text.get(key)
                if text is None or text[0] != name:
                    text = self._text[key] = (name, _render(self._reports[key], name))
                for family_lines, chunk in zip(lines, text[1], strict=True):
                    family_lines.append(chunk)
        out: list[str] = []
        for (name, help_text), chunks in zip(FAMILIES, lines, strict=True):
            out.append(f"# HELP {name} {help_text}\n# TYPE {name} gauge\n")
            out.extend(chunks)
        return "".join(out).encode("utf-8")

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


def _value(value: Any) -> str:
    return floatToGoString(float(value))


_DECISION_CATALOGS: list[Catalog] = []


def with_scores(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` with its Decision 766 scores: as it is when it carries ``groups``, else a
    copy scored from its counts by the shipped catalog valid on its period's first day (the
    live snapshots carry no criteria, docs/decisions/streams-criteria-off.md), as
    ``motcua report`` scores them (:func:`kpi.scoring.criteria_for_report`)."""
    if report.get("groups"):
        return report
    if not _DECISION_CATALOGS:
        _DECISION_CATALOGS.extend(c for c in shipped_catalogs() if c.kind == "decision_766")
    on_date = parse_period(report["period"]).first_day
    criteria = criteria_for_report(report["counts"], report.get("level") or "province",
                                   on_date, _DECISION_CATALOGS)
    return add_scores({**report, "criteria": criteria})


def _render(report: dict[str, Any], unit_name: str | None) -> tuple[str, ...]:
    """The lines of each of :data:`FAMILIES` for one report (scored if it is not yet:
    :func:`with_scores`)."""
    report = with_scores(report)
    labels = (f'unit="{_label(report["unit"])}",'
              f'unit_name="{_label(unit_name or "")}",'
              f'level="{_label(report.get("level") or "")}",'
              f'period="{_label(report["period"])}",'
              f'scope="{_label(report.get("scope", OWN))}",'
              f'view="{_label(report.get("view", AS_WAS))}"')
    ratios = "".join(
        f'{RATIO}{{{labels},kpi="{key}"}} {_value(value)}\n'
        for key in RATIO_KEYS if (value := report["ratios"].get(key)) is not None
    )
    counts = "".join(
        f'{ITEMS}{{{labels},kpi="{key}"}} {_value(report["counts"].get(key, 0))}\n'
        for key in COUNT_KEYS
    )
    groups = report.get("groups") or []
    scored = f'{labels},catalog="{_label(str(report.get("catalog") or ""))}"'
    group_points, group_max = [], []
    for g in groups:
        where = (f'{scored},group="{_label(str(g["id"]))}",'
                 f'group_name="{_label(str(g.get("name") or ""))}"')
        if g.get("points") is not None:
            group_points.append(f"{GROUP_POINTS}{{{where}}} {_value(g['points'])}\n")
        if g.get("max_points") is not None:
            group_max.append(f"{GROUP_MAX_POINTS}{{{where}}} {_value(g['max_points'])}\n")
    total = total_max = ""
    if groups and report.get("total_points") is not None:
        total = f"{TOTAL_POINTS}{{{scored}}} {_value(report['total_points'])}\n"
    if groups and report.get("total_max_points") is not None:
        total_max = f"{TOTAL_MAX_POINTS}{{{scored}}} {_value(report['total_max_points'])}\n"
    return ratios, counts, "".join(group_points), "".join(group_max), total, total_max


class KpiFeed:
    """Reads the KPI topic from the beginning into a :class:`KpiBoard`, then follows it."""

    def __init__(self, settings: Settings, bootstrap: str, board: KpiBoard) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.board = board

    def run(self, stop: threading.Event) -> None:
        import confluent_kafka

        consumer = reader(self.settings, self.bootstrap, "motcua-metrics-kpi")
        topic = self.settings.topics.kpi
        try:
            while not stop.is_set():
                partitions = partitions_of(consumer, topic)
                if partitions:
                    break
                stop.wait(1.0)  # the topic is created by whoever starts first
            else:
                return
            consumer.assign([confluent_kafka.TopicPartition(
                topic, p, confluent_kafka.OFFSET_BEGINNING) for p in partitions])
            while not stop.is_set():
                for m in take(consumer, 10_000, 0.5):
                    if m.error() is None:  # else the end of a partition, or a retried error
                        self.board.apply_record(m.key(), m.value())
        finally:
            consumer.close()


__all__ = ["COUNT_HELP", "FAMILIES", "GROUP_MAX_POINTS", "GROUP_POINTS", "ITEMS", "RATIO",
           "RATIO_HELP", "TOTAL_MAX_POINTS", "TOTAL_POINTS", "KpiBoard", "KpiFeed",
           "current_periods"]
