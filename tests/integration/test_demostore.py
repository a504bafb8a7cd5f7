"""motcua.demostore with real stores: a demo on a new broker never starts on a store that
holds an earlier broker's offsets (issue 26), and its broker address is found by the other
commands while it runs."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

import pytest
from rich.console import Console

from consumers import store
from motcua.demostore import StoreInUse, fresh_store, published_broker
from runtime.broker import broker_file, demo_broker
from runtime.settings import load_settings
from tests.pgschema import pg_schema

pytestmark = pytest.mark.integration


def _with_offsets(url: str) -> None:
    engine = store.make_engine(url)
    try:
        store.upgrade(engine)
        with engine.begin() as conn:
            store.upsert_offsets(conn, [{"group_id": "g", "topic": "t", "partition": 0,
                                         "next_offset": 7,
                                         "updated_at": dt.datetime.now(dt.UTC)}])
    finally:
        engine.dispose()


def test_a_sqlite_store_goes_aside_with_its_companions(tmp_path: Path) -> None:
    db = tmp_path / "motcua.db"
    _with_offsets(f"sqlite:///{db}")
    (tmp_path / "motcua.db-wal").write_bytes(b"wal")
    (tmp_path / "motcua.db.previous").write_bytes(b"older")
    console = Console(record=True, width=300)
    fresh_store(load_settings(database_url=f"sqlite:///{db}"), console)
    assert not db.exists() and not (tmp_path / "motcua.db-wal").exists()
    assert (tmp_path / "motcua.db.previous-wal").read_bytes() == b"wal"
    assert (tmp_path / "motcua.db.previous").read_bytes() != b"older"
    assert f"moved to {tmp_path / 'motcua.db.previous'}" in console.export_text()


def test_no_sqlite_file_yet_is_fine(tmp_path: Path) -> None:
    fresh_store(load_settings(database_url=f"sqlite:///{tmp_path / 'none.db'}"), Console())
    assert not (tmp_path / "none.db.previous").exists()


def test_a_postgresql_store_with_offsets_is_refused_and_kept() -> None:
    with pg_schema(prefix="demostore") as url:
        fresh_store(load_settings(database_url=url), Console())  # empty: used as it is
        _with_offsets(url)
        with pytest.raises(StoreInUse, match="holds 1 sink offset"):
            fresh_store(load_settings(database_url=url), Console())


def test_the_demo_broker_is_found_while_it_listens(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        address = f"127.0.0.1:{server.getsockname()[1]}"
        with published_broker(settings, address) as path:
            assert path == broker_file(settings)
            assert demo_broker(settings) == address
        assert not path.exists()
        path.write_text(address)
    assert demo_broker(settings) is None  # a file a killed demo left: nothing listens
