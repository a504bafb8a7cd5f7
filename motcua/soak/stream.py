"""The soak run's input: simulated events written to a JSONL file before the clock starts."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from pathlib import Path

from kpi.simulate import SimulationConfig, generate_lines

CHUNK_LINES = 50_000
"""About this many lines per simulated chunk (each with its own seed and code prefix)."""


def write_stream(path: Path, lines: int, seed: int, today: date) -> int:
    """Write at least ``lines`` simulated lines (chunks of :data:`CHUNK_LINES`) to ``path``;
    run in a child process so the simulator's memory is not counted in this one's RSS."""
    start, end = today - timedelta(days=60), today - timedelta(days=1)
    scale = CHUNK_LINES / 22_500  # ≈ lines per unit of scale over 60 days
    n = 0
    with path.open("wb", buffering=1 << 20) as fh:
        chunk = 0
        while n < lines:
            config = SimulationConfig(seed=seed + chunk, start=start, end=end, scale=scale,
                                      shuffle=True, duplicates=0.03, invalid=0.01,
                                      code_prefix=f"SK{seed}C{chunk}")
            for line in generate_lines(config):
                fh.write(line)
                fh.write(b"\n")
                n += 1
                if n >= lines:
                    break
            chunk += 1
    return n


def generate_in_child(path: Path, lines: int, seed: int, today: date) -> int:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(write_stream, path, lines, seed, today).result()

