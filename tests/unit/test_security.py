"""Security checks (issue #8): secrets never shown, no personal data in /metrics, SQL only
through bound parameters."""

from __future__ import annotations

import ast
import contextlib
import io
import logging
import signal
import threading
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from rich.console import Console
from typer.testing import CliRunner

from consumers.flush import SinkMetrics
from consumers.health import HealthCollector, PipelineHealth
from consumers.kpi_board import KpiBoard, current_periods
from consumers.sink import Sink
from consumers.store import make_engine
from kpi.batch import aggregate, fold_lines
from kpi.report import build_report, report_criteria
from kpi.units import CalendarBook
from runtime.rdkafka import rdkafka_client_config
from runtime.settings import Settings, shown_url
from tests.eventkit import event_dict
from tests.scrape import scrape

ROOT = Path(__file__).resolve().parents[2]

PASSWORD = "S3cr3t-Pa55w0rd-xyzzy"
DB_PASSWORD = "Db-Pa55-plugh"
DB_URL = f"postgresql+psycopg://motcua:{DB_PASSWORD}@127.0.0.1:1/motcua"


def _settings(**over: Any) -> Settings:
    opts: dict[str, Any] = dict(
        kafka_bootstrap="kafka:9093", kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username="motcua",
        kafka_sasl_password=PASSWORD, database_url=DB_URL,
    )
    opts.update(over)
    return Settings(**opts)


def _assert_hidden(text: str) -> None:
    assert PASSWORD not in text
    assert DB_PASSWORD not in text


# --------------------------------------------------------------------------- secrets


def test_secrets_are_secret_str_and_never_shown() -> None:
    s = _settings()
    assert isinstance(s.kafka_sasl_password, SecretStr)
    assert isinstance(s.database_url, SecretStr)
    printed = io.StringIO()
    console = Console(file=printed, width=200)
    console.print(s)
    console.print(s.model_dump())
    for shown in (repr(s), str(s), s.model_dump_json(), str(s.model_dump()), f"{s}",
                  f"{s!r}", printed.getvalue(), s.database_url_shown()):
        _assert_hidden(shown)
    assert s.database_url_shown() == "postgresql+psycopg://motcua:***@127.0.0.1:1/motcua"
    assert shown_url("not a url at all " + DB_PASSWORD) == "<unparsable database URL>"


def test_secrets_reach_the_client_libraries_in_plain() -> None:
    s = _settings()
    rd = rdkafka_client_config(s, "127.0.0.1:9092")  # every confluent-kafka client's
    assert rd["sasl.password"] == PASSWORD
    assert rd["sasl.username"] == "motcua"
    assert s.database_url.get_secret_value() == DB_URL


def test_as_env_round_trips_the_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    original = _settings(kafka_ssl_cafile="/etc/ca.pem")
    env = original.as_env()
    assert env["MOTCUA_KAFKA_SASL_PASSWORD"] == PASSWORD  # for a child process only
    assert env["MOTCUA_DATABASE_URL"] == DB_URL
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Settings() == original
    assert Settings().kafka_sasl_password == SecretStr(PASSWORD)


def test_settings_validation_errors_do_not_echo_the_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("MOTCUA_KAFKA_SASL_PASSWORD", PASSWORD)
    monkeypatch.setenv("MOTCUA_DATABASE_URL", DB_URL)
    monkeypatch.setenv("MOTCUA_TOPIC_PARTITIONS", "zero")
    with pytest.raises(ValidationError) as info:
        Settings()
    _assert_hidden(str(info.value))


