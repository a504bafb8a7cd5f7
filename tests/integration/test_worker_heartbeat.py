"""A running stream worker keeps its heartbeat file fresh (runtime.liveness), the file
docker-compose's worker healthcheck reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.broker import embedded_broker
from runtime.liveness import HEARTBEAT_INTERVAL, heartbeat_path, is_fresh
from runtime.settings import Settings
from runtime.waiting import wait_for
from streams.launcher import worker_process

pytestmark = pytest.mark.integration


def test_worker_touches_its_heartbeat(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", topic_partitions=2,
                        consumer_group_prefix="heartbeat")
    path = heartbeat_path(settings)
    with embedded_broker() as bootstrap, \
            worker_process(settings, bootstrap, tmp_path / "worker.log"):
        wait_for(lambda: path.exists(), timeout=90, poll=0.5, what="the first heartbeat")
        first = path.stat().st_mtime
        wait_for(lambda: path.stat().st_mtime > first, timeout=3 * HEARTBEAT_INTERVAL,
                 poll=0.5, what="a second heartbeat")
        assert is_fresh(path, 3 * HEARTBEAT_INTERVAL)
