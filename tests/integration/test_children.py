"""runtime.children with real processes: a child dies with its parent process (SIGKILL
included), not with the thread that asked for it, and a dead child is described."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from runtime.children import DIES_WITH_PARENT, Child, spawn

pytestmark = pytest.mark.skipif(not DIES_WITH_PARENT, reason="prctl is Linux only")


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_child_dies_when_its_parent_is_killed(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time
        from runtime.children import spawn
        child = spawn(["sleep", "120"])
        print(child.pid, flush=True)
        time.sleep(120)
    """)], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=10)
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_a_child_outlives_the_thread_that_started_it() -> None:
    started: list[subprocess.Popen[bytes]] = []
    thread = threading.Thread(target=lambda: started.append(spawn(["sleep", "30"])))
    thread.start()
    thread.join()
    (child,) = started
    try:
        time.sleep(0.5)  # PDEATHSIG would have fired by now
        assert child.poll() is None
    finally:
        child.kill()
        child.wait()


def test_a_dead_child_is_named_with_its_exit_and_its_log(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    with log.open("wb") as out:
        proc = spawn([sys.executable, "-c", "print('line one'); print('last words'); "
                      "raise SystemExit(3)"], stdout=out, stderr=subprocess.STDOUT)
    child = Child("the test child", proc, log)
    proc.wait(timeout=30)
    message = child.failure()
    assert message is not None
    assert message.startswith(f"the test child (pid {proc.pid}) ended: exit code 3")
    assert str(log) in message and message.endswith("line one\nlast words")


def test_a_running_child_has_no_failure() -> None:
    proc = spawn(["sleep", "30"])
    try:
        assert Child("sleeper", proc).failure() is None
    finally:
        proc.kill()
        proc.wait()
    assert Child("sleeper", proc).failure() == (
        f"sleeper (pid {proc.pid}) ended: killed by SIGKILL; last lines of its log:\n"
        "(no log)")
