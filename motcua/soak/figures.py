"""The soak run's options and figures: what a run is asked to do and what it measured."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SoakOptions:
    seconds: float = 600.0
    """How long to produce (the measured phase)."""
    rate: float = 1000.0
    """Events per second."""
    report_every: float = 5.0
    marker_every: float = 0.5
    marker_units: int = 20
    scrape_every: float = 0.1
    db_url: str | None = None
    """SQL store of the sink (default: a SQLite file in the work directory)."""
    seed: int = 2026
    warmup_timeout: float = 120.0
    idle_timeout: float = 300.0
    partitions: int | None = None
    """Partitions of the run's topics (default: the settings' ``topic_partitions``)."""


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (``None`` for no values)."""
    if not values:
        return None
    xs = sorted(values)
    return xs[max(0, math.ceil(p / 100 * len(xs)) - 1)]


@dataclass
class Sample:
    elapsed: float
    phase: str
    produced: int
    rss_kb: dict[str, int | None]
    cpu_pct: dict[str, float | None]
    lag_pipeline: dict[str, int]
    lag_sink: dict[str, int]
    load: float


@dataclass
class SoakResult:
    options: SoakOptions
    workdir: Path
    produced: int = 0
    """Records sent during the measured phase (file lines and markers)."""
    produce_seconds: float = 0.0
    lines_total: int = 0
    """Lines of ``produced.jsonl`` (warm-up and measured phase)."""
    valid: int = 0
    invalid: int = 0
    distinct_events: int = 0
    tokens_lost: float = 0.0
    """Send slots lost to stalls longer than the bucket (one second)."""
    samples: list[Sample] = field(default_factory=list)
    fresh_snapshot: list[float] = field(default_factory=list)
    fresh_gauge: list[float] = field(default_factory=list)
    markers: int = 0
    markers_skipped: int = 0
    """Marker slots with no free unit (every unit still waiting for its last marker)."""
    idle_seconds: float | None = None
    """From the last send to the pipeline being idle."""
    snapshots: int = 0
    scrape_ms: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.produced / self.produce_seconds if self.produce_seconds else 0.0

    def rss_span(self) -> dict[str, tuple[int | None, int | None, int | None]]:
        """process → (first, last, max) VmRSS in kB over the samples."""
        out: dict[str, tuple[int | None, int | None, int | None]] = {}
        for name in ("broker", "worker", "host"):
            seen = [s.rss_kb.get(name) for s in self.samples]
            known = [v for v in seen if v is not None]
            out[name] = ((known[0], known[-1], max(known)) if known else (None, None, None))
        return out

    def max_lag(self) -> dict[str, int]:
        return {
            "pipeline": max((sum(s.lag_pipeline.values()) for s in self.samples), default=0),
            "sink": max((sum(s.lag_sink.values()) for s in self.samples), default=0),
        }

    def summary(self) -> list[str]:
        def secs(v: float | None) -> str:
            return "—" if v is None else f"{v:.2f} s"

        def mb(v: int | None) -> str:
            return "?" if v is None else f"{v / 1024:.0f}"

        lines = [
            f"produced {self.produced:,} records in {self.produce_seconds:.1f} s = "
            f"{self.rate:,.1f}/s (target {self.options.rate:,.0f}/s; slots lost to stalls "
            f"{self.tokens_lost:,.0f}); produced.jsonl {self.lines_total:,} lines: "
            f"{self.valid:,} valid ({self.distinct_events:,} distinct events), "
            f"{self.invalid:,} invalid",
            f"freshness over {len(self.fresh_snapshot)} markers: produced → snapshot p50 "
            f"{secs(percentile(self.fresh_snapshot, 50))} p99 "
            f"{secs(percentile(self.fresh_snapshot, 99))} max "
            f"{secs(max(self.fresh_snapshot, default=None))}; produced → /metrics gauge p50 "
            f"{secs(percentile(self.fresh_gauge, 50))} p99 "
            f"{secs(percentile(self.fresh_gauge, 99))} max "
            f"{secs(max(self.fresh_gauge, default=None))} (scrape every "
            f"{self.options.scrape_every:g} s, median scrape "
            f"{percentile(self.scrape_ms, 50) or 0:.1f} ms); marker slots skipped "
            f"{self.markers_skipped}",
            "RSS MB first → last (max): " + ", ".join(
                f"{name} {mb(a)} → {mb(b)} ({mb(c)})"
                for name, (a, b, c) in self.rss_span().items()),
            f"max lag: pipeline group {self.max_lag()['pipeline']:,}, sink group "
            f"{self.max_lag()['sink']:,}; idle {secs(self.idle_seconds)} after the last send; "
            f"{self.snapshots:,} KPI snapshots (report buckets, own and total)",
        ]
        if self.problems:
            lines.append(f"{len(self.problems)} PROBLEM(S):")
            lines.extend(f"  - {p}" for p in self.problems)
        else:
            lines.append("no loss, no duplication: live snapshots, SQL store, events and DLQ "
                         "all equal the batch report of produced.jsonl")
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "rate_target": self.options.rate,
            "rate": round(self.rate, 1),
            "produced": self.produced,
            "produce_seconds": round(self.produce_seconds, 1),
            "tokens_lost": round(self.tokens_lost),
            "lines": self.lines_total,
            "valid": self.valid,
            "invalid": self.invalid,
            "markers": len(self.fresh_snapshot),
            "fresh_snapshot_p50": percentile(self.fresh_snapshot, 50),
            "fresh_snapshot_p99": percentile(self.fresh_snapshot, 99),
            "fresh_gauge_p50": percentile(self.fresh_gauge, 50),
            "fresh_gauge_p99": percentile(self.fresh_gauge, 99),
            "rss_kb": {k: list(v) for k, v in self.rss_span().items()},
            "max_lag": self.max_lag(),
            "idle_seconds": self.idle_seconds,
            "samples": [s.__dict__ for s in self.samples],
            "problems": self.problems,
        }


