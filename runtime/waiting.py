"""Readiness polling: the one wait loop (no fixed sleeps, a deadline, a clear message).

Used by the demo, the soak run and the tests to wait for a pipeline, a sink, a server or a
child process to reach a state; ``probe`` is called until it returns something truthy.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

from schemas.errors import NotIdle

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T],
    *,
    timeout: float,
    what: str,
    poll: float = 0.2,
    process: subprocess.Popen[bytes] | None = None,
    errors: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``probe`` every ``poll`` seconds until it returns something truthy; return it.

    ``errors`` raised by ``probe`` count as "not yet" (e.g. ``OSError`` while a server is
    not listening). If ``process`` exits meanwhile, or ``timeout`` seconds pass, raise
    :class:`schemas.errors.NotIdle` naming ``what`` and the last result or error."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        if process is not None and process.poll() is not None:
            raise NotIdle(f"{what}: the process exited with {process.returncode} "
                          f"(last: {last!r})")
        try:
            result = probe()
        except errors as exc:
            last = exc
        else:
            if result:
                return result
            last = result
        if time.monotonic() >= deadline:
            raise NotIdle(f"timed out after {timeout:.0f} s waiting for {what} "
                          f"(last: {last!r})")
        time.sleep(poll)
