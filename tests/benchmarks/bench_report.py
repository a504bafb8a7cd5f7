"""Benchmark of the batch report path (``motcua report --events``) on ≥ 1,000,000 events.

    python -m tests.benchmarks.bench_report [--events N] [--file PATH]

Generates a simulator file once (cached under ``.bench/``), then times one batch pass:
parse + validate + fold every line, then aggregate every dossier's contribution. Prints
events/s by wall clock and by this process's CPU time (the figure on one core).
Target (issue 3): ≥ 150,000 events/s on one core of the 2-core machine.

Then the baseline of issue 24 (goal 3), in the same run: the same file read and parsed
with orjson, nothing else (best of three, CPU time), and the ratio of the batch report's
events per CPU second to it (goal ≥ 0.25). The DuckDB figure the issue cites is not
reproduced here: DuckDB is not a dependency of the project.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import orjson

from kpi.batch import aggregate, fold_file
from kpi.simulate import SimulationConfig, generate_lines, write_jsonl
from kpi.units import CalendarBook

EVENTS_PER_SCALE = 133_000  # events of one simulated Tân Hồng year at scale 1 (measured)


def ensure_file(path: Path, events: int) -> int:
    if not path.exists():
        scale = max(events / EVENTS_PER_SCALE, 0.01) * 1.02
        config = SimulationConfig(scale=scale, shuffle=True, duplicates=0.01, invalid=0.001)
        print(f"generating {path} (scale {scale:.2f}) …", flush=True)
        write_jsonl(path, generate_lines(config))
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--file", type=Path, default=None)
    args = parser.parse_args()
    path = args.file or Path(".bench") / f"events-{args.events}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ensure_file(path, args.events)

    wall0, cpu0 = time.perf_counter(), time.process_time()
    batch = fold_file(path)
    wall1, cpu1 = time.perf_counter(), time.process_time()
    agg = aggregate(batch.states(), time.time(), CalendarBook())
    wall2, cpu2 = time.perf_counter(), time.process_time()

    print(f"file: {path} — {lines:,} lines, {batch.valid:,} valid, {batch.invalid:,} invalid, "
          f"{len(batch.facts):,} dossiers, {len(agg.counters):,} (unit, period) rows")
    print(f"fold:      {wall1 - wall0:6.2f} s wall, {cpu1 - cpu0:6.2f} s cpu")
    print(f"aggregate: {wall2 - wall1:6.2f} s wall, {cpu2 - cpu1:6.2f} s cpu")
    print(f"batch report: {lines / (wall2 - wall0):,.0f} events/s wall, "
          f"{lines / (cpu2 - cpu0):,.0f} events/s per CPU second (target ≥ 150,000)")
    parse = min(parse_only(path) for _ in range(3))
    print(f"orjson parse-only: {lines / parse:,.0f} lines per CPU second (best of 3); "
          f"batch report / parse-only = {parse / (cpu2 - cpu0):.3f} (issue 24: ≥ 0.25)")


def parse_only(path: Path) -> float:
    """CPU seconds to read ``path`` and parse every line with orjson, nothing else."""
    cpu0 = time.process_time()
    with path.open("rb") as fh:
        for line in fh:
            try:
                orjson.loads(line)
            except orjson.JSONDecodeError:
                pass
    return time.process_time() - cpu0


if __name__ == "__main__":
    main()
