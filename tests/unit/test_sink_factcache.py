"""The SQL sink's memory of stored events' facts (:class:`consumers.factcache.FactCache`):
bounded, least recently used out first; and the writer's error boundary, which turns
psycopg's own errors (raised by the ``COPY`` paths on the driver's cursor) into
:class:`~schemas.errors.StoreError` like SQLAlchemy's."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.exc import OperationalError

from consumers.factcache import FactCache
from consumers.writer import _store_errors
from kpi.dossier import fact_key
from schemas.errors import StoreError


def _fact(i: int) -> tuple[str, float]:
    return ("rated", float(i))


def test_holds_at_most_capacity_and_evicts_the_least_recently_used() -> None:
    cache = FactCache(3)
    cache.add((fact_key("s", f"e{i}"), _fact(i)) for i in range(3))
    assert len(cache) == 3 and cache.known("s", "e0")
    assert cache.get(fact_key("s", "e0")) == _fact(0)  # e0 is now the most recent
    cache.add([(fact_key("s", "e3"), _fact(3)), (fact_key("s", "e4"), _fact(4))])
    assert len(cache) == 3
    assert [cache.known("s", f"e{i}") for i in range(5)] == [True, False, False, True, True]
    assert cache.get(fact_key("s", "e1")) is None


def test_capacity_zero_holds_nothing() -> None:
    cache = FactCache(0)
    cache.add([(fact_key("s", "e0"), _fact(0))])
    assert len(cache) == 0 and not cache.known("s", "e0")


@pytest.mark.parametrize("error", [
    psycopg.OperationalError("server closed the connection unexpectedly"),
    psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"),
    OperationalError("SELECT 1", {}, Exception("could not connect")),
])
def test_database_errors_of_both_layers_become_store_errors(error: Exception) -> None:
    with pytest.raises(StoreError) as raised, _store_errors():
        raise error
    assert raised.value.__cause__ is error
    assert type(error).__name__ in str(raised.value)


def test_other_errors_pass_through() -> None:
    with pytest.raises(KeyError), _store_errors():
        raise KeyError("not a database error")
