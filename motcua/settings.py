"""One frozen settings object, built at the entry point and passed down.

Every field can be set from the environment with the ``MOTCUA_`` prefix, e.g.
``MOTCUA_KAFKA_BOOTSTRAP=kafka:9092`` or ``MOTCUA_DATABASE_URL=postgresql+psycopg://...``.
Nothing reads the environment at import time: call :func:`load_settings`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TopicNames(BaseModel):
    """Topic names (override e.g. with ``MOTCUA_TOPICS__EVENTS``)."""

    model_config = ConfigDict(frozen=True)

    events: str = "motcua.events.v1"
    dlq: str = "motcua.events.dlq"
    contributions: str = "motcua.contributions"
    kpi: str = "motcua.kpi.v1"


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
    kafka_sasl_password: str | None = None
    kafka_ssl_cafile: Path | None = None
    topic_partitions: int = Field(default=4, ge=1, description="partitions of new topics")
    topics: TopicNames = TopicNames()
    database_url: str = "sqlite:///./motcua.db"
    metrics_port: int = 9464
    data_dir: Path = Path("./data")
    consumer_group_prefix: str = "motcua"

    def kafka_client_options(self) -> dict[str, object]:
        """Security options in kafka-python's spelling (aiokafka uses the same names)."""
        opts: dict[str, object] = {"security_protocol": self.kafka_security_protocol}
        if self.kafka_sasl_mechanism:
            opts["sasl_mechanism"] = self.kafka_sasl_mechanism
            opts["sasl_plain_username"] = self.kafka_sasl_username
            opts["sasl_plain_password"] = self.kafka_sasl_password
        if self.kafka_ssl_cafile:
            opts["ssl_cafile"] = str(self.kafka_ssl_cafile)
        return opts


    def as_env(self) -> dict[str, str]:
        """These settings as ``MOTCUA_*`` environment variables, for a child process
        (a pipeline worker, a sink) that must see the same cluster, topics and group."""
        env = {
            "MOTCUA_TOPIC_PARTITIONS": str(self.topic_partitions),
            "MOTCUA_CONSUMER_GROUP_PREFIX": self.consumer_group_prefix,
            "MOTCUA_DATABASE_URL": self.database_url,
            "MOTCUA_METRICS_PORT": str(self.metrics_port),
            "MOTCUA_DATA_DIR": str(self.data_dir),
            **{f"MOTCUA_TOPICS__{k.upper()}": v for k, v in self.topics.model_dump().items()},
        }
        if self.kafka_bootstrap is not None:
            env["MOTCUA_KAFKA_BOOTSTRAP"] = self.kafka_bootstrap
        return env


def load_settings(**overrides: object) -> Settings:
    """Build the settings from the environment (and explicit overrides, which win)."""
    return Settings(**overrides)  # type: ignore[arg-type]
