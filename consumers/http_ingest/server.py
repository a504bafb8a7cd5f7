"""``motcua http``: the HTTP ingest served by uvicorn on ``MOTCUA_HTTP_HOST`` (default
127.0.0.1) and ``MOTCUA_HTTP_PORT`` (8088). uvicorn's own access log is off: the app writes
its structured one (:mod:`consumers.http_ingest.app`), which never holds tokens or bodies.
"""

from __future__ import annotations

import threading
from typing import Any

from consumers.http_ingest.app import create_app
from consumers.http_ingest.publisher import KafkaPublisher, Publisher
from consumers.http_ingest.tokens import TokenStore
from runtime.settings import Settings
from runtime.waiting import wait_for


def make_server(settings: Settings, bootstrap: str, *, host: str | None = None,
                port: int | None = None, publisher: Publisher | None = None,
                timeout: float = 10.0) -> Any:
    """A ``uvicorn.Server`` for the ingest (not started)."""
    import uvicorn

    app = create_app(settings, publisher or KafkaPublisher(settings, bootstrap, timeout=timeout),
                     TokenStore(settings.tokens_file))
    config = uvicorn.Config(app, host=host or settings.http_host,
                            port=settings.http_port if port is None else port,
                            access_log=False, log_level="warning", lifespan="on")
    return uvicorn.Server(config)


def url_of(server: Any) -> str:
    """``http://host:port`` of a configured server."""
    return f"http://{server.config.host}:{server.config.port}"


def serve(settings: Settings, bootstrap: str) -> None:
    """Run the ingest in this thread until SIGINT/SIGTERM."""
    make_server(settings, bootstrap).run()


class BackgroundServer:
    """The ingest in a daemon thread of this process (the demo, tests, benchmarks):
    ``start()`` returns once it listens; ``stop()`` shuts it down."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.thread = threading.Thread(target=server.run, name="motcua-http", daemon=True)

    @property
    def url(self) -> str:
        return url_of(self.server)

    def start(self, timeout: float = 20.0) -> BackgroundServer:
        self.thread.start()
        wait_for(lambda: self.server.started, timeout=timeout, poll=0.02,
                 what=f"the HTTP ingest on {self.url}")
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=timeout)


__all__ = ["BackgroundServer", "make_server", "serve", "url_of"]
