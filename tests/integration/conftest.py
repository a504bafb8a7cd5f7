"""A real broker for the integration tier, started once per session (quix-streams style),
and factories giving each test its own topic names."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from runtime.broker import embedded_broker
from runtime.settings import Settings, load_settings


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``MOTCUA_KAFKA_BOOTSTRAP`` if set, else an embedded in-memory Tansu broker."""
    configured = os.environ.get("MOTCUA_KAFKA_BOOTSTRAP")
    if configured:
        yield configured
        return
    with embedded_broker() as bootstrap:
        yield bootstrap


@pytest.fixture
def topic_settings(kafka_bootstrap: str) -> Callable[..., Settings]:
    """``make(**overrides) -> Settings`` whose topic names carry a fresh random suffix and
    whose ``kafka_bootstrap`` is the session broker. Each call gives new names."""

    def make(**overrides: object) -> Settings:
        suffix = uuid.uuid4().hex[:10]
        topics = {
            "events": f"test.events.{suffix}",
            "dlq": f"test.dlq.{suffix}",
            "contributions": f"test.contributions.{suffix}",
            "kpi": f"test.kpi.{suffix}",
        }
        opts: dict[str, object] = {
            "kafka_bootstrap": kafka_bootstrap,
            "topics": topics,
            "consumer_group_prefix": f"test-{suffix}",
        }
        opts.update(overrides)
        return load_settings(**opts)

    return make
