"""The PostgreSQL server the tests and benchmarks use.

``MOTCUA_TEST_DATABASE_URL`` names a server and a database to administer it through
(default ``postgresql://postgres@127.0.0.1:5432/postgres``, trust auth). When it does not
answer, a throwaway server is started instead: Debian's ``postgresql`` package
(``/usr/lib/postgresql/*/bin``), ``initdb`` into a temporary directory, a free port on
127.0.0.1, trust auth, no fsync. So the tests need no server running, and setting
``MOTCUA_TEST_DATABASE_URL=postgresql://127.0.0.1:1/none`` forces the throwaway one.

:func:`database_url` gives each process (one pytest session, or one pytest-xdist worker) its
own database on that server, created on first use and dropped by :func:`close`.

The throwaway server is run by a supervisor process (``python -m tests.pgserver``) whose
stdin is a pipe from the process that needs the server. When that pipe closes, however its
owner ended (pytest finished, killed by pytest-timeout or by SIGKILL), the supervisor stops
the server and deletes its directory. The postmaster itself gets SIGQUIT (immediate
shutdown) if the supervisor dies (``PR_SET_PDEATHSIG``), so nothing is left running.

``initdb`` and ``postgres`` refuse to run as root: when run as root, the supervisor runs
them as the ``postgres`` user (created by the Debian package); any other user runs them as
itself.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

ENV = "MOTCUA_TEST_DATABASE_URL"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DIR_PREFIX = "motcua-testpg-"
OWNER_FILE = "supervisor.pid"
READY_TIMEOUT = 60.0
PR_SET_PDEATHSIG = 1


class PostgresMissing(RuntimeError):
    """No server answers and no throwaway one could be started (the tests do not skip)."""


def sqlalchemy_url(url: str) -> str:
    """``url`` with the driver SQLAlchemy should use (psycopg 3)."""
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(
        hide_password=False)


def libpq_url(url: str) -> str:
    """``url`` as libpq (psql, psycopg.connect) reads it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    """``url`` naming another database on the same server (SQLAlchemy form)."""
    return sqlalchemy_url(make_url(url).set(database=database).render_as_string(
        hide_password=False))


def with_address(url: str, host: str, port: int) -> str:
    """``url`` reaching the same database through ``host:port`` (e.g. a relay)."""
    return make_url(url).set(host=host, port=port).render_as_string(hide_password=False)


def address(url: str) -> tuple[str, int]:
    """(host, port) of the server ``url`` names."""
    parsed = make_url(url)
    return parsed.host or "127.0.0.1", parsed.port or 5432


def answers(url: str, timeout: int = 3) -> bool:
    """True when a connection to ``url`` succeeds within ``timeout`` seconds."""
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=timeout):
            return True
    except psycopg.Error:
        return False


# --- the supervisor: a separate process that owns the throwaway server ------------------

def _binaries() -> Path:
    """The newest ``/usr/lib/postgresql/<major>/bin`` holding ``initdb`` and ``postgres``
    (Debian), else the directory of ``initdb`` on the PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name)
                   if Path(p).parent.parent.name.isdigit() else 0)
    if not found and shutil.which("initdb") and shutil.which("postgres"):
        return Path(str(shutil.which("initdb"))).resolve().parent  # another distribution
    if not found:
        raise PostgresMissing(
            "no PostgreSQL answers and the Debian package is missing: "
            "`make debs` installs it (apt-get install postgresql)")
    return Path(found[-1]).parent


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_directories() -> None:
    """Delete throwaway directories whose supervisor is gone (it was SIGKILLed)."""
    for path in glob.glob(os.path.join(tempfile.gettempdir(), DIR_PREFIX + "*")):
        try:
            owner = int(Path(path, OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue
        if not _alive(owner):
            shutil.rmtree(path, ignore_errors=True)


def _demote() -> tuple[Callable[[], None], int | None]:
    """(what a child runs before exec, the uid it runs as or None).

    As root: become ``postgres``. Always: get SIGQUIT when the supervisor dies (set after
    the uid changes, which would clear it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    account = pwd.getpwnam("postgres") if os.geteuid() == 0 else None

    def before_exec() -> None:
        if account is not None:
            os.setgroups([])
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGQUIT)

    return before_exec, (account.pw_uid if account else None)


