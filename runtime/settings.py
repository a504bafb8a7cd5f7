"""One frozen settings object, built at the entry point and passed down.

Every field can be set from the environment with the ``MOTCUA_`` prefix, e.g.
``MOTCUA_KAFKA_BOOTSTRAP=kafka:9092`` or ``MOTCUA_DATABASE_URL=postgresql+psycopg://...``.
Nothing reads the environment at import time: call :func:`load_settings`.

The SASL password and the database URL (which may carry a password) are ``SecretStr``:
``repr``, ``str`` and ``model_dump_json`` show ``**********``. Their values are read with
``get_secret_value()`` only where they are handed to a client library (the Kafka client
options, the SQLAlchemy engine) or to a child process (:meth:`Settings.as_env`); anything
shown to people uses :meth:`Settings.database_url_shown` (password masked).

Secrets need not sit in the environment at all: with ``MOTCUA_SECRETS_DIR=/run/secrets``
(docker-compose's ``secrets:``) :func:`load_settings` reads a field from the file named like
its variable in lower case (``motcua_database_url``, ``motcua_kafka_sasl_password``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict


class TopicNames(BaseModel):
    """Topic names (override e.g. with ``MOTCUA_TOPICS__EVENTS``)."""

    model_config = ConfigDict(frozen=True)

    events: str = "motcua.events.v1"
    dlq: str = "motcua.events.dlq"
    contributions: str = "motcua.contributions"
    kpi: str = "motcua.kpi.v1"
    links: str = "motcua.events.v1.links"
    """The worker's join records (kpi.links), co-partitioned with ``events``; by default the
    events topic's name + ``.links``, so a renamed events topic brings its own."""

    @model_validator(mode="before")
    @classmethod
    def _links_follow_events(cls, data: Any) -> Any:
        if isinstance(data, dict) and "links" not in data and "events" in data:
            return {**data, "links": f"{data['events']}.links"}
        return data


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MOTCUA_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    kafka_bootstrap: str | None = Field(
        default=None,
        description="host:port[,host:port]. Unset: an embedded Tansu broker is started.",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = (
        "PLAINTEXT"
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    topic_partitions: int = Field(default=4, ge=1, description="partitions of new topics")
    topic_replication_factor: int = Field(
        default=1, ge=1, description="replicas of every topic (changelogs included); 1 suits "
        "one broker, 3 a three-broker cluster")
    topic_min_insync_replicas: int = Field(
        default=1, ge=1, description="min.insync.replicas of every topic: with acks=all a "
        "write fails unless this many replicas have it; 2 with three replicas")
    topics: TopicNames = TopicNames()
    database_url: SecretStr = SecretStr("sqlite:///./motcua.db")
    metrics_port: int = 9464
    metrics_host: str = Field(default="127.0.0.1",
                              description="address /metrics binds (0.0.0.0 widens it)")
    http_host: str = Field(default="127.0.0.1", description="address the HTTP ingest binds")
    http_port: int = Field(default=8088, description="port of the HTTP ingest")
    ingest_tokens_file: Path | None = Field(
        default=None, description="hashes of the HTTP ingest's tokens; default "
        "<data_dir>/ingest-tokens.jsonl")
    data_dir: Path = Path("./data")
    state_dir: Path | None = Field(
        default=None, description="the stream worker's local state (retired dossiers and "
        "a checkpoint of the rest, streams.localstate); default <data_dir>/state. One "
        "sub-directory per worker process of this host (0, 1, …, each locked while in use)")
    retire_after_days: float = Field(
        default=35.0, ge=0, description="a dossier whose contribution can no longer change by "
        "time alone leaves the worker's memory (for its local state on disk) this many days "
        "after its latest fact; 0: at once (docs/decisions/streams-local-state.md)")
    checkpoint_seconds: float = Field(
        default=1.0, ge=0, description="least time between two commits of the stream "
        "worker's local state after its batches (one SQLite transaction; a crash loses "
        "only what the changelogs' tail gives back); 0: after every batch "
        "(docs/decisions/streams-checkpoint-interval.md)")
    sync_window_hours: float = Field(
        default=24.0, gt=0, description="v1.2 synced_on_time: each status event of a dossier "
        "must be followed by a sync to the national portal within this many hours [M] "
        "(docs/decisions/kpi-portal-766-2026-counts.md)")
    consumer_group_prefix: str = "motcua"
    sink_poll_records: int = Field(
        default=2000, ge=1, description="most records one poll of the SQL sink returns")
    sink_flush_records: int = Field(
        default=20_000, ge=1, description="the SQL sink stops polling for its next flush "
        "(one database transaction) once this many records wait for it while the current "
        "flush runs; polls made meanwhile are stored together (docs/decisions/"
        "sink-pipeline.md)")
    sink_fact_cache: int = Field(
        default=100_000, ge=0, description="facts of stored events the SQL sink keeps in "
        "memory (~350 bytes each) so that re-judging a dossier's ledger row does not read "
        "and decode them again; 0: none (docs/decisions/sink-pipeline.md)")
    secrets_dir: Path | None = Field(
        default=None, description="directory of secret files named like their variables "
        "(motcua_database_url, …); read by load_settings, see SECRETS_DIR_VARIABLE")
    units_file: Path | None = Field(
        default=None,
        description="the unit registry CSV of docs/contract.md (units in force, successors); "
        "unset or empty: every unit code stands for itself",
    )

    @field_validator("topic_min_insync_replicas")
    @classmethod
    def _insync_within_replicas(cls, value: int, info: ValidationInfo) -> int:
        """(A field validator, so that its error shows this value only, never a secret.)"""
        replicas = info.data.get("topic_replication_factor")
        if replicas is not None and value > replicas:
            raise ValueError(
                f"MOTCUA_TOPIC_MIN_INSYNC_REPLICAS={value} exceeds "
                f"MOTCUA_TOPIC_REPLICATION_FACTOR={replicas}: no write could ever succeed")
        return value

    @field_validator("units_file", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        """``MOTCUA_UNITS_FILE=`` (empty) means no registry, not the current directory."""
        return None if value == "" else value

    @property
    def worker_state_dir(self) -> Path:
        """The stream worker's local state directory (``state_dir``, else under the data
        dir)."""
        return self.state_dir or Path(self.data_dir) / "state"

    @property
    def tokens_file(self) -> Path:
        """The HTTP ingest's tokens file (``ingest_tokens_file``, else under the data dir)."""
        return self.ingest_tokens_file or Path(self.data_dir) / "ingest-tokens.jsonl"

    def database_url_shown(self) -> str:
        """The database URL for people and logs: the password replaced by ``***``."""
        return shown_url(self.database_url.get_secret_value())

    def as_env(self) -> dict[str, str]:
        """These settings as ``MOTCUA_*`` environment variables, for a child process
        (a pipeline worker, a sink) that must see the same cluster, topics and group."""
        env = {
            "MOTCUA_TOPIC_PARTITIONS": str(self.topic_partitions),
            "MOTCUA_TOPIC_REPLICATION_FACTOR": str(self.topic_replication_factor),
            "MOTCUA_TOPIC_MIN_INSYNC_REPLICAS": str(self.topic_min_insync_replicas),
            "MOTCUA_CONSUMER_GROUP_PREFIX": self.consumer_group_prefix,
            "MOTCUA_DATABASE_URL": self.database_url.get_secret_value(),
            "MOTCUA_METRICS_PORT": str(self.metrics_port),
            "MOTCUA_METRICS_HOST": self.metrics_host,
            "MOTCUA_HTTP_HOST": self.http_host,
            "MOTCUA_HTTP_PORT": str(self.http_port),
            "MOTCUA_DATA_DIR": str(self.data_dir),
            "MOTCUA_SINK_POLL_RECORDS": str(self.sink_poll_records),
            "MOTCUA_SINK_FLUSH_RECORDS": str(self.sink_flush_records),
            "MOTCUA_SINK_FACT_CACHE": str(self.sink_fact_cache),
            "MOTCUA_RETIRE_AFTER_DAYS": repr(self.retire_after_days),
            "MOTCUA_SYNC_WINDOW_HOURS": repr(self.sync_window_hours),
            "MOTCUA_CHECKPOINT_SECONDS": repr(self.checkpoint_seconds),
            "MOTCUA_KAFKA_SECURITY_PROTOCOL": self.kafka_security_protocol,
            **{f"MOTCUA_TOPICS__{k.upper()}": v for k, v in self.topics.model_dump().items()},
        }
        optional = {
            "MOTCUA_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "MOTCUA_KAFKA_SASL_MECHANISM": self.kafka_sasl_mechanism,
            "MOTCUA_KAFKA_SASL_USERNAME": self.kafka_sasl_username,
            "MOTCUA_KAFKA_SASL_PASSWORD": (self.kafka_sasl_password.get_secret_value()
                                           if self.kafka_sasl_password is not None else None),
            "MOTCUA_KAFKA_SSL_CAFILE": (str(self.kafka_ssl_cafile)
                                        if self.kafka_ssl_cafile is not None else None),
            "MOTCUA_UNITS_FILE": (str(self.units_file)
                                  if self.units_file is not None else None),
            "MOTCUA_STATE_DIR": (str(self.state_dir) if self.state_dir is not None
                                 else None),
            "MOTCUA_INGEST_TOKENS_FILE": (str(self.ingest_tokens_file)
                                          if self.ingest_tokens_file is not None else None),
        }
        env.update({k: v for k, v in optional.items() if v is not None})
        return env


def shown_url(url: str) -> str:
    """A database URL with its password replaced by ``***`` (for output and logs)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # not a URL SQLAlchemy reads: show none of it
        return "<unparsable database URL>"


SECRETS_DIR_VARIABLE = "MOTCUA_SECRETS_DIR"
"""Names a directory of secret files, one per field, named like its variable
(``motcua_database_url``, ``motcua_kafka_sasl_password``): pydantic-settings' ``secrets_dir``.
docker-compose mounts its ``secrets:`` at ``/run/secrets``. A variable set in the environment
wins over a file."""


def load_settings(**overrides: object) -> Settings:
    """Build the settings from the environment, then the secret files of
    ``$MOTCUA_SECRETS_DIR`` (if set), with explicit overrides winning over both."""
    secrets_dir = os.environ.get(SECRETS_DIR_VARIABLE) or None
    return Settings(_secrets_dir=secrets_dir, **overrides)  # type: ignore[arg-type,call-arg]
