"""docs/integration.md's Node.js example (kafkajs + the CloudEvents SDK) run as written
against the embedded broker, then a pipeline worker: the live KPIs equal the batch report
of what it sent, the resent copy is counted once, and kafkajs's DefaultPartitioner put
the dossier's records where murmur2 (the Java client, the HTTP ingest) puts them.

node and npm come from Debian (`make test` installs them: the Makefile's ``debs``); the
packages of tests/node/package.json from the npm registry, installed here when missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka.partitioner import murmur2

from kpi.batch import aggregate, fold_lines
from kpi.decode import decode_record
from kpi.reconcile import batch_reports, differences
from kpi.units import CalendarBook
from runtime.kafka import read_topic
from runtime.settings import Settings
from runtime.topics import declared_topics, ensure_topics
from schemas.cloudevents import event_bytes
from streams.idle import wait_until_idle
from streams.launcher import worker_process

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "integration.md"
NODE_DIR = Path(__file__).resolve().parents[1] / "node"
JS = re.compile(r"^```js\n(.*?)^```", re.M | re.S)


def _node_modules() -> Path:
    """tests/node/node_modules, installed with npm from the registry when missing."""
    for tool in ("node", "npm"):
        assert shutil.which(tool), f"{tool} is missing: make test installs it (Debian nodejs, npm)"
    modules = NODE_DIR / "node_modules"
    if not all((modules / name).is_dir() for name in ("kafkajs", "cloudevents")):
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--no-save"],
                       cwd=NODE_DIR, check=True, timeout=300, capture_output=True)
    return modules


def test_the_node_example_gives_the_kpis(topic_settings: Callable[..., Settings],
                                         tmp_path: Path) -> None:
    modules = _node_modules()
    (code,) = JS.findall(DOC.read_text(encoding="utf-8"))
    settings = topic_settings(data_dir=tmp_path)
    bootstrap = str(settings.kafka_bootstrap)
    ensure_topics(bootstrap, declared_topics(settings), settings)
    script = tmp_path / "example.js"
    script.write_text(code.replace("127.0.0.1:9092", bootstrap)
                      .replace("motcua.events.v1", settings.topics.events), encoding="utf-8")

    with worker_process(settings, bootstrap, tmp_path / "worker.log",
                        env={"MOTCUA_DATA_DIR": str(tmp_path)}):
        done = subprocess.run(["node", str(script)], env={**os.environ,
                              "NODE_PATH": str(modules)},
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "published 3 records" in done.stdout
        live = wait_until_idle(settings, bootstrap, timeout=120)

    records = read_topic(settings, bootstrap, settings.topics.events)
    assert len(records) == 3
    # one dossier, one partition: where murmur2 of its code puts it
    assert {r.key for r in records} == {b"DT-2025-000301"}
    want_partition = (murmur2(b"DT-2025-000301") & 0x7FFFFFFF) % settings.topic_partitions
    assert {r.partition for r in records} == {want_partition}
    # every record valid (binary with a JSON-string data, structured with ; charset and Z)
    ids = sorted(decode_record(r.value, r.headers)[1].split("\x1f")[1] for r in records)
    assert ids == ["doc-node-1", "doc-node-1", "doc-node-2"]
    lines = [event_bytes(r.value, r.headers) or b"" for r in records]
    batch = fold_lines(lines)
    now = time.time()
    folded = aggregate(batch.states(), now, CalendarBook())
    counts = folded.counters[("DT.TANHONG.X05", "2025")]
    assert counts["received"] == 1  # the resent copy counted once
    assert counts["resolved"] == 1
    want = batch_reports(batch, now)
    assert differences(live, want) == []
    assert live[("DT.TANHONG.X05", "2025")]["counts"]["received"] == 1
