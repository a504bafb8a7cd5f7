"""Watching the running stack: RSS and CPU per process, consumer lag, one line per sample."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from motcua.soak.figures import Sample, percentile
from motcua.soak.markers import Markers
from runtime.kafka import admin, group_lag, reader
from runtime.settings import Settings
from runtime.topics import pipeline_group, sink_group


def rss_kb(pid: int | None) -> int | None:
    """VmRSS of a process in kB (``None`` if it is gone)."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process so far."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def broker_pid(bootstrap: str) -> int | None:
    """The embedded broker: this process's child listening on ``bootstrap``."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
            if ppid != me:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if f"tcp://{bootstrap}".encode() in fh.read():
                    return int(entry)
        except (OSError, ValueError, IndexError):
            continue
    return None


class Monitor:
    """Samples RSS, CPU and consumer lag every ``every`` seconds and prints a line."""

    def __init__(self, settings: Settings, bootstrap: str, pids: dict[str, int | None],
                 markers: Markers, echo: Callable[[str], None], every: float) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.pids = pids
        self.markers = markers
        self.echo = echo
        self.every = every
        self.samples: list[Sample] = []
        self.produced = 0
        self.phase = "producing"
        self.started = time.monotonic()
        self._cpu: dict[str, float | None] = {}
        self._cpu_at = time.monotonic()
        self._reported: set[int] = set()
        self._clients: tuple[Any, Any] | None = None

    def _lag(self) -> tuple[dict[str, int], dict[str, int]]:
        if self._clients is None:
            self._clients = (
                reader(self.settings, self.bootstrap, "motcua-soak-lag"),
                admin(self.settings, self.bootstrap),
            )
        consumer, admin_client = self._clients
        t = self.settings.topics
        pipeline = group_lag(self.settings, self.bootstrap, pipeline_group(self.settings),
                             [t.events, t.links, t.contributions], consumer=consumer,
                             admin_client=admin_client)
        sink = group_lag(self.settings, self.bootstrap, sink_group(self.settings),
                         [t.events, t.dlq, t.kpi], consumer=consumer, admin_client=admin_client)
        return pipeline, sink

    def sample(self) -> Sample:
        now = time.monotonic()
        cpu: dict[str, float | None] = {}
        pct: dict[str, float | None] = {}
        for name, pid in self.pids.items():
            used = cpu[name] = cpu_seconds(pid)
            before = self._cpu.get(name)
            pct[name] = (None if used is None or before is None or now <= self._cpu_at
                         else 100 * (used - before) / (now - self._cpu_at))
        self._cpu, self._cpu_at = cpu, now
        try:
            pipeline, sink = self._lag()
        except Exception as exc:  # a slow broker must not end the run; say so
            self.echo(f"[soak] lag probe failed: {type(exc).__name__}: {exc}")
            pipeline, sink = {}, {}
        with open("/proc/loadavg") as fh:
            load = float(fh.read().split()[0])
        s = Sample(round(now - self.started, 1), self.phase, self.produced,
                   {n: rss_kb(p) for n, p in self.pids.items()}, pct, pipeline, sink, load)
        self.samples.append(s)
        self.echo(self._line(s))
        return s

    def _line(self, s: Sample) -> str:
        def mb(v: int | None) -> str:
            return "?" if v is None else f"{v / 1024:.0f}"

        def pc(v: float | None) -> str:
            return "?" if v is None else f"{v:.0f}"

        snap: list[float] = []
        gauge: list[float] = []
        for m in self.markers.measured():  # markers seen at both stages since the last line
            if m.n not in self._reported and m.snapshot is not None and m.gauge is not None:
                self._reported.add(m.n)
                snap.append(m.snapshot - m.produced)
                gauge.append(m.gauge - m.produced)
        p50s, p50g = percentile(snap, 50), percentile(gauge, 50)
        names = list(self.pids)
        return (
            f"[soak] {s.elapsed:7.1f}s {s.phase:9} produced {s.produced:>9,} | RSS MB "
            + " ".join(f"{n} {mb(s.rss_kb[n])}" for n in names)
            + " | CPU% " + "/".join(pc(s.cpu_pct[n]) for n in names)
            + f" | lag pipeline {sum(s.lag_pipeline.values()):,} "
            f"{_short_lag(s.lag_pipeline, self.settings)} sink {sum(s.lag_sink.values()):,} "
            f"{_short_lag(s.lag_sink, self.settings)}"
            + " | fresh p50 snap "
            + ("—" if p50s is None else f"{p50s:.2f}s")
            + " gauge " + ("—" if p50g is None else f"{p50g:.2f}s")
            + f" | load {s.load:.1f}"
        )

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.every):
            self.sample()

    def close(self) -> None:
        if self._clients is not None:
            for client in self._clients:
                try:
                    client.close()
                except Exception:  # pragma: no cover
                    pass


def _short_lag(lag: dict[str, int], settings: Settings) -> str:
    t = settings.topics
    names = {t.events: "ev", t.contributions: "contrib", t.dlq: "dlq", t.kpi: "kpi",
             t.links: "links"}
    return "(" + " ".join(f"{names.get(k, k)} {v:,}" for k, v in lag.items()) + ")"

