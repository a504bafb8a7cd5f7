"""Stream shaping: the valid events of :mod:`kpi.simulate.core` as a test stream —
exact duplicates re-emitted a few events later, the arrival order shuffled, invalid lines
injected — and the JSON Lines writer. Each shaping draw has its own random stream seeded
from the config's seed, so the set of valid events never depends on them.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from kpi.simulate.config import SimulationConfig, SimulationStats
from kpi.simulate.core import DossierGenerator
from kpi.simulate.course import event_type
from kpi.simulate.families import FamilyGenerator
from schemas.events import TYPE_PREFIX

_T_RECEIVED = event_type("dossier.received")
_T_PAYMENT = event_type("payment.completed")
_T_RATED = event_type("feedback.rated")

INVALID_KINDS: tuple[str, ...] = (
    "bad_json",
    "missing_subject",
    "naive_timestamp",
    "unknown_type",
    "bad_enum",
    "negative_amount",
)
"""Kinds of invalid lines :func:`generate_lines` injects, in round-robin order."""


def _copy_event(event: dict[str, Any]) -> dict[str, Any]:
    copy = dict(event)
    copy["data"] = dict(event["data"])
    return copy


def generate_events(config: SimulationConfig,
                    stats: SimulationStats | None = None) -> Iterator[dict[str, Any]]:
    """Valid v1 events as dicts (docs/contract.md), in business-time order unless shuffled.

    With ``config.duplicates`` some events are re-emitted (an equal copy, same ``id``) a few
    events later; with ``config.shuffle`` the arrival order is shuffled (the whole stream,
    or within a sliding window of ``config.shuffle_window`` events). The duplicate and
    shuffle draws use their own random streams: the set of events does not depend on them.
    """
    stats = stats if stats is not None else SimulationStats()
    generator = DossierGenerator(config, stats)
    if config.families:
        generator.families = FamilyGenerator(generator)
    stream: Iterator[dict[str, Any]] = generator.run()
    if config.duplicates > 0:
        stream = _with_duplicates(stream, config.duplicates,
                                  random.Random(f"dup:{config.seed}"), stats)
    if config.shuffle:
        stream = _shuffled(stream, config.shuffle_window, random.Random(f"shuf:{config.seed}"))
    return stream


def _with_duplicates(stream: Iterator[dict[str, Any]], fraction: float, rng: random.Random,
                     stats: SimulationStats) -> Iterator[dict[str, Any]]:
    pending: list[tuple[int, int, dict[str, Any]]] = []
    i = 0
    for event in stream:
        yield event
        i += 1
        if rng.random() < fraction:
            heapq.heappush(pending, (i + rng.randrange(20), i, _copy_event(event)))
        while pending and pending[0][0] <= i:
            stats.duplicates += 1
            yield heapq.heappop(pending)[2]
    while pending:
        stats.duplicates += 1
        yield heapq.heappop(pending)[2]


def _shuffled(stream: Iterator[dict[str, Any]], window: int | None,
              rng: random.Random) -> Iterator[dict[str, Any]]:
    if not window:
        items = list(stream)
        rng.shuffle(items)
        yield from items
        return
    buf: list[dict[str, Any]] = []
    for event in stream:
        if len(buf) < window:
            buf.append(event)
            continue
        j = rng.randrange(window)
        yield buf[j]
        buf[j] = event
    rng.shuffle(buf)
    yield from buf


def _invalid_line(kind: str, event: dict[str, Any], n: int) -> bytes:
    bad: dict[str, Any] = _copy_event(event)
    bad["id"] = f"{event['id']}.bad{n}"
    if kind == "bad_json":
        text = orjson.dumps(bad)
        return text[: max(1, len(text) // 2)]
    if kind == "missing_subject":
        del bad["subject"]
    elif kind == "naive_timestamp":
        bad["time"] = bad["time"][:19]
    elif kind == "unknown_type":
        bad["type"] = TYPE_PREFIX + "dossier.teleported"
    elif kind == "bad_enum":
        if bad["type"] == _T_RECEIVED:
            bad["data"]["channel"] = "fax"
        elif bad["type"] == _T_RATED:
            bad["data"]["rating"] = "meh"
        else:
            bad["type"] = _T_PAYMENT
            bad["data"] = {"amount_vnd": 10000, "method": "bitcoin"}
    elif kind == "negative_amount":
        bad["type"] = _T_PAYMENT
        bad["data"] = {"amount_vnd": -50000, "method": "cash"}
    else:
        raise ValueError(f"unknown invalid kind {kind!r}")
    return orjson.dumps(bad)


def generate_lines(config: SimulationConfig,
                   stats: SimulationStats | None = None) -> Iterator[bytes]:
    """The events of :func:`generate_events` as JSON documents (UTF-8, no newline).

    With ``config.invalid`` an invalid line follows a valid one with that probability;
    the kinds (:data:`INVALID_KINDS`) rotate, so each is represented. Invalid lines carry
    their own ``id`` (``<id>.badN``) and never collide with a valid event.
    """
    stats = stats if stats is not None else SimulationStats()
    dumps = orjson.dumps
    events = generate_events(config, stats)
    if config.invalid <= 0:
        for event in events:
            yield dumps(event)
        return
    rng = random.Random(f"bad:{config.seed}")
    n = 0
    for event in events:
        yield dumps(event)
        if rng.random() < config.invalid:
            kind = INVALID_KINDS[n % len(INVALID_KINDS)]
            n += 1
            stats.invalid[kind] += 1
            yield _invalid_line(kind, event, n)


def write_jsonl(path: str | Path, lines: Iterable[bytes]) -> int:
    """Write lines to a JSON Lines file (one document a line); returns the count."""
    n = 0
    with open(path, "wb", buffering=1 << 20) as fh:
        write = fh.write
        for line in lines:
            write(line)
            write(b"\n")
            n += 1
    return n


__all__ = [
    "INVALID_KINDS",
    "generate_events",
    "generate_lines",
    "write_jsonl",
]
