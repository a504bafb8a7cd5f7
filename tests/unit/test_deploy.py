"""The deployment files agree with the code (no Docker engine needed).

* docker-compose.yml parses; every service ``command`` names a registered ``motcua``
  command (and options that command has); the worker scales (no container_name, no host
  ports); one-shots and health checks are wired as intended;
* every ``MOTCUA_*`` variable in the compose file and deploy/env.example is a real
  :class:`~runtime.settings.Settings` field (nested ``topics__x`` included);
* every PromQL expression of the Grafana dashboards and alert rules uses only metric names
  scraped from *real* ``/metrics`` endpoints built from consumers/metrics.py and
  consumers/flush.py, and KPI label values that exist;
* the dashboards are what deploy/grafana/build_dashboards.py generates, with unique uids,
  unique panel ids, sane gridPos, the provisioned datasource uid and only defined variables.
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from prometheus_client import CollectorRegistry, start_http_server
from pydantic import BaseModel
from typer.testing import CliRunner

from kpi.counters import COUNT_KEYS, Counters
from kpi.ratios import RATIO_KEYS, fraction

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy" / "env.example"
GRAFANA = ROOT / "deploy" / "grafana"
PROMETHEUS = ROOT / "deploy" / "prometheus"

# --------------------------------------------------------------------------- helpers


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def motcua_services() -> dict[str, dict[str, Any]]:
    """Services running the project image (the ones whose command is a motcua command)."""
    return {name: svc for name, svc in services().items()
            if "${APP_IMAGE" in str(svc.get("image", ""))}


def cli_root() -> Any:
    """The click group behind ``motcua.cli.app`` (typer may ship its own click classes, so
    groups are recognised by their ``commands`` mapping)."""
    from motcua.cli import app

    root = typer.main.get_command(app)
    assert isinstance(getattr(root, "commands", None), dict)
    return root


def invocations(svc: dict[str, Any]) -> list[list[str]]:
    """The ``motcua`` argument lists a service runs: its command under the image's
    ENTRYPOINT, or each ``motcua …`` inside a shell command."""
    command = svc.get("command")
    assert command, "service has no command"
    if svc.get("entrypoint"):
        script = command if isinstance(command, str) else " ".join(command)
        found = []
        for part in re.split(r"&&|\|\||;|\|", script):
            words = shlex.split(part.replace("$$", "$"))
            if words and words[0] == "motcua":
                found.append(words[1:])
        return found
    return [shlex.split(command) if isinstance(command, str) else list(command)]


def resolve(args: list[str]) -> tuple[Any, list[str]]:
    """(click command, its remaining args) for ``motcua ARGS``; fails on unknown names."""
    cmd = cli_root()
    path = ["motcua"]
    while isinstance(getattr(cmd, "commands", None), dict):
        assert args, f"{' '.join(path)} needs a sub-command"
        name, args = args[0], args[1:]
        assert name in cmd.commands, (
            f"`{' '.join(path)} {name}` is not a command; known: {sorted(cmd.commands)}")
        cmd = cmd.commands[name]
        path.append(name)
    return cmd, args


def option_names(args: list[str]) -> list[str]:
    return [a.split("=", 1)[0] for a in args if a.startswith("--")]


# --------------------------------------------------------------------------- compose


def test_compose_parses_with_the_expected_services() -> None:
    svc = services()
    assert {"kafka", "topics", "postgres", "worker", "sink", "metrics", "simulator",
            "prometheus", "grafana"} <= set(svc)
    assert "sim" in svc["simulator"]["profiles"]


@pytest.mark.parametrize("service", sorted(motcua_services()))
def test_service_commands_exist(service: str) -> None:
    svc = motcua_services()[service]
    runs = invocations(svc)
    assert runs, f"{service}: no motcua command found"
    for args in runs:
        cmd, rest = resolve(args)
        known = {opt for p in cmd.params for opt in (*p.opts, *p.secondary_opts)}
        unknown = [o for o in option_names(rest) if o not in known]
        assert not unknown, f"{service}: `motcua {' '.join(args)}` has unknown {unknown}"


def test_worker_scales_and_one_shots_are_wired() -> None:
    svc = services()
    worker = svc["worker"]
    assert "container_name" not in worker and "ports" not in worker
    for name, s in svc.items():
        assert "container_name" not in s, name
    assert svc["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert svc["topics"]["restart"] == "no"
    for name in ("worker", "sink", "metrics", "simulator"):
        assert svc[name]["depends_on"]["topics"]["condition"] == \
            "service_completed_successfully", name
    assert svc["sink"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("kafka", "postgres", "sink", "metrics", "prometheus", "grafana"):
        assert "healthcheck" in svc[name], name
        assert svc[name]["restart"] == "unless-stopped", name
    assert any("postgresql/data" in v for v in svc["postgres"]["volumes"])


def test_kafka_is_single_node_kraft_with_every_required_variable() -> None:
    env = services()["kafka"]["environment"]
    required = {
        "KAFKA_NODE_ID", "KAFKA_PROCESS_ROLES", "KAFKA_LISTENERS",
        "KAFKA_ADVERTISED_LISTENERS", "KAFKA_CONTROLLER_LISTENER_NAMES",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "KAFKA_CONTROLLER_QUORUM_VOTERS",
        "KAFKA_INTER_BROKER_LISTENER_NAME", "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "KAFKA_AUTO_CREATE_TOPICS_ENABLE",
        "KAFKA_NUM_PARTITIONS", "KAFKA_LOG_DIRS", "CLUSTER_ID",
    }
    assert required <= set(env), required - set(env)
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert str(env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]).lower() == "false"
    for key in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
                "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
                "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"):
        assert str(env[key]) == "1", key
    # every listener named in LISTENERS has a protocol, the controller one included
    names = {entry.split("://")[0] for entry in env["KAFKA_LISTENERS"].split(",")}
    mapped = {pair.split(":")[0] for pair in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
              .split(",")}
    assert names <= mapped and env["KAFKA_CONTROLLER_LISTENER_NAMES"] in names
    volumes = services()["kafka"]["volumes"]
    assert any(v.endswith(":" + env["KAFKA_LOG_DIRS"]) for v in volumes)


def test_no_secrets_in_the_compose_file() -> None:
    """No password, secret or token in any environment, not even as a ${} substitution from
    .env (visible in `docker inspect`): each comes from a compose secret file, through a
    *_FILE variable, an Alertmanager *_file option or MOTCUA_SECRETS_DIR."""
    doc = compose()
    for name, svc in services().items():
        env = svc.get("environment") or {}
        for key, value in (env.items() if isinstance(env, dict) else []):
            if re.search(r"PASSWORD|SECRET|TOKEN", key) and not key.endswith("_DIR"):
                assert key.endswith("_FILE"), f"{name}: {key} in the environment"
                assert str(value).startswith("/run/secrets/"), f"{name}: {key}={value}"
                secret = str(value).removeprefix("/run/secrets/")
                assert secret in (svc.get("secrets") or []), f"{name}: {secret} not mounted"
        assert "MOTCUA_DATABASE_URL" not in env, name
    text = COMPOSE.read_text(encoding="utf-8")
    assert "PASSWORD:?" not in text and "PASSWORD}" not in text
    assert set(doc["secrets"]) >= {"postgres_password", "postgres_sink_password",
                                   "owner_database_url", "sink_database_url",
                                   "grafana_admin_password", "alertmanager_smtp_password"}
    assert all(spec["file"].startswith("./secrets/") for spec in doc["secrets"].values())
    example = {line.split("=", 1)[0] for line in ENV_EXAMPLE.read_text().splitlines()
               if "=" in line and not line.startswith("#")}
    assert not {k for k in example if re.search(r"PASSWORD|SECRET", k)}, example


def test_every_required_compose_variable_is_in_the_env_example() -> None:
    text = "\n".join(line for line in COMPOSE.read_text(encoding="utf-8").splitlines()
                     if not line.lstrip().startswith("#"))
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    example = {line.split("=", 1)[0] for line in ENV_EXAMPLE.read_text().splitlines()
               if "=" in line and not line.startswith("#")}
    assert required and required <= example, required - example


def _motcua_variables() -> dict[str, str]:
    """MOTCUA_* name → where it is set (compose environments, compose ${} uses, example)."""
    found: dict[str, str] = {}
    for name, svc in services().items():
        env = svc.get("environment") or {}
        keys = env.keys() if isinstance(env, dict) else [e.split("=", 1)[0] for e in env]
        for key in keys:
            if key.startswith("MOTCUA_"):
                found[key] = f"docker-compose.yml service {name}"
    for key in re.findall(r"\$\{(MOTCUA_[A-Z0-9_]+)", COMPOSE.read_text(encoding="utf-8")):
        found.setdefault(key, "docker-compose.yml substitution")
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        key = line.split("=", 1)[0].strip()
        if key.startswith("MOTCUA_") and not line.startswith("#"):
            found.setdefault(key, "deploy/env.example")
    # secret files read through MOTCUA_SECRETS_DIR: /run/secrets/motcua_database_url
    for name, svc in services().items():
        for entry in svc.get("secrets") or []:
            target = entry.get("target", entry["source"]) if isinstance(entry, dict) else entry
            if target.startswith("motcua_"):
                found.setdefault(target.upper(), f"docker-compose.yml secret of {name}")
    return found


def test_motcua_variables_are_settings_fields() -> None:
    from runtime.settings import Settings

    found = _motcua_variables()
    assert {"MOTCUA_KAFKA_BOOTSTRAP", "MOTCUA_DATABASE_URL", "MOTCUA_TOPIC_PARTITIONS",
            "MOTCUA_TOPICS__EVENTS"} <= set(found)
    for var, where in found.items():
        parts = var.removeprefix("MOTCUA_").lower().split("__")
        model: Any = Settings
        for part in parts:
            assert isinstance(model, type) and issubclass(model, BaseModel), \
                f"{var} ({where}): {part!r} is below a non-model field"
            assert part in model.model_fields, f"{var} ({where}) is not a Settings field"
            model = model.model_fields[part].annotation


def test_env_example_values_build_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from runtime.settings import load_settings

    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.startswith("MOTCUA_"):
            key, _, value = line.partition("=")
            monkeypatch.setenv(key, value)
    settings = load_settings()
    assert settings.topics.events == "motcua.events.v1"
    assert settings.topic_partitions >= 1


# --------------------------------------------------------------------------- topics command


def test_topics_create_refuses_without_a_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    from motcua.cli import app

    monkeypatch.delenv("MOTCUA_KAFKA_BOOTSTRAP", raising=False)
    result = CliRunner().invoke(app, ["topics", "create"])
    assert result.exit_code == 2
    assert "MOTCUA_KAFKA_BOOTSTRAP" in result.output


# --------------------------------------------------------------------------- metrics


@pytest.fixture(scope="module")
def scraped() -> Iterator[dict[str, set[str]]]:
    """Sample names scraped over HTTP from the two real endpoints: ``motcua metrics``
    (:func:`consumers.metrics.serve_metrics`: health collector and KPI board) and
    ``motcua sink --metrics-port`` (prometheus_client's server with SinkMetrics)."""
    from datetime import datetime

    from consumers.flush import SinkMetrics
    from consumers.health import HealthCollector, PipelineHealth
    from consumers.kpi_board import KpiBoard
    from kpi.report import build_report
    from tests.scrape import get, samples, scrape

    now = datetime.fromisoformat("2025-05-20T10:00:00+07:00").timestamp()
    counts = dict.fromkeys(COUNT_KEYS, 3) | {"received": 10, "resolved": 6, "in_progress": 4}
    board = KpiBoard()
    groups = [{"id": "progress", "name": "Tiến độ, kết quả giải quyết", "points": 12.5,
               "max_points": 20}]  # the report's scores (kpi.report), as a catalog gives them
    for period in ("2025-05", "2025-Q2", "2025"):
        board.put(build_report("U1", period, Counters.from_mapping(counts), now,
                               level="commune")
                  | {"catalog": "portal-766-2026@2026-01-01", "groups": groups,
                     "total_points": 12.5, "total_max_points": 20})
    metrics_registry = CollectorRegistry()
    health = PipelineHealth(dlq_records=5, lag={("motcua-sql-sink", "motcua.events.v1"): 9},
                            newest_event_ts=now - 12)
    HealthCollector(lambda: health, clock=lambda: now, registry=metrics_registry)
    sink_registry = CollectorRegistry()
    sink = SinkMetrics(sink_registry)
    sink.batch_seconds.observe(0.1)
    sink.db_errors.inc()
    sink.records.labels("event").inc(4)

    out: dict[str, set[str]] = {}
    out["metrics"] = {s[0] for s in samples(scrape(metrics_registry, board, now))}
    server, _thread = start_http_server(0, addr="127.0.0.1", registry=sink_registry)
    try:
        text = get(f"http://127.0.0.1:{server.server_port}/metrics")
    finally:
        server.shutdown()
        server.server_close()
    out["sink"] = {s[0] for s in samples(text)}
    yield out


def test_endpoint_exports_the_documented_families(scraped: dict[str, set[str]]) -> None:
    assert {"motcua_kpi_ratio", "motcua_kpi_items", "motcua_score_group_points",
            "motcua_score_group_max_points", "motcua_score_total_points",
            "motcua_score_total_max_points", "motcua_office_open", "motcua_dlq_records",
            "motcua_consumer_lag", "motcua_newest_event_age_seconds",
            "motcua_health_probe_up"} <= scraped["metrics"]
    assert {"motcua_sink_batch_seconds_bucket", "motcua_sink_batch_seconds_count",
            "motcua_sink_db_errors_total", "motcua_sink_records_total"} <= scraped["sink"]


PROMQL_WORDS = {
    # functions
    "abs", "absent", "absent_over_time", "avg_over_time", "ceil", "changes", "clamp",
    "clamp_max", "clamp_min", "count_over_time", "day_of_month", "day_of_week", "delta",
    "deriv", "exp", "floor", "histogram_quantile", "holt_winters", "hour", "idelta",
    "increase", "irate", "label_join", "label_replace", "last_over_time", "ln", "log2",
    "log10", "max_over_time", "min_over_time", "minute", "month", "predict_linear",
    "quantile_over_time", "rate", "resets", "round", "scalar", "sgn", "sort", "sort_desc",
    "sqrt", "stddev_over_time", "sum_over_time", "time", "timestamp", "vector", "year",
    "present_over_time",
    # aggregations and keywords
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "by", "without", "on", "ignoring", "group_left",
    "group_right", "and", "or", "unless", "bool", "offset", "inf", "nan",
}
PROMETHEUS_SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
NODE_EXPORTER = {"node_filesystem_avail_bytes", "node_filesystem_size_bytes"}
"""Host metrics of the compose service node-exporter (job "node"), for the disk alerts."""


def metric_names(expr: str) -> set[str]:
    """Identifiers of ``expr`` that name metrics (strings, label matchers, ranges,
    grouping clauses, Grafana variables and numbers removed)."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", " ", text)
    idents = set(re.findall(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", text))
    return {i for i in idents if i.lower() not in PROMQL_WORDS}


def kpi_label_uses(expr: str) -> list[tuple[str, list[str]]]:
    """(metric, kpi values) for each ``metric{…kpi="x"…}`` / ``kpi=~"a|b"`` selector."""
    uses = []
    for metric, body in re.findall(r"([A-Za-z_:][A-Za-z0-9_:]*)\{([^}]*)\}", expr):
        m = re.search(r'\bkpi(=~|=)"([^"]*)"', body)
        if m:
            uses.append((metric, m.group(2).split("|") if m.group(1) == "=~"
                         else [m.group(2)]))
    return uses


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text(encoding="utf-8"))
            for p in sorted((GRAFANA / "dashboards").glob("*.json"))}


def all_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dashboard.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def dashboard_exprs() -> list[tuple[str, str]]:
    return [(f"{name} / {panel['title']}", t["expr"])
            for name, d in dashboards().items() for panel in all_panels(d)
            for t in panel.get("targets", [])]


def rule_exprs() -> list[tuple[str, str]]:
    out = []
    for path in sorted((PROMETHEUS / "rules").glob("*.y*ml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for group in doc.get("groups", []):
            for rule in group.get("rules", []):
                out.append((f"{path.name} / {rule.get('alert') or rule.get('record')}",
                            str(rule["expr"])))
    return out


def recorded_names() -> set[str]:
    """Series names the rule files record (``motcua:…``): usable in other expressions."""
    out = set()
    for path in sorted((PROMETHEUS / "rules").glob("*.y*ml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        out |= {rule["record"] for group in doc.get("groups", [])
                for rule in group.get("rules", []) if "record" in rule}
    return out


def test_metric_name_extraction() -> None:
    expr = ('histogram_quantile(0.95, sum by (le) (rate(motcua_sink_batch_seconds_bucket'
            '[$__rate_interval]))) / on(job) group_left up{job=~"motcua.*"} '
            '+ max(motcua_kpi_ratio{unit="$unit",kpi=~"a|b"}) offset 1h')
    assert metric_names(expr) == {"motcua_sink_batch_seconds_bucket", "up",
                                  "motcua_kpi_ratio"}
    assert kpi_label_uses(expr) == [("motcua_kpi_ratio", ["a", "b"])]


def test_queries_use_only_exported_metrics(scraped: dict[str, set[str]]) -> None:
    exported = set().union(*scraped.values())
    bases = {re.sub(r"_(bucket|sum|count|total|created)$", "", n) for n in exported}
    exprs = dashboard_exprs() + rule_exprs()
    assert len(exprs) > 20
    recorded = recorded_names()
    problems = []
    for where, expr in exprs:
        for name in metric_names(expr) - PROMETHEUS_SYNTHETIC - NODE_EXPORTER - recorded:
            if name not in exported:
                hint = " (exists with another suffix)" if name in bases or re.sub(
                    r"_(bucket|sum|count|total)$", "", name) in bases else ""
                problems.append(f"{where}: {name}{hint}")
        for metric, values in kpi_label_uses(expr):
            allowed = set(RATIO_KEYS) if metric == "motcua_kpi_ratio" else set(COUNT_KEYS)
            problems.extend(f"{where}: {metric} has no kpi={v!r}"
                            for v in values if v not in allowed)
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- grafana


def _build_module() -> Any:
    spec = importlib.util.spec_from_file_location("build_dashboards",
                                                  GRAFANA / "build_dashboards.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_dashboards_are_the_generated_ones() -> None:
    generated = _build_module().render()
    committed = {p.name: p.read_text(encoding="utf-8")
                 for p in (GRAFANA / "dashboards").glob("*.json")}
    assert committed == generated, "run python deploy/grafana/build_dashboards.py"


def test_dashboard_ratio_formulas_match_kpi_ratios() -> None:
    ratios = _build_module().RATIOS
    assert set(ratios) == set(RATIO_KEYS)
    rng = random.Random(766)
    for _ in range(50):
        counts = {k: rng.randint(0, 50) for k in COUNT_KEYS}
        for key, (_title, plus, minus, den) in ratios.items():
            num = sum(counts[k] for k in plus) - sum(counts[k] for k in minus)
            assert (num, sum(counts[k] for k in den)) == fraction(key, counts), key


def provisioned_datasource_uids() -> set[str]:
    doc = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml")
                         .read_text(encoding="utf-8"))
    return {ds["uid"] for ds in doc["datasources"]}


def test_provisioning_points_at_the_mounted_dashboards() -> None:
    assert "prometheus" in provisioned_datasource_uids()
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "motcua.yml")
                              .read_text(encoding="utf-8"))["providers"][0]
    mounts = dict(v.rsplit(":", 2)[:2] if v.count(":") == 2 else v.split(":", 1)
                  for v in services()["grafana"]["volumes"])
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    assert any(v.startswith("./deploy/prometheus:/etc/prometheus")
               for v in services()["prometheus"]["volumes"])


BUILTIN_VARS = {"__rate_interval", "__interval", "__interval_ms", "__range", "__range_s",
                "__range_ms", "__url_time_range", "__from", "__to", "__dashboard",
                "__name", "__org", "__user", "timeFilter", "__field", "__series",
                "__value", "__data", "__cell"}


def used_variables(obj: Any) -> set[str]:
    text = json.dumps(obj, ensure_ascii=False)
    names = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    names |= set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", text))
    return {n for n in names if n not in BUILTIN_VARS and not n.startswith("__")}


def test_dashboard_structure() -> None:
    boards = dashboards()
    assert {"motcua-overview.json", "motcua-unit.json", "motcua-pipeline.json"} <= set(boards)
    uids = [d["uid"] for d in boards.values()]
    assert len(uids) == len(set(uids))
    ds_uids = provisioned_datasource_uids()
    for name, d in boards.items():
        panels = all_panels(d)
        ids = [p["id"] for p in panels]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        for p in panels:
            grid = p["gridPos"]
            assert all(isinstance(grid[k], int) for k in ("h", "w", "x", "y")), p["title"]
            assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24, p["title"]
            if p["type"] == "row":
                continue
            assert p.get("title") and p.get("description"), f"{name}: panel {p['id']}"
            assert p["targets"], p["title"]
            for ds in [p.get("datasource"), *(t.get("datasource") for t in p["targets"])]:
                assert ds and ds["uid"] in ds_uids, f"{name} / {p['title']}: {ds}"
        # no two panels overlap
        cells: dict[tuple[int, int], str] = {}
        for p in panels:
            g = p["gridPos"]
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    assert (x, y) not in cells, f"{name}: {p['title']} overlaps {cells[(x, y)]}"
                    cells[(x, y)] = p["title"]
        variables = d["templating"]["list"]
        defined = {v["name"] for v in variables}
        for v in variables:
            if v["type"] == "query":
                assert v["datasource"]["uid"] in ds_uids
        missing = used_variables({"panels": panels, "templating": variables}) - defined
        assert not missing, f"{name}: undefined variables {missing}"


def kpi_selectors(expr: str) -> list[str]:
    """The label-matcher bodies of every ``motcua_kpi_ratio{…}`` / ``motcua_kpi_items{…}``
    / ``motcua_score_…{…}`` selector of ``expr`` (a bare name is an empty body; braces
    inside quoted values, as in ``period=~"[0-9]{4}"``, are part of the body)."""
    matcher = (r'(motcua_(?:kpi_(?:ratio|items)|score_[a-z_]+))'
               r'(?:\{((?:"(?:\\.|[^"\\])*"|[^}"])*)\})?')
    return [body for _name, body in re.findall(matcher, expr)]


def test_kpi_dashboards_pick_the_scope_own_by_default() -> None:
    """docs/contract.md: every KPI panel shows one scope, the one the user picks in the
    ``scope`` variable — the unit's own figures by default, or its total."""
    for name in ("motcua-overview.json", "motcua-unit.json"):
        board = dashboards()[name]
        var = next(v for v in board["templating"]["list"] if v["name"] == "scope")
        assert var["type"] == "custom" and not var["multi"] and not var["includeAll"]
        assert [o["value"] for o in var["options"]] == ["own", "total"]
        assert var["current"]["value"] == "own"
        exprs = [t["expr"] for p in all_panels(board) for t in p.get("targets", [])]
        selectors = [body for e in exprs for body in kpi_selectors(e)]
        assert selectors, name
        assert all('scope="$scope"' in body for body in selectors), (name, selectors)


def test_alerts_read_own_figures_and_record_province_totals() -> None:
    """No double alert from totals: every alert on a KPI gauge selects ``scope="own"``;
    the recording rules of province totals select ``scope="total"`` and the province
    level."""
    alerts = records = 0
    for path in sorted((PROMETHEUS / "rules").glob("*.y*ml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for group in doc.get("groups", []):
            for rule in group.get("rules", []):
                selectors = kpi_selectors(str(rule["expr"]))
                if not selectors:
                    continue
                if "alert" in rule:
                    alerts += 1
                    assert all('scope="own"' in b for b in selectors), rule["alert"]
                else:
                    records += 1
                    assert rule["record"].startswith(("motcua:province_kpi_",
                                                      "motcua:province_score_"))
                    assert all('scope="total"' in b and 'level="province"' in b
                               for b in selectors), rule["record"]
    assert alerts == 3 and records == 4


def _rule_list() -> list[dict[str, Any]]:
    """Every rule of the rule files, in file and group order."""
    out: list[dict[str, Any]] = []
    for path in sorted((PROMETHEUS / "rules").glob("*.y*ml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for group in doc.get("groups", []):
            out.extend(group.get("rules", []))
    return out


def national_sum(keys: list[str]) -> str:
    op = "=" if len(keys) == 1 else "=~"
    return f'sum by (period, view) (motcua:national_kpi_items{{kpi{op}"{"|".join(keys)}"}})'


def test_national_totals_sum_the_province_totals_and_recompute_ratios() -> None:
    """National = the sum over provinces of their totals (the recorded, de-duplicated
    ``motcua:province_kpi_items``); each ratio of kpi.ratios has one rule, recomputed from
    the summed counts with the formula of kpi.ratios (checked on random counts), with no
    sample when the denominator is 0. The rules come after the province ones in the same
    group, so one evaluation sees the other's output."""
    rules = _rule_list()
    names = [r.get("record") for r in rules]
    counts = [r for r in rules if r.get("record") == "motcua:national_kpi_items"]
    assert [" ".join(str(r["expr"]).split()) for r in counts] == \
        ["sum by (period, view, kpi) (motcua:province_kpi_items)"]
    ratios = [r for r in rules if r.get("record") == "motcua:national_kpi_ratio"]
    by_key = {r["labels"]["kpi"]: r for r in ratios}
    assert len(by_key) == len(ratios) and set(by_key) == set(RATIO_KEYS)
    first_ratio = names.index("motcua:national_kpi_ratio")
    assert names.index("motcua:province_kpi_items") < names.index(
        "motcua:national_kpi_items") < first_ratio
    assert names[first_ratio:first_ratio + len(ratios)] == \
        ["motcua:national_kpi_ratio"] * len(ratios)
    rng = random.Random(16)
    samples = [{k: rng.randint(0, 40) for k in COUNT_KEYS} for _ in range(50)]
    for key, rule in by_key.items():
        expr = " ".join(str(rule["expr"]).split())
        sets = [s.split("|") for s in re.findall(
            r'motcua:national_kpi_items\{kpi=~?"([^"]*)"\}', expr)]
        assert len(sets) in (2, 3), (key, expr)
        plus, minus, den = sets[0], sets[1:-1], sets[-1]
        num = national_sum(plus)
        if minus:
            num = f"({num} - {national_sum(minus[0])})"
        assert expr == f"{num} / ({national_sum(den)} > 0)", key
        for c in samples:
            got = (sum(c[k] for k in plus) - sum(c[k] for m in minus for k in m),
                   sum(c[k] for k in den))
            assert got == fraction(key, c), key


def test_unit_pickers_list_units_from_a_metric_every_unit_has() -> None:
    """Units (and levels) are listed from ``motcua_kpi_items{kpi="received"}``, which every
    served snapshot has, not from ``motcua_kpi_ratio``: a unit whose denominators are all 0
    has no ratio series and would vanish from the picker (issue 16). Checked on the real
    exposition: such a unit has the count series and no ratio series."""
    from datetime import datetime

    from consumers.kpi_board import KpiBoard
    from kpi.report import build_report
    from tests.scrape import samples

    pickers = {(name, v["name"]): v["query"]["query"]
               for name, d in dashboards().items() for v in d["templating"]["list"]
               if v["type"] == "query" and v["name"] in ("unit", "level")}
    assert pickers == {
        ("motcua-overview.json", "level"):
            'label_values(motcua_kpi_items{kpi="received"}, level)',
        ("motcua-overview.json", "unit"):
            'label_values(motcua_kpi_items{kpi="received",level="$level"}, unit)',
        ("motcua-unit.json", "unit"): 'label_values(motcua_kpi_items{kpi="received"}, unit)',
    }
    now = datetime.fromisoformat("2025-05-20T10:00:00+07:00").timestamp()
    board = KpiBoard()
    board.put(build_report("EMPTY", "2025-05", Counters.from_mapping({}), now,
                           level="commune"))
    exposed = samples(board.exposition(["2025-05"]).decode())
    units = {(name, dict(labels).get("kpi")): dict(labels)["unit"]
             for name, labels, _value in exposed}
    assert units.get(("motcua_kpi_items", "received")) == "EMPTY"
    assert not [s for s in exposed if s[0] == "motcua_kpi_ratio"]


# --------------------------------------------------------------------------- prometheus


def test_prometheus_targets_are_compose_services() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    assert any("rules/" in f for f in config.get("rule_files", []))
    svc = services()
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            for tgt in static["targets"]:
                host, _, port = tgt.partition(":")
                assert host in svc, f"job {job['job_name']}: {tgt} is no compose service"
                exposed = {str(p) for p in svc[host].get("expose", [])}
                assert port in exposed, f"job {job['job_name']}: {host} does not expose {port}"


def test_sink_metrics_are_scraped() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    targets = {t for job in config["scrape_configs"] for s in job.get("static_configs", [])
               for t in s["targets"]}
    assert "sink:9465" in targets
