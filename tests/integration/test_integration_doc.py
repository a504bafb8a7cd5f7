"""docs/integration.md's examples run as written against the embedded stack: the session
broker and a running HTTP ingest. Every fenced ``bash`` and ``python`` block is run in
order (bash with ``-euo pipefail``), with the document's addresses, topic and token
replaced by the test's own; the first one (``motcua token add``) gives the token the others
use. Each must exit 0; the events they send must then be on the events topic (keyed by
their subject), and the batch's invalid one in the DLQ with the reason the document shows.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from consumers.http_ingest.server import BackgroundServer, make_server
from kpi.decode import decode_record
from runtime.broker import free_port
from runtime.dlq import DeadLetter
from runtime.kafka import read_topic
from runtime.settings import Settings
from runtime.topics import declared_topics, ensure_topics
from schemas.cloudevents import event_bytes

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "integration.md"
BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```", re.M | re.S)
SENT = {"doc-http-1", "doc-http-2", "doc-http-3", "doc-http-py-1", "doc-http-py-2",
        "doc-kafka-1", "doc-kafka-2", "doc-outbox-1", "doc-outbox-2"}
"""The ids of the valid events the examples send (``doc-bad-1`` is the invalid one)."""


def examples() -> list[tuple[str, str]]:
    """(language, code) of every runnable block, in document order."""
    return BLOCK.findall(DOC.read_text(encoding="utf-8"))


def test_the_document_has_its_examples() -> None:
    kinds = [kind for kind, _ in examples()]
    assert kinds.count("bash") == 4 and kinds.count("python") == 3, kinds
    assert "motcua token add" in examples()[0][1]


def test_the_examples_run_against_the_embedded_stack(
        topic_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = topic_settings(data_dir=tmp_path)
    bootstrap = str(settings.kafka_bootstrap)
    ensure_topics(bootstrap, declared_topics(settings), settings)
    server = BackgroundServer(make_server(settings, bootstrap, port=free_port())).start()
    replace = {"http://127.0.0.1:8088": server.url, "127.0.0.1:9092": bootstrap,
               "motcua.events.v1": settings.topics.events}
    env = {**os.environ, **settings.as_env(),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    try:
        for number, (kind, code) in enumerate(examples()):
            for old, new in replace.items():
                code = code.replace(old, new)
            command = (["bash", "-euo", "pipefail", "-c", code] if kind == "bash"
                       else [sys.executable, "-c", code])
            run = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True,
                                 text=True, timeout=120, check=False)
            assert run.returncode == 0, (number, kind, run.stdout[-2000:], run.stderr[-3000:])
            if number == 0:  # motcua token add: the token alone on the last line
                env["TOKEN"] = run.stdout.strip().splitlines()[-1]
                assert env["TOKEN"].startswith("mct_")
    finally:
        server.stop()

    records = read_topic(settings, bootstrap, settings.topics.events)
    ids = set()
    for record in records:
        subject, _, _ = decode_record(record.value, record.headers)
        assert record.key == subject.encode()
        event = orjson.loads(event_bytes(record.value, record.headers))
        ids.add(event["id"])
    assert ids == SENT
    (letter,) = [DeadLetter.decode(r.value) for r in
                 read_topic(settings, bootstrap, settings.topics.dlq)]
    assert orjson.loads(letter.raw)["id"] == "doc-bad-1"
    assert f'"reason": "{letter.reason}"' in DOC.read_text(encoding="utf-8")