@contextlib.contextmanager
def _captured_logs() -> Iterator[list[str]]:
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Keep(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_sink_logs_of_an_unreachable_database_hide_the_password() -> None:
    """The sink's startup (migrations) against a database that refuses connections: it
    logs and retries; neither its logs nor the engine's repr carry the password."""
    s = _settings()
    engine = make_engine(s.database_url.get_secret_value(), connect_args={"connect_timeout": 2})
    sink = Sink(s, engine, "127.0.0.1:1", backoff_initial=0.05, backoff_cap=0.05)
    stop = threading.Event()
    with _captured_logs() as lines:
        runner = threading.Thread(target=sink.run, args=(stop,))
        runner.start()
        try:
            for _ in range(200):
                if any("database unavailable" in line for line in lines):
                    break
                stop.wait(0.05)
        finally:
            stop.set()
            runner.join(10)
    engine.dispose()
    assert any("database unavailable" in line for line in lines), lines
    _assert_hidden("\n".join(lines) + repr(engine) + str(engine.url))


def test_sink_command_output_hides_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """``motcua sink`` prints where it writes; the URL is shown with ``***``."""
    import consumers.sink
    import runtime.broker
    import runtime.topics
    from motcua.commands import sink as sink_command

    handed: list[str] = []

    @contextlib.contextmanager
    def fake_bootstrap(_settings: Settings) -> Iterator[str]:
        yield "127.0.0.1:1"

    def fake_run_sink(_settings: Settings, _bootstrap: str, db_url: str, *_: Any,
                      **__: Any) -> Any:
        handed.append(db_url)
        logging.getLogger("consumers.sink").info("sink running")
        return type("Result", (), {"batches": 0})()

    monkeypatch.setattr(signal, "signal", lambda *_: None)  # keep pytest's Ctrl-C
    monkeypatch.setattr(runtime.broker, "bootstrap_for", fake_bootstrap)
    monkeypatch.setattr(runtime.topics, "ensure_topics", lambda *a, **k: None)
    monkeypatch.setattr(consumers.sink, "run_sink", fake_run_sink)
    app = typer.Typer()
    sink_command.register(app)

    @app.callback()
    def _root() -> None:
        pass

    env = {"MOTCUA_KAFKA_SASL_PASSWORD": PASSWORD}
    with _captured_logs() as lines:
        result = CliRunner().invoke(app, ["sink", "--db", DB_URL], env=env)
    assert result.exit_code == 0, result.output
    assert handed == [DB_URL]  # the engine gets the real URL
    assert "postgresql+psycopg://motcua:***@127.0.0.1:1/motcua" in result.output
    _assert_hidden(result.output + "\n".join(lines))


def test_stream_worker_hands_faust_the_plain_password() -> None:
    from streams.app import _credentials

    creds = _credentials(_settings(kafka_security_protocol="SASL_PLAINTEXT"))
    assert creds.password == PASSWORD


# --------------------------------------------------------------------------- /metrics

CITIZEN: dict[str, Any] = {  # recognisable strings that must never reach /metrics
    "codes": ["HS-NGUYENVANAN-0912345678", "000.00.23.H16-250429-SECRET1"],
    "ids": ["evt-cccd-079123456789", "evt-passport-C1234567"],
    "source": "urn:motcua:dvc:leak-test-source",
    "reason": "Công dân Nguyễn Văn An, CCCD 079123456789, SĐT 0912345678",
    "apology": "THU-XIN-LOI-Tran-Thi-Binh",
    "gateway": "VNPAY-TXN-88887777",
}


def _citizen_events() -> list[bytes]:
    code_a, code_b = CITIZEN["codes"]
    out = []
    for i, (type_, time_, code, data) in enumerate([
        ("dossier.received", "2025-05-05T09:00:00+07:00", code_a,
         {"unit_code": "DT.TANHONG", "unit_level": "district", "procedure_code": "1.0001",
          "channel": "online", "processing_days": 3, "fee_required": True}),
        ("dossier.supplement_requested", "2025-05-05T10:00:00+07:00", code_a,
         {"reason": CITIZEN["reason"]}),
        ("dossier.supplemented", "2025-05-06T10:00:00+07:00", code_a, {}),
        ("payment.completed", "2025-05-06T11:00:00+07:00", code_a,
         {"amount_vnd": 50000, "method": "online", "gateway": CITIZEN["gateway"]}),
        ("dossier.resolved", "2025-05-07T11:00:00+07:00", code_a, {"result_electronic": True}),
        ("feedback.rated", "2025-05-08T11:00:00+07:00", code_a, {"rating": "dissatisfied"}),
        ("dossier.received", "2025-05-05T09:00:00+07:00", code_b,
         {"unit_code": "DT.TANHONG", "unit_level": "district", "procedure_code": "1.0002",
          "channel": "direct", "processing_days": 1}),
        ("dossier.extended", "2025-05-06T09:00:00+07:00", code_b,
         {"new_due_at": "2025-05-12T17:00:00+07:00", "apology_ref": CITIZEN["apology"]}),
    ]):
        out.append(orjson.dumps(event_dict(type_, time_, code, source=CITIZEN["source"],
                                           id_=CITIZEN["ids"][i % 2] + f"-{i}", **data)))
    return out


def test_metrics_expose_no_dossier_identifiers_or_personal_data() -> None:
    now = datetime.fromisoformat("2025-05-20T10:00:00+07:00").timestamp()
    folded = fold_lines(_citizen_events())
    assert folded.valid == 8 and folded.invalid == 0
    agg = aggregate(folded.states(), now, CalendarBook())
    board = KpiBoard()
    for (unit, period), counters in agg.counters.items():
        counts = counters.to_dict()
        criteria = report_criteria(counts, agg.levels[unit], date(2025, 5, 20))
        board.put(build_report(unit, period, counters, now, criteria, level=agg.levels[unit]))
    assert len(board) == 3  # 2025-05, 2025-Q2, 2025

    registry = CollectorRegistry()
    SinkMetrics(registry)
    HealthCollector(lambda: PipelineHealth(dlq_records=2, lag={("g", "motcua.events.v1"): 0},
                                           newest_event_ts=now), registry=registry)
    text = scrape(registry, board, now)  # what GET /metrics answers
    assert 'unit="DT.TANHONG"' in text and "motcua_kpi_items{" in text
    secrets = [*CITIZEN["codes"], *CITIZEN["ids"], CITIZEN["source"], CITIZEN["reason"],
               CITIZEN["apology"], CITIZEN["gateway"], "079123456789", "0912345678",
               "NGUYENVANAN", "Nguyễn", "SECRET1", "1.0001", "1.0002"]
    for secret in secrets:
        assert secret not in text, secret
    labels: dict[str, set[str]] = {
        name: set() for name in ("unit", "unit_name", "level", "period", "scope", "view",
                                 "kpi", "group", "topic", "kind", "le", "catalog",
                                 "group_name")}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for name, value in sample.labels.items():
                assert name in labels, (family.name, name)
                labels[name].add(value)
    assert labels["unit"] == {"DT.TANHONG"}
    assert labels["period"] == set(current_periods(now))
    assert labels["level"] == {"district"}
    # v1.1 labels: which figures (own, as they were); a unit's name is public (the
    # registry's), and without a registry there is none (the label is empty: every series
    # of a family has the same labels); scores name a public catalog and its groups
    assert labels["scope"] == {"own"} and labels["view"] == {"as_was"}
    assert labels["unit_name"] == {""}


# --------------------------------------------------------------------------- SQL


SCANNED = ["consumers", "motcua", "streams", "kpi", "schemas"]
_SQL_CALLS = {"text", "literal_column", "execute", "executescript", "exec_driver_sql"}


def _dynamic(node: ast.expr) -> bool:
    """A string built at run time: an f-string, ``+`` / ``%`` on strings, ``.format()``."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.FormattedValue) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return not (isinstance(node.left, ast.Constant) and isinstance(node.right, ast.Constant))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr in ("format", "join", "replace") and isinstance(
            node.func.value, ast.Constant | ast.JoinedStr | ast.Name | ast.BinOp)
    return False


def sql_offenders(root: Path, packages: list[str]) -> list[str]:
    """``path:line: why`` for every SQL call whose statement is built from strings at run
    time, and every ``exec_driver_sql`` (raw SQL past SQLAlchemy's parameter binding)."""
    found = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text("utf-8"), str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else \
                    func.id if isinstance(func, ast.Name) else None
                if name not in _SQL_CALLS:
                    continue
                where = f"{path.relative_to(root)}:{node.lineno}"
                if name == "exec_driver_sql":
                    found.append(f"{where}: exec_driver_sql")
                elif node.args and _dynamic(node.args[0]):
                    found.append(f"{where}: {name}() of a string built at run time")
    return found


def test_sql_goes_only_through_bound_parameters() -> None:
    assert sql_offenders(ROOT, SCANNED) == []


def test_the_sql_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    bad = tmp_path / "pkg"
    bad.mkdir()
    (bad / "m.py").write_text(
        "from sqlalchemy import text\n"
        "def f(conn, code, table):\n"
        "    conn.execute(text(f\"SELECT * FROM dossiers WHERE code = '{code}'\"))\n"
        "    conn.execute(text('SELECT * FROM ' + table))\n"
        "    conn.execute(text('SELECT %s' % code))\n"
        "    conn.execute(text('SELECT {}'.format(code)))\n"
        "    conn.exec_driver_sql('SELECT 1')\n"
        "    cur.execute(f'DELETE FROM x WHERE id = {code}')\n"
        "    conn.execute(text('SELECT * FROM dossiers WHERE code = :c'), {'c': code})\n"
        "    conn.execute(text('SELECT ' 'constant'))\n",
        "utf-8",
    )
    found = sql_offenders(tmp_path, ["pkg"])
    assert sorted(int(f.split(":")[1]) for f in found) == [3, 4, 5, 6, 7, 8]
