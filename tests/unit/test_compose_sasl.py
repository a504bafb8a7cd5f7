"""deploy/compose.sasl.yml — the external listener with SASL (SCRAM-SHA-512) over TLS and
ACLs, as an override of docker-compose.yml (issue 16) — checked without a Docker engine:
the compose-spec schema for the file and for its merge with the base file, the broker's
listeners and the apache/kafka image's conventions for TLS files and JAAS, secrets as
files, and the motcua client settings (real :class:`Settings` built from the service's
environment and secret files). deploy/make-kafka-tls.sh runs for real: its certificate is
checked with openssl and by a real TLS handshake verified as the Kafka clients verify it
(the CA file of ``MOTCUA_KAFKA_SSL_CAFILE``, the host name)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from runtime.rdkafka import rdkafka_config
from runtime.settings import Settings, load_settings
from tests.unit.test_deploy import option_names, resolve

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "docker-compose.yml"
OVERRIDE = ROOT / "deploy" / "compose.sasl.yml"
EXTERNAL_HOST = "kafka.example.test"
KAFKA_SECRETS = "/etc/kafka/secrets/"
"""Where the apache/kafka image looks for the files its KAFKA_SSL_* variables name."""


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _target(entry: Any) -> str:
    """The container path (or /run/secrets name) a volume, secret or port entry uses."""
    if isinstance(entry, dict):
        return str(entry.get("target", entry.get("source")))
    text = str(entry)
    parts = text.split(":")
    return parts[1] if len(parts) >= 2 and not text[0].isdigit() else text


UNIQUE_LISTS = {"volumes", "secrets", "ports", "expose", "profiles"}


def merge(base: Any, override: Any, key: str = "") -> Any:
    """Compose's merge of two files, for what these files use: mappings merge key by key
    (``environment`` too), ``volumes``/``secrets``/… merge by container path, other values
    are replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = merge(base[k], v, k) if k in base else v
        return out
    if key in UNIQUE_LISTS and isinstance(base, list) and isinstance(override, list):
        kept = {_target(e): e for e in base}
        kept.update({_target(e): e for e in override})
        return list(kept.values())
    return override


def substitute(value: Any, env: dict[str, str]) -> Any:
    """``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}`` as compose interpolates them
    (a missing required variable fails the test)."""
    if isinstance(value, dict):
        return {k: substitute(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if env.get(name):
            return env[name]
        if op == ":?":
            pytest.fail(f"${{{name}}} is required: {arg}")
        return arg if op == ":-" else ""

    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:-|:\?)([^}]*))?\}", one, value)


ENV = {"KAFKA_EXTERNAL_HOST": EXTERNAL_HOST, "KAFKA_CLUSTER_ID": "test-cluster"}


def merged() -> dict[str, Any]:
    return substitute(merge(load(BASE), load(OVERRIDE)), ENV)


def listeners(spec: str) -> dict[str, str]:
    """``NAME://host:port,…`` → name → ``host:port``."""
    return dict(entry.split("://", 1) for entry in spec.split(","))


# --------------------------------------------------------------------------- compose


def test_the_override_and_the_merge_follow_the_compose_spec() -> None:
    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
    jsonschema.Draft7Validator(schema).validate(load(OVERRIDE))
    jsonschema.Draft7Validator(schema).validate(merge(load(BASE), load(OVERRIDE)))