def _run_server(stop_when: Callable[[], None]) -> None:
    """initdb, start postgres, print its URL on stdout, call ``stop_when`` (blocks until
    the server is no longer needed), then stop the server and delete its directory."""
    binaries = _binaries()
    _remove_stale_directories()
    base = Path(tempfile.mkdtemp(prefix=DIR_PREFIX))
    postmaster: subprocess.Popen[bytes] | None = None
    try:
        (base / OWNER_FILE).write_text(f"{os.getpid()}\n")
        before_exec, uid = _demote()
        data, log = base / "data", base / "postgres.log"
        if uid is not None:
            os.chown(base, uid, -1)
        out = subprocess.run(
            [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
             "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
            preexec_fn=before_exec, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise PostgresMissing(f"initdb failed: {out.stdout}{out.stderr}")
        for attempt in range(5):
            port = _free_port()
            with open(log, "ab") as log_file:
                postmaster = subprocess.Popen(
                    [str(binaries / "postgres"), "-D", str(data), "-p", str(port),
                     "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={base}",
                     "-c", "fsync=off", "-c", "synchronous_commit=off",
                     "-c", "full_page_writes=off", "-c", "max_connections=300",
                     "-c", "shared_buffers=64MB"],
                    stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                    preexec_fn=before_exec, start_new_session=True)
            url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
            deadline = time.monotonic() + READY_TIMEOUT
            while postmaster.poll() is None and time.monotonic() < deadline:
                if answers(url, timeout=2):
                    break
                time.sleep(0.05)
            if postmaster.poll() is None and answers(url, timeout=2):
                break
            _stop(postmaster)
            postmaster = None
            if attempt == 4:
                raise PostgresMissing(
                    f"postgres did not start: {log.read_text(errors='replace')[-2000:]}")
        print(url, flush=True)
        stop_when()
    finally:
        if postmaster is not None:
            _stop(postmaster)
        shutil.rmtree(base, ignore_errors=True)


def _stop(postmaster: subprocess.Popen[bytes]) -> None:
    """Fast shutdown (SIGINT), SIGKILL after 10 s."""
    if postmaster.poll() is None:
        postmaster.send_signal(signal.SIGINT)
        try:
            postmaster.wait(10)
        except subprocess.TimeoutExpired:
            postmaster.kill()
            postmaster.wait()


def _supervise() -> None:
    """``python -m tests.pgserver``: serve until stdin closes (EOF) or SIGTERM."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the owner closes the pipe

    def on_term(_signum: int, _frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: let the clean-up finish
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)

    def until_stdin_closes() -> None:
        while sys.stdin.buffer.read(1):
            pass

    def stopping() -> None:
        until_stdin_closes()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the clean-up finish

    try:
        _run_server(stopping)
    except PostgresMissing as exc:
        print(f"ERROR {exc}", flush=True)
        raise SystemExit(1) from None


# --- the owner's side ----------------------------------------------------------------------

class ThrowawayServer:
    """A supervisor process and the URL of the server it runs (``postgres`` database)."""

    def __init__(self) -> None:
        root = Path(__file__).resolve().parents[1]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(root), *filter(None, [os.environ.get("PYTHONPATH")])]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.pgserver"], cwd=root, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("postgresql://"):
            self.process.kill()
            self.process.wait()
            raise PostgresMissing(line.removeprefix("ERROR ") or "the supervisor ended")
        self.url = line

    def stop(self, wait: float = 5.0) -> None:
        """Close the pipe: the supervisor stops the server and deletes its directory. Wait
        for that at most ``wait`` seconds; a slower supervisor finishes on its own (a
        pytest-xdist worker must end within 10 s of its last test, or it is interrupted)."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(wait)


class _State:
    server: ThrowawayServer | None = None
    admin_url: str | None = None
    database: str | None = None
    url: str | None = None


_state = _State()


def server_url() -> str:
    """The server to use: the configured one if it answers, else a throwaway one (started
    once per process). libpq form, naming a database to administer through."""
    if _state.admin_url is None:
        configured = os.environ.get(ENV) or DEFAULT_URL
        if answers(configured):
            _state.admin_url = libpq_url(configured)
        else:
            _state.server = ThrowawayServer()
            atexit.register(close)
            _state.admin_url = _state.server.url
    return _state.admin_url


def database_url() -> str:
    """This process's own database (SQLAlchemy URL), created on first use.

    If the configured account may not create databases, its own database is used (the
    tests isolate themselves in schemas, tests.pgschema)."""
    if _state.url is None:
        admin = server_url()
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        name = f"motcua_test_{worker}_{secrets.token_hex(4)}"
        try:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.errors.InsufficientPrivilege:
            _state.url = sqlalchemy_url(admin)
        else:
            _state.database = name
            _state.url = with_database(admin, name)
            atexit.register(close)
    return _state.url


def close() -> None:
    """Drop this process's database and stop the throwaway server (both if any); a
    throwaway server's database goes with its directory."""
    if _state.database is not None and _state.admin_url is not None and _state.server is None:
        with contextlib.suppress(psycopg.Error), psycopg.connect(
                _state.admin_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{_state.database}" WITH (FORCE)')
    _state.database = None
    _state.url = None
    if _state.server is not None:
        _state.server.stop()
        _state.server = None
        _state.admin_url = None


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    """For scripts (benchmarks): :func:`database_url` for the ``with`` block."""
    try:
        yield database_url()
    finally:
        close()


if __name__ == "__main__":
    _supervise()
