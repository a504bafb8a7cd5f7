"""The demo's HTTP ingest (:func:`motcua.http_service.http_ingest`) on the session broker: a
demo token made once, the printed curl line accepted as printed, a taken port replaced."""

from __future__ import annotations

import shlex
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from consumers.http_ingest.tokens import read_grants
from motcua.http_service import curl_line, http_ingest
from runtime.kafka import read_topic
from runtime.settings import Settings
from runtime.topics import declared_topics, ensure_topics

pytestmark = pytest.mark.integration

SOURCE = "urn:motcua:dvc:dong-thap"


def test_demo_ingest_token_curl_and_port(topic_settings: Callable[..., Settings],
                                         tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = topic_settings(data_dir=tmp_path, http_port=taken.getsockname()[1])
        bootstrap = str(settings.kafka_bootstrap)
        ensure_topics(bootstrap, declared_topics(settings), settings)
        console = Console(record=True, width=100)
        with http_ingest(settings, bootstrap, console, source=SOURCE) as ingest:
            assert ingest.token is not None
            assert ingest.url != f"http://127.0.0.1:{settings.http_port}"
            assert httpx.get(f"{ingest.url}/healthz").status_code == 200
            line = curl_line(ingest.url, ingest.token, SOURCE)
            sent = subprocess.run(shlex.split(line), capture_output=True, text=True,
                                  timeout=30, check=False) if shutil.which("curl") else None
            if sent is None:  # no curl here: the same request through httpx
                args = shlex.split(line)
                body = args[args.index("-d") + 1]
                answer = httpx.post(f"{ingest.url}/v1/events", content=body, headers={
                    "Authorization": f"Bearer {ingest.token}",
                    "Content-Type": "application/cloudevents+json"})
                assert answer.status_code == 202, answer.text
            else:
                assert '"accepted":1' in sent.stdout, (sent.stdout, sent.stderr)
        printed = console.export_text()
        assert ingest.token in printed and "unavailable" in printed
        # (the console wraps long lines at spaces: compare with whitespace normalised)
        assert "motcua token add --source " + SOURCE in " ".join(printed.split())
        (record,) = read_topic(settings, bootstrap, settings.topics.events)
        assert record.key == b"DEMO-HTTP-1"

        # a second run keeps the token file as it is: no new token, the ids named
        console = Console(record=True, width=200)
        with http_ingest(settings, bootstrap, console, source=SOURCE) as again:
            assert again.token is None
        (grant,) = read_grants(settings.tokens_file).values()
        assert grant.id in console.export_text() and ingest.token not in console.export_text()
