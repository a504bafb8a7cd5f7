"""The worker's heartbeat file and the healthcheck that reads it (runtime.liveness)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from runtime.liveness import beat, heartbeat_path, is_fresh
from runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_fresh_stale_and_missing(tmp_path: Path) -> None:
    path = heartbeat_path(Settings(data_dir=tmp_path / "data"))
    assert not is_fresh(path, 60)
    beat(path)
    assert is_fresh(path, 60)
    old = time.time() - 120
    os.utime(path, (old, old))
    assert not is_fresh(path, 60)
    assert is_fresh(path, 60, now=old + 30)


def test_the_healthcheck_command_exits_by_freshness(tmp_path: Path) -> None:
    """What docker-compose's worker healthcheck runs, as a real process."""
    path = tmp_path / "worker.heartbeat"

    def check() -> int:
        return subprocess.run([sys.executable, "-m", "runtime.liveness", str(path), "60"],
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              check=False).returncode

    assert check() == 1
    beat(path)
    assert check() == 0
    old = time.time() - 61
    os.utime(path, (old, old))
    assert check() == 1
