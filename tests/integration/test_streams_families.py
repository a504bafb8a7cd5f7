"""The v1.1 families live (issue 15): petitions, the procedure catalog and documents mixed
with dossiers — whose joins (``dossiers_petitioned``, ``procedures_*_used``) cross subjects
and partitions through the links topic — give snapshots equal to the batch report, also
after a SIGKILL with joins in flight and with two workers, one killed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kpi.batch import fold_lines
from runtime.settings import Settings

from .streams_events import family_lines
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
