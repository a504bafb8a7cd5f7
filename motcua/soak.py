"""Soak run: a sustained, paced event stream through the whole embedded stack.

One run starts its own embedded broker, the stream worker (``python -m streams.run``, a
child process), the SQL sink and the ``/metrics`` endpoint (threads of this process, as in
``motcua demo``), then produces simulated events at a steady rate for a fixed time while it
watches the stack, and finally checks that nothing was lost, duplicated or miscounted.

**Events.** Before the clock starts, a child process writes the stream to a JSONL file:
chunks of :func:`kpi.simulate.generate_lines` (Tân Hồng units, receipts on the last 60
days up to yesterday, shuffled, 3% duplicates, 1% invalid lines), each chunk with its own
seed and dossier-code prefix. The producer reads it back line by line; every line it sends
(plus the marker events below) is appended to ``produced.jsonl``, the exact input of the
final comparison. Valid and invalid lines go to the events topic (key = the subject when it
can be read), where the worker dead-letters the invalid ones.

**Pacing.** A token bucket: tokens accrue at ``rate`` per second of monotonic time, up to
one second's worth; each send spends one. The producer sleeps only while the bucket holds
less than one token, so sleep overshoot is paid back on the next wake-up instead of
accumulating (no per-event sleep drift). A stall longer than a second loses tokens, and the
achieved rate (sent / elapsed) shows it.

**Freshness.** Every ``marker_every`` seconds one event of the stream is a *marker*: a
``dossier.received`` timed *now* for one of ``marker_units`` dedicated units
(``SOAK.F00``…), taken round-robin; a unit gets its next marker only after its previous one
was seen at both stages, so its month's ``received`` count reaching *n* means exactly that
its *n*-th marker was counted. For each marker:

* *produced* = wall clock just before ``KafkaProducer.send`` (handed to the client, which
  still lingers ≤ 5 ms before the request);
* *snapshot* = the CreateTime timestamp of the first record on the kpi topic for
  (unit, current month) whose ``counts.received`` ≥ *n* — stamped by the worker's producer
  when it published the snapshot; a consumer in this process tails the topic to find it;
* *gauge* = wall clock when a scrape of ``/metrics`` (HTTP, every ``scrape_every`` s) first
  shows ``motcua_kpi_count{unit=…,period=<month>,kpi="received"}`` ≥ *n*: the sum of the
  worker's work, the metrics feed's consumption of the kpi topic and the scrape interval
  (so it is measured to within ``scrape_every``).

Freshness = snapshot − produced and gauge − produced (one host, one clock); the warm-up
marker sent before the clock starts is not counted.

**Watching.** Every ``report_every`` seconds a line: elapsed time, events produced, VmRSS
(``/proc/PID/status``) and CPU share of the broker, the worker and this process (which hosts
the sink, the metrics endpoint, the producer and the watchers), the lag of the pipeline's
group (events + contributions; what :func:`streams.idle.group_lag` reports) and of the
sink's group (events + DLQ + kpi), and the freshness medians of the markers seen since the
previous line.

**Checks** (each failure is a line in :attr:`SoakResult.problems`): after the producer
stops, the pipeline becomes idle (:func:`streams.idle.wait_until_idle`) and the sink's lag
reaches 0; then the latest snapshot of every (unit, period) equals the batch report
(:mod:`kpi.batch`) of ``produced.jsonl`` and so does every report the sink stored in SQL
(no loss, no duplication, no miscount), the store holds exactly the distinct valid events,
the DLQ exactly one dead letter per invalid line, every marker reached both stages, the
producer saw no send error and the worker is still running.

``motcua soak --minutes 10`` runs it from the command line; the tests
(``tests/integration/test_soak.py``) run a 60-second form in ``make test`` and a long one
in ``make soak``.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

from runtime.settings import Settings

MARKER_PREFIX = "SOAK.F"
MARKER_SOURCE = "urn:motcua:soak"
CHUNK_LINES = 50_000
"""About this many lines per simulated chunk (each with its own seed and code prefix)."""


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


# --------------------------------------------------------------------------- figures


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
            f"{self.snapshots:,} (unit, period) snapshots",
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


# --------------------------------------------------------------------------- comparison


def expected_reports(path: Path, horizon: float) -> tuple[Any, dict[tuple[str, str], Any]]:
    """The batch input of ``path`` and its report per (unit, period) at ``horizon``."""
    from kpi.batch import fold_file

    batch = fold_file(path)
    return batch, reports_at(batch, horizon)


def reports_at(batch: Any, horizon: float) -> dict[tuple[str, str], dict[str, Any]]:
    from kpi.batch import aggregate
    from kpi.report import build_report
    from kpi.units import CalendarBook

    agg = aggregate(batch.states(), horizon, CalendarBook())
    return {b: build_report(b[0], b[1], c, horizon) for b, c in agg.counters.items()}


def differences(got_reports: dict[tuple[str, str], dict[str, Any]],
                want: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """(unit, period) whose counts or ratios differ (a copy of the streaming tests' rule: a
    bucket may be absent from ``want`` only if all its counts are 0)."""
    out = []
    for bucket, report in want.items():
        got = got_reports.get(bucket)
        if got is None:
            out.append(f"{bucket}: no snapshot")
        elif got["counts"] != report["counts"] or got["ratios"] != report["ratios"]:
            diff = {k: (got["counts"].get(k), v) for k, v in report["counts"].items()
                    if got["counts"].get(k) != v}
            out.append(f"{bucket}: {diff or 'ratios differ'} (got, want)")
    for bucket, got in got_reports.items():
        if bucket not in want and any(got["counts"].values()):
            out.append(f"{bucket}: unexpected non-zero snapshot {got['counts']}")
    return out


# --------------------------------------------------------------------------- events


def write_stream(path: Path, lines: int, seed: int, today: date) -> int:
    """Write at least ``lines`` simulated lines (chunks of :data:`CHUNK_LINES`) to ``path``;
    run in a child process so the simulator's memory is not counted in this one's RSS."""
    from kpi.simulate import SimulationConfig, generate_lines

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


def _generate_in_child(path: Path, lines: int, seed: int, today: date) -> int:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(write_stream, path, lines, seed, today).result()


def marker_line(n: int, unit: str, now: float) -> bytes:
    from kpi.simulate import format_time

    return orjson.dumps({
        "specversion": "1.0", "id": f"soak-marker-{n}", "source": MARKER_SOURCE,
        "type": "vn.gov.motcua.dossier.received", "time": format_time(now),
        "subject": f"SOAK-MARKER-{n:06d}",
        "data": {"unit_code": unit, "unit_level": "commune", "procedure_code": "SOAK.P1",
                 "channel": "online", "online_level": "full", "processing_days": 5},
    })


# --------------------------------------------------------------------------- markers


@dataclass
class Marker:
    n: int
    unit: str
    nth: int
    """The marker's rank on its unit: seen when the unit's ``received`` reaches it."""
    month: str
    produced: float
    warmup: bool = False
    snapshot: float | None = None
    gauge: float | None = None


class Markers:
    """Markers in flight and their sightings (thread-safe)."""

    def __init__(self, units: int) -> None:
        self.units = [f"{MARKER_PREFIX}{i:02d}" for i in range(units)]
        self._lock = threading.Lock()
        self._next = 0
        self.all: list[Marker] = []
        self._by_unit: dict[str, list[Marker]] = {u: [] for u in self.units}

    def free_unit(self) -> str | None:
        """The next unit (round-robin) whose markers were all seen at both stages."""
        with self._lock:
            for i in range(len(self.units)):
                unit = self.units[(self._next + i) % len(self.units)]
                if all(m.gauge is not None and m.snapshot is not None
                       for m in self._by_unit[unit]):
                    self._next = (self._next + i + 1) % len(self.units)
                    return unit
        return None

    def add(self, unit: str, month: str, produced: float, warmup: bool = False) -> Marker:
        with self._lock:
            m = Marker(len(self.all) + 1, unit, len(self._by_unit[unit]) + 1, month, produced,
                       warmup)
            self.all.append(m)
            self._by_unit[unit].append(m)
            return m

    def saw(self, stage: str, unit: str, month: str, received: int, at: float) -> None:
        with self._lock:
            for m in self._by_unit.get(unit, ()):
                if m.month == month and m.nth <= received and getattr(m, stage) is None:
                    setattr(m, stage, at)

    def pending(self) -> list[Marker]:
        with self._lock:
            return [m for m in self.all if m.snapshot is None or m.gauge is None]

    def measured(self) -> list[Marker]:
        with self._lock:
            return [m for m in self.all if not m.warmup]


def watch_snapshots(settings: Settings, bootstrap: str, markers: Markers,
                    stop: threading.Event) -> None:
    """Tail the kpi topic; note when a marker unit's month snapshot first counts a marker
    (the record's CreateTime, set by the worker's producer)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             client_id="motcua-soak-kpi", fetch_max_wait_ms=100,
                             **settings.kafka_client_options())
    prefix = MARKER_PREFIX.encode()
    try:
        topic = settings.topics.kpi
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic)
                                                        or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        while not stop.is_set():
            for recs in consumer.poll(timeout_ms=100).values():
                for rec in recs:
                    if rec.value is None or not (rec.key or b"").startswith(prefix):
                        continue
                    report = orjson.loads(rec.value)
                    markers.saw("snapshot", report["unit"], report["period"],
                                int(report["counts"].get("received", 0)),
                                rec.timestamp / 1000.0)
    finally:
        consumer.close()


