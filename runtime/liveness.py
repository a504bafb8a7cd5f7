"""A heartbeat file: how a container healthcheck tells a live worker from a hung one.

The stream worker touches :func:`heartbeat_path` from a timer of its event loop
(streams/app.py), so the file goes stale when the loop hangs or the worker fails, not only
when the process exits. docker-compose's worker healthcheck runs::

    python -m runtime.liveness /data/worker.heartbeat 60

which exits 0 when the file was touched in the last 60 seconds, else 1.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from runtime.settings import Settings

HEARTBEAT_FILE = "worker.heartbeat"
HEARTBEAT_INTERVAL = 10.0
"""Seconds between touches; a healthcheck allows several times this."""


def heartbeat_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / HEARTBEAT_FILE


def beat(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def is_fresh(path: Path, max_age: float, now: float | None = None) -> bool:
    """Whether ``path`` exists and was touched at most ``max_age`` seconds ago."""
    try:
        modified = path.stat().st_mtime
    except OSError:
        return False
    return (time.time() if now is None else now) - modified <= max_age


def main(argv: list[str]) -> int:
    """``python -m runtime.liveness PATH MAX_AGE``: 0 if fresh, 1 if stale or missing."""
    path, max_age = Path(argv[0]), float(argv[1])
    return 0 if is_fresh(path, max_age) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
