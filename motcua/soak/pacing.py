"""Pacing: a token bucket that sends ``rate`` events per second for ``seconds``, with a
freshness marker every ``marker_every`` seconds (see :mod:`motcua.soak`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO

from kpi.periods import period_keys
from motcua.soak.figures import SoakOptions, SoakResult
from motcua.soak.markers import Markers, marker_line
from motcua.soak.monitor import Monitor


def produce(options: SoakOptions, markers: Markers, monitor: Monitor, source: IO[bytes],
            send: Callable[[bytes], None], result: SoakResult) -> int:
    """Send lines of ``source`` (and markers) at ``options.rate`` for ``options.seconds``;
    returns the number of sends. Tokens lost to stalls longer than a second go to
    ``result.tokens_lost``, the time taken to ``result.produce_seconds``."""
    rate, capacity = options.rate, options.rate  # one second of burst
    start = time.monotonic()
    end = start + options.seconds
    tokens, last = 0.0, start
    next_marker = start + options.marker_every
    sent = 0
    while True:
        now = time.monotonic()
        if now >= end:
            break
        tokens += (now - last) * rate
        last = now
        if tokens > capacity:
            result.tokens_lost += tokens - capacity
            tokens = capacity
        while tokens >= 1:
            if now >= next_marker:
                next_marker += options.marker_every
                unit = markers.free_unit()
                if unit is None:
                    result.markers_skipped += 1
                else:
                    wall = time.time()
                    m = markers.add(unit, period_keys(wall)[0], wall)
                    send(marker_line(m.n, unit, wall))
                    tokens -= 1
                    sent += 1
                    continue
            line = source.readline()
            if not line:
                raise RuntimeError("the simulated stream ran out (generate more lines)")
            send(line.rstrip(b"\n"))
            tokens -= 1
            sent += 1
        monitor.produced = sent
        time.sleep(max(0.002, (1 - tokens) / rate))
    result.produce_seconds = time.monotonic() - start
    monitor.produced = sent
    return sent