_GAUGE = re.compile(
    rb'^motcua_kpi_count\{unit="(' + re.escape(MARKER_PREFIX.encode()) +
    rb'[^"]*)",level="[^"]*",period="([^"]+)",kpi="received"\} (\S+)$', re.M)


def scrape_gauges(url: str, markers: Markers, every: float, took_ms: list[float],
                  errors: list[str], stop: threading.Event) -> None:
    """Scrape ``/metrics`` every ``every`` seconds; note when a marker unit's month gauge
    first counts a marker (the wall clock when the scrape's answer was read)."""
    while not stop.is_set():
        started = time.time()
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                body = answer.read()
        except OSError as exc:
            errors.append(f"{time.strftime('%H:%M:%S')} {exc}")
            stop.wait(every)
            continue
        done = time.time()
        took_ms.append((done - started) * 1000)
        for unit, period, value in _GAUGE.findall(body):
            markers.saw("gauge", unit.decode(), period.decode(), int(float(value)), done)
        stop.wait(max(0.0, every - (time.time() - started)))


# --------------------------------------------------------------------------- processes


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
        from kafka import KafkaConsumer

        from runtime.kafka import admin, group_lag
        from runtime.topics import pipeline_group, sink_group

        if self._clients is None:
            self._clients = (
                KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                              client_id="motcua-soak-lag",
                              **self.settings.kafka_client_options()),
                admin(self.settings, self.bootstrap),
            )
        consumer, admin_client = self._clients
        t = self.settings.topics
        pipeline = group_lag(self.settings, self.bootstrap, pipeline_group(self.settings),
                             [t.events, t.contributions], consumer=consumer,
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
    names = {t.events: "ev", t.contributions: "contrib", t.dlq: "dlq", t.kpi: "kpi"}
    return "(" + " ".join(f"{names.get(k, k)} {v:,}" for k, v in lag.items()) + ")"


@contextmanager
def _thread(target: Callable[..., None], *args: Any, name: str) -> Iterator[threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=target, args=(*args, stop), name=name, daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=15)


# --------------------------------------------------------------------------- the run


def run_soak(options: SoakOptions, workdir: Path,
             echo: Callable[[str], None] = print) -> SoakResult:
    """Start the embedded stack, produce for ``options.seconds``, check, stop; the result's
    ``problems`` lists every loss, duplication or mismatch found (empty: a clean run)."""
    from rich.console import Console

    from kpi.calendar import local_date
    from motcua.demo import services, worker_process
    from runtime.broker import embedded_broker, free_port
    from runtime.settings import load_settings
    from runtime.topics import declared_topics, ensure_topics

    workdir.mkdir(parents=True, exist_ok=True)
    result = SoakResult(options, workdir)
    stream_file = workdir / "stream.jsonl"
    produced_file = workdir / "produced.jsonl"
    need = math.ceil(options.rate * options.seconds) + 1000
    started = time.monotonic()
    written = _generate_in_child(stream_file, need, options.seed, local_date(time.time()))
    echo(f"[soak] simulated {written:,} lines → {stream_file} "
         f"({time.monotonic() - started:.1f} s, in a child process)")
    db_url = options.db_url or f"sqlite:///{workdir / 'soak.db'}"
    with embedded_broker() as bootstrap:
        overrides: dict[str, object] = {
            "kafka_bootstrap": bootstrap, "database_url": db_url,
            "metrics_port": free_port(), "data_dir": workdir,
            "consumer_group_prefix": "soak",
        }
        if options.partitions:
            overrides["topic_partitions"] = options.partitions
        settings = load_settings(**overrides)
        ensure_topics(bootstrap, declared_topics(settings), settings)
        pids: dict[str, int | None] = {"broker": broker_pid(bootstrap)}
        echo(f"[soak] broker {bootstrap} (pid {pids['broker']}), "
             f"{settings.topic_partitions} partitions; SQL {settings.database_url_shown()}; "
             f"/metrics on port {settings.metrics_port}; worker log {workdir / 'worker.log'}")
        with worker_process(settings, bootstrap, workdir / "worker.log") as worker, \
                services(settings, bootstrap, Console(quiet=True)):
            pids["worker"] = worker.pid
            pids["host"] = os.getpid()
            _run_stack(settings, bootstrap, options, result, pids, stream_file,
                       produced_file, echo)
            if worker.poll() is not None:
                result.problems.append(f"the worker exited ({worker.returncode}); see "
                                       f"{workdir / 'worker.log'}")
            if result.problems:
                return result
            _check(settings, bootstrap, db_url, produced_file, result, echo)
    return result


def _run_stack(settings: Settings, bootstrap: str, options: SoakOptions, result: SoakResult,
               pids: dict[str, int | None], stream_file: Path, produced_file: Path,
               echo: Callable[[str], None]) -> None:
    from runtime.kafka import producer

    markers = Markers(options.marker_units)
    url = f"http://127.0.0.1:{settings.metrics_port}/metrics"
    scrape_errors: list[str] = []
    prod = producer(settings, bootstrap)
    send_errors: list[str] = []
    monitor = Monitor(settings, bootstrap, pids, markers, echo, options.report_every)
    with _thread(watch_snapshots, settings, bootstrap, markers, name="soak-kpi-watch"), \
            _thread(scrape_gauges, url, markers, options.scrape_every, result.scrape_ms,
                    scrape_errors, name="soak-scrape"), \
            produced_file.open("wb", buffering=1 << 20) as out, \
            stream_file.open("rb") as source:

        def send(line: bytes) -> None:
            from runtime.dlq import recover_subject

            subject = recover_subject(line)
            future = prod.send(settings.topics.events, line,
                               key=subject.encode() if subject else None)
            future.add_errback(lambda exc: send_errors.append(repr(exc)))
            out.write(line)
            out.write(b"\n")

        # warm-up: one marker through worker, kpi topic, metrics feed and scrape
        from kpi.periods import period_keys

        now = time.time()
        warm = markers.add(markers.units[0], period_keys(now)[0], now, warmup=True)
        send(marker_line(warm.n, warm.unit, now))
        prod.flush()
        deadline = time.monotonic() + options.warmup_timeout
        while markers.pending() and time.monotonic() < deadline:
            time.sleep(0.05)
        if markers.pending():
            result.problems.append(
                f"warm-up marker not seen within {options.warmup_timeout:.0f} s (snapshot "
                f"{warm.snapshot}, gauge {warm.gauge}; scrape errors {scrape_errors[-3:]})")
            prod.close()
            return
        assert warm.snapshot is not None and warm.gauge is not None
        echo(f"[soak] warm-up marker seen after {warm.snapshot - warm.produced:.2f} s "
             f"(snapshot) / {warm.gauge - warm.produced:.2f} s (gauge); producing "
             f"{options.rate:,.0f}/s for {options.seconds:.0f} s")

        monitor.started = time.monotonic()
        monitor.sample()
        with _thread(monitor.run, name="soak-monitor"):
            sent = _produce(options, markers, monitor, source, send, result)
            prod.flush()
            result.produced = sent
            monitor.phase = "draining"
            last_send = time.monotonic()
            echo(f"[soak] produced {sent:,} in {result.produce_seconds:.1f} s "
                 f"({result.rate:,.1f}/s); waiting for the pipeline and the sink")
            _drain(settings, bootstrap, options, markers, result, last_send)
        monitor.sample()
        monitor.close()
    prod.close()
    if send_errors:
        result.problems.append(f"{len(send_errors)} send(s) failed: {send_errors[:3]}")
    if scrape_errors:
        echo(f"[soak] {len(scrape_errors)} scrape(s) failed, last: {scrape_errors[-1]}")
    result.samples = monitor.samples
    result.markers = len(markers.measured())
    never = [m for m in markers.all if m.snapshot is None or m.gauge is None]
    if never:
        result.problems.append(
            f"{len(never)} marker(s) never seen at both stages, e.g. "
            f"{[(m.unit, m.nth, m.snapshot, m.gauge) for m in never[:3]]}")
    for m in markers.measured():
        if m.snapshot is not None:
            result.fresh_snapshot.append(m.snapshot - m.produced)
        if m.gauge is not None:
            result.fresh_gauge.append(m.gauge - m.produced)


def _produce(options: SoakOptions, markers: Markers, monitor: Monitor, source: Any,
             send: Callable[[bytes], None], result: SoakResult) -> int:
    """Token-bucket pacing at ``options.rate`` for ``options.seconds``; returns sends."""
    from kpi.periods import period_keys

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


def _drain(settings: Settings, bootstrap: str, options: SoakOptions, markers: Markers,
           result: SoakResult, last_send: float) -> None:
    from runtime.kafka import group_lag
    from runtime.topics import sink_group
    from streams.idle import NotIdle, wait_until_idle

    try:
        snapshots = wait_until_idle(settings, bootstrap, timeout=options.idle_timeout)
        result.idle_seconds = time.monotonic() - last_send
        result.snapshots = len(snapshots)
    except NotIdle as exc:
        result.problems.append(str(exc))
        return
    deadline = time.monotonic() + 30
    while markers.pending() and time.monotonic() < deadline:
        time.sleep(0.1)
    t = settings.topics
    deadline = time.monotonic() + options.idle_timeout
    lag: dict[str, int] = {}
    while time.monotonic() < deadline:
        lag = group_lag(settings, bootstrap, sink_group(settings), [t.events, t.dlq, t.kpi])
        if not any(lag.values()):
            return
        time.sleep(0.5)
    result.problems.append(f"the SQL sink is still behind after {options.idle_timeout:.0f} s: "
                           f"{lag}")


def _check(settings: Settings, bootstrap: str, db_url: str, produced_file: Path,
           result: SoakResult, echo: Callable[[str], None]) -> None:
    """Live snapshots, SQL store, raw events and DLQ against the batch report."""
    from kafka import KafkaConsumer
    from sqlalchemy import func, select

    from consumers import store
    from runtime.kafka import end_offsets
    from streams.idle import read_snapshots

    started = time.monotonic()
    batch, want = expected_reports(produced_file, time.time())
    result.lines_total, result.valid, result.invalid = batch.lines, batch.valid, batch.invalid
    result.distinct_events = sum(len(f) for f in batch.facts.values())
    echo(f"[soak] batch report of {produced_file.name}: {len(want):,} (unit, period), "
         f"{time.monotonic() - started:.1f} s")
    # a due instant passing between the worker's sweep (every second) and this horizon can
    # differ for a moment: look again a few times before calling it a mismatch
    diffs: list[str] = []
    for attempt in range(4):
        if attempt:
            time.sleep(2)
            want = reports_at(batch, time.time())
        snapshots = read_snapshots(settings, bootstrap)
        diffs = differences(snapshots, want)
        if not diffs:
            break
    if diffs:
        result.problems.append(f"{len(diffs)} live snapshot(s) differ from the batch report: "
                               f"{diffs[:5]}")
    engine = store.make_engine(db_url)
    try:
        stored = {(r["unit"], r["period"]): r for r in store.load_reports(engine)}
        with engine.connect() as conn:
            events = conn.execute(select(func.count()).select_from(store.raw_events)).scalar()
    finally:
        engine.dispose()
    sql_diffs = differences(stored, want)
    if sql_diffs:
        result.problems.append(f"{len(sql_diffs)} SQL report(s) differ from the batch report: "
                               f"{sql_diffs[:5]}")
    if events != result.distinct_events:
        result.problems.append(f"the SQL store holds {events:,} events; "
                               f"{result.distinct_events:,} distinct valid ones were produced")
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             **settings.kafka_client_options())
    try:
        dead = sum(end_offsets(consumer, settings.topics.dlq).values())
    finally:
        consumer.close()
    if dead != result.invalid:
        result.problems.append(f"{dead:,} dead letters on {settings.topics.dlq}; "
                               f"{result.invalid:,} invalid lines were produced")


__all__ = ["SoakOptions", "SoakResult", "differences", "percentile", "run_soak"]
