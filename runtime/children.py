"""The one way motcua starts a child process: it dies with its parent, and its death can be
told.

Contract:

* :func:`spawn` is :class:`subprocess.Popen` whose child has ``PR_SET_PDEATHSIG`` set to
  SIGKILL (Linux ``prctl``, in ``preexec_fn``, before the program is executed): when this
  process ends — returns, raises, or is killed with SIGKILL — the kernel kills the child.
  No polling, no orphan kept alive by the init process. If the parent is already gone when
  the child sets the signal, the child kills itself at once.
* The death signal fires when the *thread* that forked the child ends, not the process. So
  every child is forked by one daemon thread that lives as long as this process
  (:data:`_SPAWNER`); a child started from a short-lived thread (a test, a pool) does not
  die with that thread.
* On systems without ``prctl`` (not Linux) :func:`spawn` is plain ``Popen``:
  :data:`DIES_WITH_PARENT` is False there.
* :class:`Child` names a started child and its log; :meth:`Child.failure` is None while it
  runs, else one message: which child, its pid, its exit code (or signal) and the last lines
  of its log.

The broker (:mod:`runtime.broker`) and the pipeline worker (:mod:`streams.launcher`) are
started through here; the SQL sink, ``/metrics`` and the HTTP ingest of ``motcua demo`` are
threads of the demo process and end with it by construction.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

PR_SET_PDEATHSIG = 1
"""``prctl`` option from ``<linux/prctl.h>``."""

TAIL_LINES = 20
"""Lines of a dead child's log that :meth:`Child.failure` quotes."""


def _load_prctl() -> Callable[..., int] | None:
    if not os.uname().sysname == "Linux":
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    prctl = libc.prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                      ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


_PRCTL = _load_prctl()
DIES_WITH_PARENT = _PRCTL is not None
"""True where :func:`spawn`'s children are killed when this process ends."""


def _die_with(parent: int) -> Callable[[], None]:
    """The ``preexec_fn`` of a child of ``parent``: SIGKILL when the forking thread ends."""
    prctl = _PRCTL

    def preexec() -> None:  # runs in the forked child: no allocation-heavy work
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the line above
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


class _Spawner(threading.Thread):
    """A daemon thread that forks every child, so the children's death signal fires when
    this process ends, not when the thread that asked for them ends."""

    def __init__(self) -> None:
        super().__init__(name="motcua-spawner", daemon=True)
        self.requests: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = \
            queue.SimpleQueue()

    def run(self) -> None:
        while True:
            call, done = self.requests.get()
            try:
                done.set_result(call())
            except BaseException as exc:  # handed to the caller
                done.set_exception(exc)

    def call(self, fn: Callable[[], Any]) -> Any:
        done: Future[Any] = Future()
        self.requests.put((fn, done))
        return done.result()


_SPAWNER_LOCK = threading.Lock()
_SPAWNER: _Spawner | None = None


def _spawner() -> _Spawner:
    global _SPAWNER
    with _SPAWNER_LOCK:
        if _SPAWNER is None or not _SPAWNER.is_alive() or _SPAWNER.ident is None:
            _SPAWNER = _Spawner()
            _SPAWNER.start()
        return _SPAWNER


def spawn(args: Sequence[str], **popen: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(args, **popen)`` whose child dies with this process (see the
    module's contract). ``preexec_fn`` may not be given."""
    if "preexec_fn" in popen:
        raise TypeError("spawn sets preexec_fn itself")
    parent = os.getpid()

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(list(args), preexec_fn=_die_with(parent), **popen)

    proc: subprocess.Popen[bytes] = _spawner().call(start)
    return proc


def log_tail(log: Path | IO[bytes] | None, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of ``log`` (a path or a binary file open for reading)."""
    if log is None:
        return "(no log)"
    try:
        if isinstance(log, Path):
            data = log.read_bytes()[-64_000:]
        else:
            log.flush()
            log.seek(0, os.SEEK_END)
            size = log.tell()
            log.seek(max(0, size - 64_000))
            data = log.read()
    except OSError as exc:
        return f"(log unreadable: {exc})"
    text = data.decode("utf-8", "replace").strip()
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


def exit_description(returncode: int) -> str:
    """``exit code 3`` or ``killed by SIGKILL`` (a negative ``Popen.returncode``)."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


@dataclass
class Child:
    """A started child: a name for people, the process, and where its output goes."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path | IO[bytes] | None = None

    def failure(self) -> str | None:
        """None while the child runs; else which child died, how, and its log's last lines."""
        code = self.proc.poll()
        if code is None:
            return None
        where = f" ({self.log})" if isinstance(self.log, Path) else ""
        return (f"{self.name} (pid {self.proc.pid}) ended: {exit_description(code)}; "
                f"last lines of its log{where}:\n{log_tail(self.log)}")


__all__ = ["DIES_WITH_PARENT", "Child", "exit_description", "log_tail", "spawn"]
