"""The local state's storage engine: SQLite (:class:`streams.localstate.LocalState`, what
the worker uses) against RocksDB through ``rocksdict`` (when it is installed), under the
worker's write pattern (docs/decisions/streams-local-state.md).

    python -m tests.benchmarks.bench_state_store [N=500000]

Per dossier, in business-time order with a lag: a read that misses (a new dossier), its
row written live (received), written again (resolved, 20,000 dossiers later), written
retired (40,000 later); commits of ~4,000 writes. Then 100,000 reads of retired rows
(late events). Reported: µs per write (commit included), per missing read, per read
back; the process's RSS growth; the files' size. Each engine runs in a child process of
its own (RSS measured there). Not part of ``make test``.
"""

from __future__ import annotations

import gc
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

LAG = 20_000
BATCH = 4_000
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * _PAGE


def _row(i: int, step: int) -> bytes:
    t = 1_735_700_000.0 + i * 13.7
    facts: dict[str, list[object]] = {
        f"urn:motcua:tanhong\x1fev-{i}-r": [
            "received", t, f"DT.TANHONG.X0{i % 9}", "commune", f"1.00{i % 700:04d}", "online",
            "partial", True, t + 5 * 86_400, None, False, False, None, None]}
    if step:
        facts[f"urn:motcua:tanhong\x1fev-{i}-d"] = ["resolved", t + 3.3 * 86_400, i % 2 == 0]
    row: dict[str, object] = {"f": facts, "v": 1_764_460_000_000_000 + i + step,
                              "u": f"DT.TANHONG.X0{i % 9}", "h": t + 4 * 86_400, "p": i % 4}
    if step == 2:
        row["x"] = True
    return orjson.dumps(row)


def _code(i: int) -> str:
    return f"HS-2025-{i:08d}"


class Engine:
    get: Callable[[int, str], bytes | None]
    put: Callable[[int, str, bytes, bool], None]
    commit: Callable[[], None]


def _sqlite(path: Path) -> Engine:
    from streams.localstate import DOSSIER, LocalState

    state = LocalState(path / "state.sqlite")
    e = Engine()
    e.get = lambda p, k: state.get(DOSSIER, p, k)
    e.put = lambda p, k, v, r: state.put(DOSSIER, p, k, v, retired=r)
    e.commit = lambda: state.commit({"identity": {}, "offsets": {}})
    return e


def _rocksdict(path: Path) -> Engine:
    import rocksdict as r

    opt = r.Options(raw_mode=True)
    opt.create_if_missing(True)
    opt.set_write_buffer_size(8 << 20)
    opt.set_max_write_buffer_number(2)
    opt.set_compression_type(r.DBCompressionType.lz4())
    table = r.BlockBasedOptions()
    table.set_block_cache(r.Cache(8 << 20))
    table.set_bloom_filter(10, False)
    opt.set_block_based_table_factory(table)
    db = r.Rdict(str(path / "db"), opt)
    buf: dict[bytes, bytes] = {}
    e = Engine()

    def get(p: int, k: str) -> bytes | None:
        key = b"d%d\x00%s" % (p, k.encode())
        return buf.get(key) or db.get(key)

    def put(p: int, k: str, v: bytes, retired: bool) -> None:
        buf[b"d%d\x00%s" % (p, k.encode())] = (b"1" if retired else b"0") + v

    def commit() -> None:
        wb = r.WriteBatch(raw_mode=True)
        for k, v in buf.items():
            wb.put(k, v)
        wb.put(b"meta\x00marker", b"{}")
        db.write(wb)
        buf.clear()

    e.get, e.put, e.commit = get, put, commit
    return e


def run(engine: str, n: int) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix=f"bench-store-{engine}-"))
    try:
        rows = [(_code(i), i % 4, [_row(i, s) for s in range(3)]) for i in range(n)]
        gc.collect()
        base = _rss()
        e = _sqlite(work) if engine == "sqlite" else _rocksdict(work)
        writes = misses = 0
        t_miss = 0.0
        pending = 0
        started = time.perf_counter()
        for i in range(n + 2 * LAG):
            if i < n:
                code, p, versions = rows[i]
                t0 = time.perf_counter()
                assert e.get(p, code) is None
                t_miss += time.perf_counter() - t0
                misses += 1
                e.put(p, code, versions[0], False)
                pending += 1
            for back, step in ((LAG, 1), (2 * LAG, 2)):
                if 0 <= i - back < n:
                    code, p, versions = rows[i - back]
                    e.put(p, code, versions[step], step == 2)
                    pending += 1
            if pending >= BATCH:
                e.commit()
                writes += pending
                pending = 0
        e.commit()
        writes += pending
        t_write = time.perf_counter() - started - t_miss
        rng = random.Random(5)
        sample = [rows[rng.randrange(n)] for _ in range(100_000)]
        t0 = time.perf_counter()
        for code, p, _ in sample:
            assert e.get(p, code) is not None
        t_hit = time.perf_counter() - t0
        gc.collect()
        grown = _rss() - base
        size = sum(f.stat().st_size for f in work.rglob("*") if f.is_file())
        return {"write_us": t_write / writes * 1e6, "miss_us": t_miss / misses * 1e6,
                "hit_us": t_hit / len(sample) * 1e6, "rss_mib": grown / 2**20,
                "disk_mib": size / 2**20}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(run(sys.argv[2], int(sys.argv[3]))))
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500_000
    engines = ["sqlite"]
    try:
        import rocksdict  # noqa: F401
        engines.append("rocksdict")
    except ImportError:
        print("rocksdict is not installed: SQLite only")
    print(f"{n:,} dossiers, {3 * n:,} writes in commits of ~{BATCH:,}, "
          f"{n:,} missing reads, 100,000 reads back")
    for engine in engines:
        out = subprocess.run([sys.executable, "-m", "tests.benchmarks.bench_state_store",
                              "--child", engine, str(n)], capture_output=True, text=True,
                             check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{engine:10s} write {r['write_us']:5.1f} µs, missing read {r['miss_us']:5.1f} "
              f"µs, read back {r['hit_us']:5.1f} µs; RSS +{r['rss_mib']:,.0f} MiB; files "
              f"{r['disk_mib']:,.0f} MiB")


if __name__ == "__main__":
    main()
