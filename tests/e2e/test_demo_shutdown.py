"""No orphans, and a dead service is said (issue 27): real `motcua demo` processes, checked
by pid through /proc.

* SIGKILL to a running demo: within 5 s neither its broker nor its worker nor any other
  child is alive;
* SIGINT, then SIGKILL 2 s later (what a supervisor does): the same;
* SIGTERM alone: the demo ends itself and every child within 10 s, exit 130;
* SIGKILL to the demo's worker, while it catches up and while it serves: the demo names
  it, its exit and its log, and exits 1 (serving: within 10 s).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from runtime.broker import free_port
from runtime.children import spawn
from runtime.waiting import wait_for

pytestmark = pytest.mark.integration

WORKER_STARTED = re.compile(r"pipeline worker started \(pid (\d+)")


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped, counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` now (children of every thread, recursively)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = (task / "children").read_text().split()
            except OSError:
                continue
            for kid in map(int, kids):
                if kid not in found:
                    found.add(kid)
                    todo.append(kid)
    return found


class Demo:
    """``motcua demo`` (serving mode) in a fresh data directory; its output collected."""

    def __init__(self, tmp_path: Path, *options: str) -> None:
        env = {**os.environ, "MOTCUA_DATA_DIR": str(tmp_path),
               "MOTCUA_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
               "MOTCUA_METRICS_PORT": str(free_port()), "MOTCUA_HTTP_PORT": str(free_port()),
               "PYTHONUNBUFFERED": "1"}
        env.pop("MOTCUA_KAFKA_BOOTSTRAP", None)
        env.pop("MOTCUA_UNITS_FILE", None)
        self.proc = spawn(
            [sys.executable, "-m", "motcua", "demo", "--scale", "0.03", *options],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout or ():
            self.lines.append(line)

    @property
    def out(self) -> str:
        return "".join(self.lines)

    def worker_pid(self) -> int:
        """Once the worker runs: its pid (as the demo printed it)."""
        found = wait_for(lambda: WORKER_STARTED.search(self.out), timeout=300, poll=0.2,
                         process=self.proc,  # type: ignore[arg-type]
                         what="the demo's worker")
        return int(found[1])

    def children(self) -> set[int]:
        """The broker, the worker and anything else below the demo (two at least)."""
        self.worker_pid()
        kids = _descendants(self.proc.pid)
        assert len(kids) >= 2, (kids, self.out[-2000:])
        return kids

    def finish(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=10)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _all_gone(pids: set[int], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and any(map(_alive, pids)):
        time.sleep(0.1)
    left = {pid for pid in pids if _alive(pid)}
    for pid in left:  # leave nothing behind for the next test, then fail
        os.kill(pid, signal.SIGKILL)
    assert not left, f"still alive {within:.0f} s after the demo ended: {sorted(left)}"


def test_sigkill_to_the_demo_ends_every_child(tmp_path: Path) -> None:
    demo = Demo(tmp_path)
    try:
        kids = demo.children()
        demo.proc.send_signal(signal.SIGKILL)
        demo.finish(timeout=10)
        _all_gone(kids, within=5)
    finally:
        demo.kill()


def test_sigint_then_sigkill_ends_every_child(tmp_path: Path) -> None:
    demo = Demo(tmp_path)
    try:
        kids = demo.children()
        demo.proc.send_signal(signal.SIGINT)
        time.sleep(2)
        demo.proc.send_signal(signal.SIGKILL)
        demo.finish(timeout=10)
        _all_gone(kids, within=5)
    finally:
        demo.kill()


def test_sigterm_ends_the_demo_and_its_children_within_10_s(tmp_path: Path) -> None:
    demo = Demo(tmp_path)
    try:
        kids = demo.children()
        time.sleep(1)  # publishing or catching up: work in flight
        demo.proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = demo.finish(timeout=30)
        took = time.monotonic() - started
        assert took < 10, (took, demo.out[-2000:])
        assert code == 130, demo.out[-2000:]
        assert "stopped (SIGTERM)" in demo.out
        _all_gone(kids, within=10 - took)
    finally:
        demo.kill()


def test_a_killed_worker_is_reported_and_the_demo_exits_non_zero(tmp_path: Path) -> None:
    demo = Demo(tmp_path)
    try:
        kids = demo.children()
        worker = demo.worker_pid()
        os.kill(worker, signal.SIGKILL)
        code = demo.finish(timeout=60)
        out = demo.out
        assert code == 1, out[-3000:]
        assert f"the pipeline worker (pid {worker}) ended: killed by SIGKILL" in out, \
            out[-3000:]
        assert "worker.log" in out  # where its log is, with its last lines
        _all_gone(kids, within=5)
    finally:
        demo.kill()


def test_a_dead_worker_stops_a_serving_demo_at_once(tmp_path: Path) -> None:
    """Long-running mode: once it serves, a killed worker is said within seconds and the
    demo exits 1 (before, it kept printing "serving" with a dead service)."""
    demo = Demo(tmp_path)
    try:
        kids = demo.children()
        wait_for(lambda: "serving (" in demo.out, timeout=300, poll=0.2,
                 process=demo.proc,  # type: ignore[arg-type]
                 what="the demo to serve")
        worker = demo.worker_pid()
        os.kill(worker, signal.SIGKILL)
        killed = time.monotonic()
        code = demo.finish(timeout=30)
        assert time.monotonic() - killed < 10, demo.out[-2000:]
        assert code == 1, demo.out[-3000:]
        assert f"the pipeline worker (pid {worker}) ended: killed by SIGKILL" in demo.out
        _all_gone(kids, within=5)
    finally:
        demo.kill()
