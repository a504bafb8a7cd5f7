"""The settings in librdkafka's spelling, for the confluent-kafka clients (the HTTP ingest's
producer, :mod:`consumers.http_ingest.publisher`; the SQL sink's consumer,
:mod:`consumers.rdconsumer`).

:func:`rdkafka_client_config` carries the same cluster and security settings as
:meth:`runtime.settings.Settings.kafka_client_options` (kafka-python's spelling);
:func:`rdkafka_config` adds an idempotent producer's defaults: ``enable.idempotence``,
``acks=all``.
"""

from __future__ import annotations

from typing import Any

from runtime.settings import Settings


def rdkafka_config(settings: Settings, bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """A confluent-kafka ``Producer`` configuration for ``bootstrap`` (dotted librdkafka
    names; ``overrides`` win)."""
    return rdkafka_client_config(settings, bootstrap, **{
        "enable.idempotence": True,
        "acks": "all",
        "client.id": "motcua-producer",
        # the Java client's hashing (kafka-python, aiokafka and faust use it too): one
        # subject's records land on one partition whichever client sent them
        "partitioner": "murmur2_random",
        **overrides,
    })


def rdkafka_client_config(settings: Settings, bootstrap: str, **overrides: Any
                          ) -> dict[str, Any]:
    """The cluster and security settings of any confluent-kafka client (the SQL sink's
    consumer adds its group's: :mod:`consumers.rdconsumer`); ``overrides`` win."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "security.protocol": settings.kafka_security_protocol.lower(),
    }
    if settings.kafka_sasl_mechanism:
        config["sasl.mechanism"] = settings.kafka_sasl_mechanism
        config["sasl.username"] = settings.kafka_sasl_username or ""
        if settings.kafka_sasl_password is not None:
            config["sasl.password"] = settings.kafka_sasl_password.get_secret_value()
    if settings.kafka_ssl_cafile:
        config["ssl.ca.location"] = str(settings.kafka_ssl_cafile)
    config.update(overrides)
    return config


__all__ = ["rdkafka_client_config", "rdkafka_config"]
