"""The HTTP ingest as a thread of this process, beside the sink and /metrics of
:mod:`motcua.services` (``motcua demo`` starts it), with a token to try it.

Contract of :func:`http_ingest`:

* serves :mod:`consumers.http_ingest` on ``settings.http_host``/``http_port``
  (MOTCUA_HTTP_HOST/PORT, default 127.0.0.1:8088); a port already taken gives a free one,
  and says so;
* if the tokens file holds no token for ``source`` (the simulator's), adds one and prints
  it — the one moment it exists in clear (only its hash is stored); otherwise prints the ids
  of the existing ones and how to make another (``motcua token add --source …``);
* prints the ingest's URL and a one-line ``curl`` that sends one event;
* yields a :class:`DemoIngest` (URL, source, the new token or None, a failure probe for
  :class:`motcua.watch.Watch`) and stops the server on exit (waits up to
  :data:`STOP_TIMEOUT` s).
"""

from __future__ import annotations

import shlex
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import orjson
from rich.console import Console
from rich.markup import escape

from consumers.http_ingest.server import BackgroundServer, make_server
from consumers.http_ingest.tokens import add_token, read_grants
from kpi.simulate.config import DEFAULT_SOURCE
from runtime.broker import free_port
from runtime.settings import Settings


@dataclass(frozen=True)
class DemoIngest:
    url: str
    """``http://host:port`` of the running ingest (POST ``/v1/events``)."""
    source: str
    token: str | None
    """The token made for ``source`` now, or None if the file already had one."""
    failure: Callable[[], str | None] = field(default=lambda: None, compare=False)
    """None while the server thread runs, else a message saying it stopped."""


STOP_TIMEOUT = 2.0
"""Seconds :func:`http_ingest` waits for the server to stop (requests in flight get no
answer after that: their senders re-send, docs/integration.md)."""


def example_event(source: str) -> dict[str, object]:
    """One valid ``dossier.received`` of ``source`` (unit ``DT.DEMO``, outside the
    simulator's units) for the printed curl line."""
    return {"specversion": "1.0", "id": "demo-http-1", "source": source,
            "type": "vn.gov.motcua.dossier.received", "time": "2025-06-02T08:00:00+07:00",
            "subject": "DEMO-HTTP-1",
            "data": {"unit_code": "DT.DEMO", "unit_level": "commune", "procedure_code": "P1",
                     "channel": "online", "processing_days": 2}}


def curl_line(url: str, token: str, source: str) -> str:
    """A shell line that POSTs :func:`example_event` to ``url`` with ``token`` (a token, or
    ``$TOKEN`` for the shell to expand: tokens are URL-safe, so double quotes suffice)."""
    body = orjson.dumps(example_event(source)).decode()
    return (f'curl -sS -X POST {url}/v1/events -H "Authorization: Bearer {token}"'
            f" -H 'Content-Type: application/cloudevents+json' -d {shlex.quote(body)}")


def usable_port(host: str, port: int, console: Console, what: str, setting: str) -> int:
    """``port`` if it can be bound on ``host``, else a free port, said on ``console`` with
    the service (``what``) and the ``setting`` that chooses its port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
            return port
        except OSError as exc:
            free = free_port()
            console.print(f"[yellow]{what} port {port} unavailable ({exc}); using {free} "
                          f"(set {setting})[/yellow]")
            return free


@contextmanager
def http_ingest(settings: Settings, bootstrap: str, console: Console, *,
                source: str = DEFAULT_SOURCE) -> Iterator[DemoIngest]:
    """The HTTP ingest in a daemon thread, with a demo token for ``source`` if none."""
    tokens = settings.tokens_file
    existing = [g.id for g in read_grants(tokens).values() if source in g.sources]
    token = None
    if existing:
        console.print(f"HTTP ingest tokens for {source}: {', '.join(existing)} (in {tokens}; "
                      f"a new one: motcua token add --source {source})")
    else:
        token, grant = add_token(tokens, [source])
        console.print(f"demo token {grant.id} for {source} (only its hash is kept in {tokens}; "
                      f"more with: motcua token add --source {source}):")
        console.print(token, highlight=False, soft_wrap=True)
    port = usable_port(settings.http_host, settings.http_port, console, "HTTP ingest",
                       "MOTCUA_HTTP_PORT")
    server = BackgroundServer(make_server(settings, bootstrap, port=port)).start()
    try:
        console.print(f"HTTP ingest: {server.url}/v1/events (OpenAPI: {server.url}/docs); try:")
        console.print(escape(curl_line(server.url, token or "$TOKEN", source)),
                      highlight=False, soft_wrap=True)
        def failure() -> str | None:
            if server.thread.is_alive():
                return None
            return f"the HTTP ingest (thread {server.thread.name}, {server.url}) stopped"

        yield DemoIngest(server.url, source, token, failure)
    finally:
        server.stop(timeout=STOP_TIMEOUT)


__all__ = ["DemoIngest", "curl_line", "example_event", "http_ingest"]
