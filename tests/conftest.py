"""Session-wide set-up for every tier: the test PostgreSQL (tests.pgserver) is made on first
use, one database per session (per pytest-xdist worker), and removed when the session ends."""

from __future__ import annotations

import pytest

from tests import pgserver


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Drop this session's database; stop the throwaway server if one was started.

    Here, after the session's fixtures are torn down, and not at unconfigure: an xdist
    worker reports itself finished after this hook, and from then on it has 5 s to end
    before execnet interrupts it (SIGINT)."""
    pgserver.close()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Whatever the session did not reach (a no-op after :func:`pytest_sessionfinish`)."""
    pgserver.close()
