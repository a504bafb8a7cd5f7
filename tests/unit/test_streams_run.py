"""streams.run: only the entry point turns the failure that stopped a worker into its exit
status."""

from __future__ import annotations

from schemas.errors import EXIT_LOG_LOST, DeliveryFailed, LogLost
from streams.run import EX_SOFTWARE, exit_code_for


def test_a_lost_log_exits_75_and_other_failures_by_kind() -> None:
    assert exit_code_for(LogLost("the broker lost records of x")) == EXIT_LOG_LOST == 75
    assert exit_code_for(DeliveryFailed("not acknowledged")) == 1
    assert exit_code_for(RuntimeError("a bug")) == EX_SOFTWARE == 70
