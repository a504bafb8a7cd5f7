"""Read ``/metrics`` as Prometheus does: over HTTP from the real server
(:func:`consumers.metrics.serve_metrics` on 127.0.0.1, a free port), parsed with
prometheus_client's own text parser."""

from __future__ import annotations

import contextlib
import gzip
import urllib.request
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from consumers.kpi_board import KpiBoard
from consumers.metrics import serve_metrics

LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Straight to 127.0.0.1, whatever ``http_proxy`` says."""

Sample = tuple[str, tuple[tuple[str, str], ...], float]
"""(name, sorted labels, value) of one sample."""


def get(url: str, *, compressed: bool = False) -> str:
    """The body of ``GET url`` as text (``Accept-Encoding: gzip`` when ``compressed``;
    the answer must then be gzip-encoded)."""
    headers = {"Accept-Encoding": "gzip"} if compressed else {}
    with LOCAL.open(urllib.request.Request(url, headers=headers), timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        body: bytes = resp.read()
        if compressed:
            assert resp.headers["Content-Encoding"] == "gzip"
            body = gzip.decompress(body)
    return body.decode("utf-8")


@contextlib.contextmanager
def serving(registry: CollectorRegistry, board: KpiBoard, now: float
            ) -> Iterator[Callable[..., str]]:
    """A real metrics server whose clock says ``now``; yields ``scrape(compressed=False)``
    returning what ``GET /metrics`` serves."""
    server = serve_metrics(registry, board, 0, "127.0.0.1", clock=lambda: now)
    url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    try:
        yield lambda compressed=False: get(url, compressed=compressed)
    finally:
        server.shutdown()
        server.server_close()


def scrape(registry: CollectorRegistry, board: KpiBoard | None, now: float) -> str:
    """What one ``GET /metrics`` of a fresh server serves."""
    with serving(registry, board if board is not None else KpiBoard(), now) as get_text:
        return get_text()


def samples(text: str) -> set[Sample]:
    return {(s.name, tuple(sorted(s.labels.items())), s.value)
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def sample_value(text: str, name: str, labels: dict[str, str] | None = None) -> float | None:
    """The value of the sample ``name{labels}`` in ``text``, ``None`` if it has none (as
    ``CollectorRegistry.get_sample_value`` answers)."""
    want = tuple(sorted((labels or {}).items()))
    found = [value for n, labels_, value in samples(text) if n == name and labels_ == want]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else None
