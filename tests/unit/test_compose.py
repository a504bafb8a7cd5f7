"""docker-compose.yml keeps its production shape (issue 16), checked without a Docker
engine: the compose-spec JSON schema (tests/data/compose-spec.json, from
compose-spec/compose-spec commit 170098ba07d9, schema/compose-spec.json), one image build,
replicas, healthchecks, limits, stop grace, secrets through files, Alertmanager wiring, and
alerts that each have ``for:``, a runbook section and a promtool test case."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from runtime.liveness import heartbeat_path
from runtime.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
PROMETHEUS = ROOT / "deploy" / "prometheus"
RUNBOOK = ROOT / "docs" / "operations.md"
LONG_RUNNING = ("kafka", "postgres", "worker", "sink", "metrics", "http", "prometheus",
                "alertmanager", "node-exporter", "grafana")


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def motcua_services() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in services().items() if "${APP_IMAGE" in str(s.get("image", ""))}


def test_the_compose_file_follows_the_compose_spec() -> None:
    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
    jsonschema.Draft7Validator(schema).validate(compose())


def test_one_service_builds_the_one_image_the_others_never_pull() -> None:
    app = motcua_services()
    assert {"topics", "migrate", "worker", "sink", "metrics", "http", "simulator"} <= set(app)
    builders = [n for n, s in services().items() if "build" in s]
    assert builders == ["topics"]
    assert len({s["image"] for s in app.values()}) == 1
    assert all(s["pull_policy"] == "never" for s in app.values())
    # every other motcua service starts after the builder finished
    for name, svc in app.items():
        if name != "topics":
            assert svc["depends_on"]["topics"]["condition"] == \
                "service_completed_successfully", name


def test_workers_keep_their_count_across_up() -> None:
    worker = services()["worker"]
    assert worker["deploy"]["replicas"] == "${WORKER_REPLICAS:-1}"
    assert "container_name" not in worker and "ports" not in worker


def test_long_running_services_have_limits_grace_and_restart() -> None:
    svc = services()
    for name in LONG_RUNNING:
        s = svc[name]
        assert s["restart"] == "unless-stopped", name
        assert {"cpus", "memory"} <= set(s["deploy"]["resources"]["limits"]), name
    grace = {n: svc[n].get("stop_grace_period", "10s") for n in LONG_RUNNING}
    for name in ("kafka", "postgres"):
        assert int(grace[name].removesuffix("s")) >= 60, name
    for name in ("worker", "sink"):
        assert int(grace[name].removesuffix("s")) >= 30, name


def test_healthchecks_of_the_motcua_services() -> None:
    svc = services()
    for name in ("worker", "sink", "metrics", "http"):
        assert svc[name]["healthcheck"]["test"][0] == "CMD", name
    # the worker's healthcheck reads the file its event loop touches
    data_dir = svc["worker"]["environment"]["MOTCUA_DATA_DIR"]
    test = svc["worker"]["healthcheck"]["test"]
    assert test[1:4] == ["python", "-m", "runtime.liveness"]
    assert test[4] == str(heartbeat_path(Settings(data_dir=Path(data_dir))))
    # the HTTP ingest's healthcheck asks /readyz on the port the service serves
    http = svc["http"]
    assert http["command"] == ["http", "--port", "8088"] and "8088" in http["expose"]
    assert "http://127.0.0.1:8088/readyz" in " ".join(http["healthcheck"]["test"])
    for name in ("sink", "metrics"):
        port = svc[name]["expose"][0]
        assert f"127.0.0.1:{port}/metrics" in " ".join(svc[name]["healthcheck"]["test"])


def test_the_sink_logs_in_as_its_own_role_after_the_owner_migrated() -> None:
    svc = services()
    sink, migrate = svc["sink"], svc["migrate"]
    assert migrate["command"] == ["db", "upgrade"] and migrate["restart"] == "no"
    assert sink["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert {"source": "sink_database_url", "target": "motcua_database_url"} in sink["secrets"]
    assert {"source": "owner_database_url", "target": "motcua_database_url"} in \
        migrate["secrets"]
    for name in ("sink", "migrate"):
        assert svc[name]["environment"]["MOTCUA_SECRETS_DIR"] == "/run/secrets"
    pg = svc["postgres"]
    assert "./deploy/postgres/initdb:/docker-entrypoint-initdb.d:ro" in pg["volumes"]
    assert "./deploy/postgres/sink-role.sql:/motcua/sink-role.sql:ro" in pg["volumes"]
    assert pg["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"


def test_every_secret_is_declared_and_written_by_make_secrets(tmp_path: Path) -> None:
    doc = compose()
    declared = doc["secrets"]
    for name, svc in services().items():
        for entry in svc.get("secrets") or []:
            source = entry["source"] if isinstance(entry, dict) else entry
            assert source in declared, f"{name}: secret {source} is not declared"
    out = tmp_path / "secrets"
    env = {**os.environ, "POSTGRES_DB": "kpi", "POSTGRES_USER": "owner",
           "SINK_DB_ROLE": "sinker"}
    subprocess.run(["sh", str(ROOT / "deploy" / "make-secrets.sh"), str(out)], env=env,
                   check=True, capture_output=True)
    for spec in declared.values():
        assert (out / Path(spec["file"]).name).is_file(), spec
    assert (out.stat().st_mode & 0o777) == 0o700
    # what the sink reads through MOTCUA_SECRETS_DIR: its role, the password postgres
    # gives that role, the owner's database
    sink_dir = tmp_path / "sink-run-secrets"
    sink_dir.mkdir()
    (sink_dir / "motcua_database_url").write_text((out / "sink_database_url").read_text())
    os.environ.pop("MOTCUA_DATABASE_URL", None)
    mp = pytest.MonkeyPatch()
    try:
        mp.delenv("MOTCUA_DATABASE_URL", raising=False)
        mp.setenv("MOTCUA_SECRETS_DIR", str(sink_dir))
        url = load_settings().database_url.get_secret_value()
    finally:
        mp.undo()
    sink_password = (out / "postgres_sink_password").read_text().strip()
    assert url == f"postgresql+psycopg://sinker:{sink_password}@postgres:5432/kpi"
    # a second run keeps every password
    before = {p.name: p.read_text() for p in out.iterdir()}
    subprocess.run(["sh", str(ROOT / "deploy" / "make-secrets.sh"), str(out)], env=env,
                   check=True, capture_output=True)
    assert before == {p.name: p.read_text() for p in out.iterdir()}


def test_alerts_reach_alertmanager() -> None:
    svc = services()
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    targets = [t for am in config["alerting"]["alertmanagers"]
               for s in am["static_configs"] for t in s["targets"]]
    assert targets == ["alertmanager:9093"]
    am = svc["alertmanager"]
    assert "9093" in am["expose"]
    assert "./deploy/alertmanager:/etc/alertmanager:ro" in am["volumes"]
    assert "alertmanager_smtp_password" in am["secrets"]
    am_config = yaml.safe_load((ROOT / "deploy" / "alertmanager" / "alertmanager.yml")
                               .read_text(encoding="utf-8"))
    assert am_config["global"]["smtp_auth_password_file"] == \
        "/run/secrets/alertmanager_smtp_password"
    assert am_config["inhibit_rules"] and am_config["receivers"]
    alerts = {r["alert"] for _g, r in _rules() if "alert" in r}
    for rule in am_config["inhibit_rules"]:
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            m = re.match(r'alertname=~?"([^"]+)"', matcher)
            if m:
                for name in m.group(1).split("|"):
                    pattern = name.replace(".*", "")
                    assert any(a.startswith(pattern) for a in alerts), matcher


def _rules() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted((PROMETHEUS / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            out.extend((group["name"], rule) for rule in group["rules"])
    return out


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_alert_has_for_a_runbook_section_and_a_rule_test() -> None:
    anchors = {_anchor(h) for h in re.findall(r"^#+ (.+)$", RUNBOOK.read_text(
        encoding="utf-8"), flags=re.M)}
    tested = set()
    for path in (PROMETHEUS / "tests").glob("*.yml"):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        tested |= {case["alertname"] for t in doc["tests"]
                   for case in t.get("alert_rule_test", []) if case.get("exp_alerts")}
    alerts = [rule for _g, rule in _rules() if "alert" in rule]
    assert len(alerts) >= 12
    for rule in alerts:
        name = rule["alert"]
        assert rule.get("for"), f"{name} has no for:"
        url = rule["annotations"]["runbook_url"]
        assert url.endswith(f"docs/operations.md#{name.lower()}"), url
        assert name.lower() in anchors, f"docs/operations.md has no section {name}"
        assert name in tested, f"{name} has no promtool test case that fires it"
