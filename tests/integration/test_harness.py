"""The test harness leaves nothing running (docs/testing.md, "Nothing left running").

A pytest run inside this test starts what a real test starts (an embedded broker and the
throwaway PostgreSQL, forced by ``MOTCUA_TEST_DATABASE_URL`` pointing at a closed port),
writes the pids of every process below it, and hangs until pytest-timeout ends it:

* ``thread`` method, under ``tests.reaper``: pytest-timeout ends the process with
  ``os._exit`` (no fixture or ``finally`` runs, as after SIGKILL);
* ``signal`` method, plain pytest: the test fails and pytest carries on to its end.

Either way, once the run has returned, none of those processes is alive."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runtime.waiting import wait_for
from tests import pgserver

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

HANGING_TEST = textwrap.dedent('''
    import os
    import time
    from pathlib import Path

    import pytest

    from runtime.broker import embedded_broker
    from tests import pgserver


    def descendants(pid):
        """Every process below ``pid`` (from /proc)."""
        children = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                ppid = int(stat[stat.rindex(")") + 2:].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
        found, todo = [], [pid]
        while todo:
            for child in children.get(todo.pop(), []):
                found.append(child)
                todo.append(child)
        return found


    @pytest.fixture
    def running():
        pgserver.database_url()
        with embedded_broker():
            yield


    def test_hangs(running):
        Path(os.environ["PIDS_FILE"]).write_text(" ".join(map(str, descendants(os.getpid()))))
        time.sleep(600)
''')


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


@pytest.mark.parametrize("method", ["thread", "signal"])
def test_a_test_killed_by_pytest_timeout_leaves_nothing_running(
        method: str, tmp_path: Path) -> None:
    (tmp_path / "test_hanging.py").write_text(HANGING_TEST)
    pids_file = tmp_path / "pids"
    env = {**os.environ, "PIDS_FILE": str(pids_file),
           pgserver.ENV: "postgresql://127.0.0.1:1/none",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("PYTEST_XDIST_WORKER", None)
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                  "-p", "no:xdist", "--rootdir", str(tmp_path), "-c", os.devnull,
                  "--timeout", "3", "--timeout-method", method, "-o", "timeout_func_only=true",
                  str(tmp_path / "test_hanging.py")]
    cmd = [sys.executable, "-m", "tests.reaper", *pytest_cmd] if method == "thread" \
        else pytest_cmd
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode != 0, done.stdout
    assert "Timeout" in done.stdout + done.stderr, done.stdout[-3000:] + done.stderr[-3000:]
    pids = [int(p) for p in pids_file.read_text().split()]
    assert len(pids) >= 3, pids  # the broker, the PostgreSQL supervisor and postmaster
    left = [pid for pid in pids if _alive(pid)]
    assert not left, [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in left]


def test_the_throwaway_postgresql_goes_with_its_owner_killed_by_sigkill() -> None:
    """No reaper: the supervisor sees its pipe close, stops the server, deletes its files."""
    env = {**os.environ, pgserver.ENV: "postgresql://127.0.0.1:1/none",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    owner = subprocess.Popen(
        [sys.executable, "-c", "import time\nfrom tests import pgserver\n"
         "print(pgserver.database_url(), flush=True)\ntime.sleep(600)"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        url = owner.stdout.readline().strip()
        assert pgserver.answers(url), url
        port = pgserver.address(url)[1]
        below = [p for p in Path("/proc").iterdir() if p.name.isdigit()
                 and f"-p\0{port}\0".encode() in _cmdline(p)]
        assert len(below) == 1, "one postmaster on the throwaway port"
        data_dir = Path(_cmdline(below[0]).split(b"\0")[2].decode())
        assert data_dir.is_dir()
    finally:
        owner.kill()
        owner.wait()
    wait_for(lambda: not _alive(int(below[0].name)) and not data_dir.parent.exists(),
             timeout=30, what="the throwaway server stopped and its directory deleted")
    assert not pgserver.answers(url, timeout=2)


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""
