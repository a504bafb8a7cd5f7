"""Every private faust attribute streams.faust_internals relies on still exists on the
installed faust (an upgrade that removes one fails here, naming it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faust
import pytest
from faust.transport.drivers import aiokafka as driver

from streams.faust_internals import PRIVATE_API, App, Consumer, Private

FAUST_CLASSES: dict[str, type] = {
    "Consumer": driver.Consumer,
    "Producer": driver.Producer,
    "App": faust.App,
}


@pytest.fixture(scope="module")
def instances(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real app (never started, no broker contacted) and its consumer, producer and
    fetcher, as the worker builds them."""
    datadir: Path = tmp_path_factory.mktemp("faust")
    app = App("faust-internals-probe", broker="kafka://127.0.0.1:9", web_enabled=False,
              datadir=str(datadir), topic_disable_leader=True)
    consumer = app.consumer
    assert isinstance(consumer, Consumer)
    return {"App": app, "Consumer": consumer, "Producer": app.producer,
            "Fetcher": app._fetcher}


def _exists(entry: Private, instances: dict[str, Any]) -> bool:
    """On faust's own class (methods), or set by faust on a fresh instance (state)."""
    cls = FAUST_CLASSES.get(entry.owner)
    if cls is not None and hasattr(cls, entry.name):
        return True
    obj = instances[entry.owner]
    own = {k for c in type(obj).__mro__ if c.__module__.startswith(("faust", "mode"))
           for k in vars(c)}
    return entry.name in vars(obj) or entry.name in own


@pytest.mark.parametrize("entry", PRIVATE_API, ids=lambda e: f"{e.owner}.{e.name}")
def test_private_attribute_still_exists(entry: Private, instances: dict[str, Any]) -> None:
    assert _exists(entry, instances), (
        f"faust {faust.__version__} has no {entry.owner}.{entry.name} any more "
        f"(used for: {entry.why}); adapt streams/faust_internals.py")


def test_every_owner_is_known(instances: dict[str, Any]) -> None:
    assert {e.owner for e in PRIVATE_API} <= set(instances)


def test_a_missing_attribute_is_caught(instances: dict[str, Any]) -> None:
    """The check itself: a made-up attribute is not found."""
    assert not _exists(Private("Consumer", "_no_such_attribute", "a probe"), instances)
    assert not _exists(Private("Fetcher", "_no_such_attribute", "a probe"), instances)
