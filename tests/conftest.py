"""Session-wide set-up for every tier: the test PostgreSQL (tests.pgserver) is made on first
use, one database per session (per pytest-xdist worker), and removed when the session ends."""

from __future__ import annotations

import pytest

from tests import pgserver


def pytest_unconfigure(config: pytest.Config) -> None:
    """Drop this session's database; stop the throwaway server if one was started."""
    pgserver.close()