def test_the_external_listener_becomes_sasl_ssl_on_the_same_port() -> None:
    doc = merged()
    env = doc["services"]["kafka"]["environment"]
    own = listeners(env["KAFKA_LISTENERS"])
    advertised = listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
                     .split(","))
    assert set(own) == {"PLAINTEXT", "CONTROLLER", "SASL_SSL"} == set(protocols)
    assert protocols == {"PLAINTEXT": "PLAINTEXT", "CONTROLLER": "PLAINTEXT",
                         "SASL_SSL": "SASL_SSL"}
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in own
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "PLAINTEXT"
    # inside the compose network nothing changes: the motcua services keep kafka:9092
    assert advertised["PLAINTEXT"] == "kafka:9092"
    base_env = load(BASE)["x-motcua-env"]
    assert base_env["MOTCUA_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert "MOTCUA_KAFKA_SECURITY_PROTOCOL" not in base_env
    # the SASL_SSL listener is the one published on the host (the base file's port)
    assert advertised["SASL_SSL"] == f"{EXTERNAL_HOST}:29092"
    assert own["SASL_SSL"] == ":29092"
    assert any(str(p).endswith(":29092:29092") for p in doc["services"]["kafka"]["ports"])
    # the image prepares TLS when an advertised listener contains "SSL://" and checks
    # KAFKA_OPTS when one matches SASL_.*:// (docker/resources/common-scripts/configure)
    assert "SSL://" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert re.search(r"SASL_.*://", env["KAFKA_ADVERTISED_LISTENERS"])
    assert "EXTERNAL" not in json.dumps(doc["services"]["kafka"])


def test_tls_files_and_jaas_are_where_the_image_reads_them() -> None:
    kafka = merged()["services"]["kafka"]
    env = kafka["environment"]
    mounted = {_target(s): s["source"] for s in kafka["secrets"]}
    for var in ("KAFKA_SSL_KEYSTORE_FILENAME", "KAFKA_SSL_KEYSTORE_CREDENTIALS",
                "KAFKA_SSL_KEY_CREDENTIALS"):
        assert KAFKA_SECRETS + env[var] in mounted, f"{var}={env[var]} is not mounted"
    assert env["KAFKA_SSL_KEYSTORE_TYPE"] == "PKCS12"
    m = re.fullmatch(r"-Djava\.security\.auth\.login\.config=(\S+)", env["KAFKA_OPTS"])
    assert m, env["KAFKA_OPTS"]
    volumes = {v.split(":")[1]: v.split(":")[0] for v in kafka["volumes"]}
    jaas = ROOT / volumes[m.group(1)]
    text = jaas.read_text(encoding="utf-8")
    assert "KafkaServer {" in text and "ScramLoginModule required;" in text
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
    assert "password" not in code.lower(), "a password in the JAAS file"
    assert env["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"] == \
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert env["KAFKA_SUPER_USERS"] == "User:ANONYMOUS"
    assert str(env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"]) == "false"


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """./secrets as deploy/make-secrets.sh and deploy/make-kafka-tls.sh write it (once: RSA
    keys take a few seconds)."""
    out = tmp_path_factory.mktemp("compose") / "secrets"
    env = {**os.environ, "KAFKA_EXTERNAL_HOST": EXTERNAL_HOST}
    for script in ("make-secrets.sh", "make-kafka-tls.sh"):
        subprocess.run(["sh", str(ROOT / "deploy" / script), str(out)], env=env, check=True,
                       capture_output=True)
    return out


def test_no_password_in_any_environment_and_every_secret_is_a_file(secrets_dir: Path) -> None:
    doc = load(OVERRIDE)
    for name, svc in doc["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            assert not re.search(r"PASSWORD|SECRET|TOKEN", key) or key.endswith(
                ("_FILE", "_DIR")), f"{name}: {key}"
            assert not re.search(r"password=", str(value), flags=re.I), f"{name}: {key}"
        for entry in svc.get("secrets") or []:
            assert entry["source"] in doc["secrets"], f"{name}: {entry['source']}"
    files = {spec["file"] for spec in doc["secrets"].values()}
    assert all(f.startswith("./secrets/") for f in files), files
    # both scripts together write every one of them
    out = secrets_dir
    for f in files:
        assert (out / Path(f).name).is_file(), f
    # the broker runs as its own user: the files it reads must be readable to it
    for name in ("kafka.keystore.p12", "kafka_keystore_password", "kafka_ca.pem"):
        assert (out / name).stat().st_mode & 0o004, name
    assert (out / "kafka_ca.key").stat().st_mode & 0o077 == 0
    assert (out.stat().st_mode & 0o777) == 0o700


# --------------------------------------------------------------------------- the client


def test_sasl_check_is_a_motcua_command_with_its_settings(tmp_path: Path) -> None:
    doc = merged()
    svc = doc["services"]["sasl-check"]
    base = load(BASE)
    assert svc["image"] == substitute(base["x-motcua-image"]["image"], ENV)
    assert svc["pull_policy"] == "never" and svc["profiles"] == ["sasl"]
    cmd, rest = resolve(list(svc["command"]))
    known = {opt for p in cmd.params for opt in (*p.opts, *p.secondary_opts)}
    assert not [o for o in option_names(rest) if o not in known]
    env = svc["environment"]
    for var in env:
        assert var.startswith("MOTCUA_"), var
        parts = var.removeprefix("MOTCUA_").lower().split("__")
        assert parts[0] in Settings.model_fields, f"{var} is not a Settings field"
    # topics declared as the base file declares them (ingest checks them against these)
    base_env = substitute(base["x-motcua-env"], ENV)
    for var in ("MOTCUA_TOPIC_PARTITIONS", "MOTCUA_TOPIC_REPLICATION_FACTOR",
                "MOTCUA_TOPIC_MIN_INSYNC_REPLICAS", "MOTCUA_TOPICS__EVENTS",
                "MOTCUA_TOPICS__DLQ"):
        assert str(env[var]) == str(base_env[var]), var
    # it follows the advertised address: the external name is the broker's alias here
    kafka = doc["services"]["kafka"]
    advertised = listeners(kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"])
    assert env["MOTCUA_KAFKA_BOOTSTRAP"] == advertised["SASL_SSL"]
    assert EXTERNAL_HOST in kafka["networks"]["default"]["aliases"]
    assert env["MOTCUA_KAFKA_SASL_MECHANISM"] in \
        kafka["environment"]["KAFKA_SASL_ENABLED_MECHANISMS"].split(",")

    # the settings motcua builds from that environment and the mounted secret files
    run_secrets = tmp_path / "run-secrets"
    run_secrets.mkdir()
    mounted = {_target(s): s["source"] for s in svc["secrets"]}
    assert set(mounted) == {"motcua_kafka_sasl_password", "kafka_ca.pem"}
    (run_secrets / "motcua_kafka_sasl_password").write_text("s3cr3t-scram\n")
    (run_secrets / "kafka_ca.pem").write_text("(the CA)\n")
    mp = pytest.MonkeyPatch()
    try:
        for key in [k for k in os.environ if k.startswith("MOTCUA_")]:
            mp.delenv(key)
        for key, value in env.items():
            mp.setenv(key, str(value).replace("/run/secrets", str(run_secrets)))
        settings = load_settings()
    finally:
        mp.undo()
    assert settings.kafka_bootstrap == f"{EXTERNAL_HOST}:29092"
    assert settings.kafka_security_protocol == "SASL_SSL"
    assert settings.kafka_sasl_mechanism == "SCRAM-SHA-512"
    assert settings.kafka_sasl_username == "motcua-ingest"
    assert settings.kafka_sasl_password is not None
    assert settings.kafka_sasl_password.get_secret_value() == "s3cr3t-scram"
    assert settings.kafka_ssl_cafile == run_secrets / "kafka_ca.pem"
    assert str(env["MOTCUA_KAFKA_SSL_CAFILE"]) == "/run/secrets/kafka_ca.pem"
    rd = rdkafka_config(settings, settings.kafka_bootstrap)
    assert {k: rd[k] for k in ("security.protocol", "sasl.mechanism", "sasl.username",
                               "sasl.password", "ssl.ca.location")} == {
        "security.protocol": "sasl_ssl", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "motcua-ingest", "sasl.password": "s3cr3t-scram",
        "ssl.ca.location": str(run_secrets / "kafka_ca.pem")}


# --------------------------------------------------------------------------- TLS


def _openssl(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("openssl")
    if tool is None:
        pytest.fail("openssl is missing (Debian package openssl)")
    return subprocess.run([tool, *args], capture_output=True, text=True, check=True, **kw)


def test_make_kafka_tls_gives_a_certificate_clients_verify(secrets_dir: Path,
                                                           tmp_path: Path) -> None:
    out = secrets_dir
    env = {**os.environ, "KAFKA_EXTERNAL_HOST": EXTERNAL_HOST}
    password = f"file:{out / 'kafka_keystore_password'}"
    store = str(out / "kafka.keystore.p12")
    cert = tmp_path / "server.pem"
    key = tmp_path / "server.key"
    _openssl("pkcs12", "-in", store, "-passin", password, "-nokeys", "-clcerts", "-out",
             str(cert))
    _openssl("pkcs12", "-in", store, "-passin", password, "-nocerts", "-nodes", "-out",
             str(key))
    text = _openssl("x509", "-in", str(cert), "-noout", "-ext", "subjectAltName").stdout
    assert f"DNS:{EXTERNAL_HOST}" in text
    assert _openssl("verify", "-CAfile", str(out / "kafka_ca.pem"), str(cert)).stdout \
        .strip().endswith("OK")
    # a wrong password does not open the keystore
    (tmp_path / "wrong").write_text("not-it\n")
    with pytest.raises(subprocess.CalledProcessError):
        _openssl("pkcs12", "-in", store, "-passin", f"file:{tmp_path / 'wrong'}",
                 "-nokeys")

    # a real TLS handshake with that key and certificate, verified as kafka-python and
    # aiokafka verify (the CA file of MOTCUA_KAFKA_SSL_CAFILE, host name checked)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(str(cert), str(key))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve(times: int) -> None:
            for _ in range(times):
                conn, _addr = listener.accept()
                try:
                    with server_ctx.wrap_socket(conn, server_side=True) as tls:
                        tls.sendall(b"ok")
                except (ssl.SSLError, OSError):
                    pass

        thread = threading.Thread(target=serve, args=(2,), daemon=True)
        thread.start()
        client_ctx = ssl.create_default_context(cafile=str(out / "kafka_ca.pem"))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                client_ctx.wrap_socket(raw, server_hostname=EXTERNAL_HOST) as tls:
            assert tls.recv(2) == b"ok"
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                pytest.raises(ssl.SSLCertVerificationError):
            client_ctx.wrap_socket(raw, server_hostname="another.example.test")
        thread.join(10)
    # run again: nothing is regenerated
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    subprocess.run(["sh", str(ROOT / "deploy" / "make-kafka-tls.sh"), str(out)], env=env,
                   check=True, capture_output=True)
    assert before == {p.name: p.read_bytes() for p in out.iterdir()}
