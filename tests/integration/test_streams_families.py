"""The v1.1 families live (issue 15): petitions, the procedure catalog and documents mixed
with dossiers — whose joins (``dossiers_petitioned``, ``procedures_*_used``) cross subjects
and partitions through the links topic — give snapshots equal to the batch report, also
after a SIGKILL with joins in flight and with two workers, one killed; and the v1.2
facts mixed in, with a registry whose totals count the catalog once per procedure code,
after a SIGKILL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kpi.batch import aggregate, fold_lines
from kpi.registry import UnitRegistry
from kpi.units import CalendarBook
from runtime.settings import Settings

from .streams_events import PORTAL_UNITS, family_lines, portal_lines
from .test_streams import kill_mid_stream, publish, start_worker, wait_for_agreement

pytestmark = pytest.mark.integration

__all__ = ["start_worker"]  # the fixture, shared with test_streams


def _joins(lines: list[bytes]) -> tuple[int, int]:
    """(dossiers named by a petition, catalog entries with a dossier link) in the batch:
    the test means nothing if the joins are empty."""
    states = fold_lines(lines).facts
    petitioned = sum(1 for facts in states.values()
                     if any(f[0] == "petitioned" for f in facts.values())
                     and any(f[0] == "received" for f in facts.values()))
    used = sum(1 for facts in states.values()
               if any(f[0] == "used" for f in facts.values())
               and any(f[0] == "procedure_published" for f in facts.values()))
    return petitioned, used


def test_families_live_equal_batch(topic_settings: Callable[..., Settings],
                                   start_worker: Any) -> None:
    settings = topic_settings()
    lines = family_lines(8_000, seed=41)
    petitioned, used = _joins(lines)
    assert petitioned > 50 and used >= 6
    start_worker(settings)
    publish(settings, lines)
    wait_for_agreement(settings, lines, timeout=90)


def test_families_sigkill_with_joins_in_flight(topic_settings: Callable[..., Settings],
                                               start_worker: Any) -> None:
    settings = topic_settings()
    lines = family_lines(12_000, seed=43)
    at_kill = kill_mid_stream(settings, lines, start_worker(settings), snapshot_timeout=60)
    assert 0 < at_kill < len(lines)
    start_worker(settings)
    wait_for_agreement(settings, lines, timeout=120)


def test_families_two_workers_one_killed(topic_settings: Callable[..., Settings],
                                         start_worker: Any) -> None:
    settings = topic_settings()
    lines = family_lines(12_000, seed=47)
    first = start_worker(settings)
    start_worker(settings)
    at_kill = kill_mid_stream(settings, lines, first, snapshot_timeout=90)
    assert 0 < at_kill < len(lines)
    wait_for_agreement(settings, lines, timeout=150)


def test_portal_counts_sigkill_with_a_registry(topic_settings: Callable[..., Settings],
                                               start_worker: Any, tmp_path: Path) -> None:
    units = tmp_path / "units.csv"
    units.write_text(PORTAL_UNITS, encoding="utf-8")
    registry = UnitRegistry.load(units)
    lines = portal_lines(12_000, seed=53)
    # the test means something: the province total counts fewer catalog codes than the
    # entries its units hold, and every v1.2 dossier count is there
    import time

    agg = aggregate(fold_lines(lines).states(), time.time(), CalendarBook(), registry)
    year = max(p for (u, p) in agg.totals if u == "PV" and len(p) == 4)
    total = agg.totals[("PV", year)]
    own_sum = sum(c["procedures"] for (u, p), c in agg.counters.items() if p == year)
    assert 0 < total["procedures"] < own_sum
    assert 0 < total["fee_procedures"] and total["communes"] == 5
    for key in ("handled_citizen_data", "handled_stored_personal", "reuse_eligible",
                "synced_on_time", "fee_procedures_paid_portal", "communes_e_certified_copy",
                "procedures_updated", "dossiers_unsatisfied"):
        assert total[key] > 0, key
    assert total["synced_on_time"] < total["sync_due"]
    settings = topic_settings(units_file=units)
    at_kill = kill_mid_stream(settings, lines, start_worker(settings), snapshot_timeout=60)
    assert 0 < at_kill < len(lines)
    start_worker(settings)
    wait_for_agreement(settings, lines, timeout=150, registry=registry)
