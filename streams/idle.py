"""Readiness checks for the live pipeline, from the outside (no sleeps, only polling).

* :func:`group_lag` — records of the events and contributions topics not yet committed by
  the pipeline's consumer group.
* :func:`read_snapshots` — the latest KPI snapshot per record key on the kpi topic, by
  bucket (:func:`kpi.report.report_bucket`).
* :func:`wait_until_idle` — blocks until the pipeline has processed everything it was given
  and its snapshots stopped changing; returns those snapshots.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from kpi.report import report_bucket
from runtime.settings import Settings
from runtime.waiting import wait_for
from schemas.errors import NotIdle


def group_lag(settings: Settings, bootstrap: str, group: str | None = None) -> dict[str, int]:
    """Uncommitted records per input topic of the pipeline's group
    (:func:`runtime.topics.pipeline_group`)."""
    from runtime.kafka import group_lag as lag_of
    from runtime.topics import pipeline_group

    topics = [settings.topics.events, settings.topics.links, settings.topics.contributions]
    return lag_of(settings, bootstrap, group or pipeline_group(settings), topics)


def read_snapshots(settings: Settings, bootstrap: str, *, timeout: float = 30.0
                   ) -> dict[tuple[str, str], dict[str, Any]]:
    """The latest snapshot of every bucket on the kpi topic, keyed by
    :func:`kpi.report.report_bucket`: ``(unit, period)`` for a unit's own figures,
    ``(scoped total key, period)`` for its total — the buckets of
    :func:`kpi.reconcile.batch_reports`. ``TimeoutError`` if the topic cannot be read to
    its end within ``timeout`` seconds (:func:`runtime.kafka.read_topic`)."""
    from runtime.kafka import read_topic

    out: dict[tuple[str, str], dict[str, Any]] = {}
    for record in read_topic(settings, bootstrap, settings.topics.kpi, timeout=timeout):
        if record.value is None:
            continue
        report = orjson.loads(record.value)
        out[report_bucket(report)] = report
    return out


def wait_until_idle(
    settings: Settings,
    bootstrap: str,
    *,
    timeout: float = 300.0,
    settle: float = 2.5,
    poll: float = 0.5,
) -> dict[tuple[str, str], dict[str, Any]]:
    """Wait until the group has committed every event and contribution and the kpi topic
    has not grown for ``settle`` seconds (longer than the publish and commit intervals);
    return the latest snapshots. Raises :class:`NotIdle` at the deadline."""
    from runtime.kafka import end_offsets, reader

    consumer = reader(settings, bootstrap, "motcua-idle")
    quiet_since: float | None = None
    last_kpi: dict[Any, int] | None = None
    lag: dict[str, int] = {}

    def settled() -> bool:
        nonlocal quiet_since, last_kpi, lag
        lag = group_lag(settings, bootstrap)
        kpi_end = end_offsets(consumer, settings.topics.kpi)
        now = time.monotonic()
        if any(lag.values()) or kpi_end != last_kpi:
            quiet_since = None if any(lag.values()) else now
            last_kpi = kpi_end
        elif quiet_since is not None and now - quiet_since >= settle:
            return True
        elif quiet_since is None:
            quiet_since = now
        return False

    try:
        wait_for(settled, timeout=timeout, poll=poll, what="the pipeline to be idle")
    except NotIdle:
        raise NotIdle(f"pipeline not idle after {timeout:.0f}s; lag {lag}") from None
    finally:
        consumer.close()
    return read_snapshots(settings, bootstrap)
