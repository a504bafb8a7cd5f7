"""streams.run: only the entry point turns the failure that stopped a worker into its exit
status; a worker that cannot start (a broken unit registry) exits with the error's."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from runtime.settings import load_settings
from schemas.errors import EXIT_LOG_LOST, DeliveryFailed, LogLost
from streams.run import EX_SOFTWARE, exit_code_for, run_worker


def test_a_lost_log_exits_75_and_other_failures_by_kind() -> None:
    assert exit_code_for(LogLost("the broker lost records of x")) == EXIT_LOG_LOST == 75
    assert exit_code_for(DeliveryFailed("not acknowledged")) == 1
    assert exit_code_for(RuntimeError("a bug")) == EX_SOFTWARE == 70


def test_a_broken_unit_registry_stops_the_worker_at_start(tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    """Before any topic is touched (no broker listens at the bootstrap address)."""
    units = tmp_path / "units.csv"
    units.write_text("code,name,level,parent\nA,Unit A,commune,NOWHERE\n", encoding="utf-8")
    threshold = gc.get_threshold()
    try:
        with pytest.raises(SystemExit) as stopped:
            run_worker(load_settings(units_file=units, data_dir=tmp_path), "127.0.0.1:1")
    finally:
        gc.set_threshold(*threshold)
    assert stopped.value.code == 1
    assert "the worker cannot start" in caplog.text and str(units) in caplog.text
