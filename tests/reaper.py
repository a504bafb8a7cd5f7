"""Run a command (pytest) and leave nothing of it running: ``python -m tests.reaper CMD...``.

The reaper makes itself the child subreaper of everything the command starts
(``PR_SET_CHILD_SUBREAPER``): a process orphaned by its parent's death, e.g. the broker of
a pytest-xdist worker killed by pytest-timeout, or anything a SIGKILLed pytest started, is
re-parented to the reaper instead of to init. The reaper reaps every such process when it
exits (so a dead pid is gone, not a zombie), and when the command has ended it stops what is
still running (SIGTERM, SIGKILL after 5 s), names it on stderr, and exits with the
command's status.

Orphans are only stopped at the end: a test that checks that a child dies with its parent
(``motcua demo`` SIGKILLed) still sees what the product does, not what the harness does.
If the reaper itself is killed, the command gets SIGTERM (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
GRACE = 5.0


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _children() -> dict[int, str]:
    """{pid: command line} of this process's living children."""
    me = os.getpid()
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # pid (comm) state ppid ...: comm may hold spaces and parentheses
            state, ppid = stat[stat.rindex(")") + 2:].split()[:2]
            if int(ppid) != me or state == "Z":
                continue
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace").strip()
        except (OSError, ValueError):
            continue
        found[int(entry.name)] = cmd
    return found


def _reap() -> None:
    """Collect every exited child (orphans re-parented here included)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def stop_leftovers(settle: float = 10.0) -> list[str]:
    """Give what remains ``settle`` seconds to end by itself (e.g. the test PostgreSQL's
    supervisor deleting its directory), then stop every remaining descendant (their
    children come here as they die); return the command lines that had to be stopped."""
    settled = time.monotonic() + settle
    while _children() and time.monotonic() < settled:
        _reap()
        time.sleep(0.05)
    left: list[str] = []
    termed: dict[int, float] = {}  # pid: when it got SIGTERM
    while True:
        _reap()
        alive = _children()
        if not alive:
            return left
        now = time.monotonic()
        for pid, cmd in alive.items():
            if pid not in termed:
                left.append(f"{pid} {cmd}")
                termed[pid] = now
                sig = signal.SIGTERM
            elif now - termed[pid] > GRACE:
                sig = signal.SIGKILL
            else:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        time.sleep(0.1)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m tests.reaper COMMAND [ARG...]", file=sys.stderr)
        return 2
    libc = _libc()
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the command too

    def before_exec() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    command = subprocess.Popen(argv, preexec_fn=before_exec)  # noqa: S603 - the caller's
    signal.signal(signal.SIGTERM, lambda _s, _f: command.send_signal(signal.SIGTERM))
    status: int | None = None
    while status is None:
        try:
            pid, wait_status = os.wait()
        except ChildProcessError:  # pragma: no cover - the command is our child
            break
        except InterruptedError:  # pragma: no cover - retried by Python (PEP 475)
            continue
        if pid == command.pid:
            status = os.waitstatus_to_exitcode(wait_status)
            command.returncode = status
    left = stop_leftovers()
    if left:
        print("tests.reaper: stopped what the tests left running:", *left, sep="\n  ",
              file=sys.stderr)
    if status is None:
        return 1
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
