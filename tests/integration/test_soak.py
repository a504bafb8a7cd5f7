"""Soak runs of the whole embedded stack (:mod:`motcua.soak`): its own embedded broker, the
stream worker as a child process, the SQL sink into PostgreSQL and ``/metrics`` in this
process, fed 1,000 simulated events/s (duplicates and invalid lines included).

* the short form (``make test``) produces for 60 s;
* the long form (``make soak``) for ``MOTCUA_SOAK_MINUTES`` minutes (default 10).

Both print a status line every few seconds (RSS and CPU of broker, worker and this process,
consumer lag of the pipeline and the sink, freshness medians) and the figures at the end,
and fail on any loss, duplication or mismatch with the batch report of exactly the lines
produced — in the live snapshots, in the SQL store, in the stored events or on the DLQ.
The run's files (``produced.jsonl``, ``worker.log``, ``soak.json``) go to a directory of
its own (``/tmp/motcua-soak-*``, not pytest's ``tmp_path``: a concurrent pytest session can
prune those mid-run), removed after a clean run and kept when it fails.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import orjson
import pytest

from motcua.soak import SoakOptions, SoakResult, run_soak
from tests.pgschema import pg_schema

pytestmark = pytest.mark.integration

SHORT_SECONDS = 60.0
LONG_MINUTES = float(os.environ.get("MOTCUA_SOAK_MINUTES", "10"))


def _soak(options: SoakOptions, workdir: Path, capsys: pytest.CaptureFixture[str]
          ) -> SoakResult:
    with pg_schema(prefix="soak") as url, capsys.disabled():
        print()
        result = run_soak(SoakOptions(**{**options.__dict__, "db_url": url}), workdir,
                          echo=lambda line: print(line, flush=True))
        for line in result.summary():
            print(f"[soak] {line}")
    (workdir / "soak.json").write_bytes(orjson.dumps(result.as_dict(),
                                                     option=orjson.OPT_INDENT_2))
    assert not result.problems, "\n".join(result.summary()) + f"\nfiles in {workdir}"
    assert result.rate >= 0.9 * options.rate, (
        f"the producer reached only {result.rate:,.0f} of {options.rate:,.0f} events/s")
    shutil.rmtree(workdir)
    return result


@pytest.fixture
def workdir() -> Path:
    """Removed by :func:`_soak` after a clean run only: a failed run's files stay."""
    return Path(tempfile.mkdtemp(prefix="motcua-soak-"))


def test_soak_short(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _soak(SoakOptions(seconds=SHORT_SECONDS, report_every=10.0), workdir, capsys)


@pytest.mark.soak
@pytest.mark.timeout(int(LONG_MINUTES * 60) + 1200)
def test_soak_long(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _soak(SoakOptions(seconds=LONG_MINUTES * 60, report_every=10.0), workdir, capsys)


def test_lag_line_names_every_topic_short() -> None:
    """The progress line's lag names each topic by its short name, the links topic too."""
    from motcua.soak.monitor import _short_lag
    from runtime.settings import load_settings

    settings = load_settings(topics={"events": "e.x", "dlq": "d.x", "contributions": "c.x",
                                     "kpi": "k.x"})
    t = settings.topics
    lag = {t.events: 1200, t.links: 3, t.contributions: 0, t.dlq: 0, t.kpi: 7}
    assert _short_lag(lag, settings) == "(ev 1,200 links 3 contrib 0 dlq 0 kpi 7)"
