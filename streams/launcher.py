"""The one way to start a pipeline worker as a child process (``python -m streams.run``).

faust owns its event loop and signal handlers, so the demo, the soak run, the benchmarks
and the tests all run the worker as a child process with the same settings (passed through
``MOTCUA_*`` variables, :meth:`runtime.settings.Settings.as_env`) and stop it with SIGTERM,
then SIGKILL (:func:`runtime.broker.stop_process`). It is started with
:func:`runtime.children.spawn`: it dies with the process that started it, however that
process ends (SIGKILL included).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from runtime.broker import stop_process
from runtime.children import spawn
from runtime.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def worker_env(settings: Settings, bootstrap: str, env: Mapping[str, str] | None = None
               ) -> dict[str, str]:
    """The environment of a worker child: this one's, then the settings', then ``env``.
    The worker runs in the project's directory, so a relative data or state directory is
    handed over as this process sees it (absolute)."""
    dirs = {"MOTCUA_DATA_DIR": str(Path(settings.data_dir).absolute())}
    if settings.state_dir is not None:
        dirs["MOTCUA_STATE_DIR"] = str(Path(settings.state_dir).absolute())
    return {**os.environ, **settings.as_env(), **dirs, "MOTCUA_KAFKA_BOOTSTRAP": bootstrap,
            **(env or {})}


def spawn_worker(
    settings: Settings,
    bootstrap: str,
    log: Path,
    *,
    loglevel: str = "warn",
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start one worker on ``bootstrap``; its output is appended to ``log``. ``env`` adds
    or overrides environment variables (after the settings': :func:`worker_env`)."""
    child_env = worker_env(settings, bootstrap, env)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return spawn([sys.executable, "-m", "streams.run", loglevel], cwd=PROJECT_ROOT,
                     env=child_env, stdout=out, stderr=subprocess.STDOUT)


@contextmanager
def worker_process(
    settings: Settings,
    bootstrap: str,
    log: Path,
    *,
    loglevel: str = "warn",
    env: Mapping[str, str] | None = None,
    stop_timeout: float = 20.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """:func:`spawn_worker` for the duration of a ``with`` block, stopped at its end."""
    proc = spawn_worker(settings, bootstrap, log, loglevel=loglevel, env=env)
    try:
        yield proc
    finally:
        stop_process(proc, timeout=stop_timeout)
