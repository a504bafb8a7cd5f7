"""The settings in librdkafka's spelling, for every confluent-kafka client of the project
(all but the stream worker's, which is faust's aiokafka: docs/decisions/
runtime-one-admin-client.md).

* :func:`rdkafka_client_config`: the cluster and security settings of any client;
* :func:`rdkafka_config`: an idempotent producer's (``enable.idempotence``, ``acks=all``,
  the Java client's partitioner);
* :func:`reader_config`: a consumer that is only ever assigned partitions (no group
  membership, no commits) and reports each partition's end (``enable.partition.eof``);
* :data:`GROUP_TIMINGS`: the consumer-group timings of the SQL sink's consumer.
"""

from __future__ import annotations

from typing import Any

from runtime.settings import Settings

GROUP_TIMINGS: dict[str, int] = {
    "max.poll.interval.ms": 10_000,
    "session.timeout.ms": 6_000,
    "heartbeat.interval.ms": 1_000,
}
"""Consumer-group timings of every group consumer of the project: a member that stops
polling or heart-beating leaves the group within seconds
(docs/decisions/runtime-group-timings.md)."""


def rdkafka_config(settings: Settings, bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """A confluent-kafka ``Producer`` configuration for ``bootstrap`` (dotted librdkafka
    names; ``overrides`` win)."""
    return rdkafka_client_config(settings, bootstrap, **{
        "enable.idempotence": True,
        "acks": "all",
        "client.id": "motcua-producer",
        # the Java client's hashing (aiokafka and faust use it too): one subject's records
        # land on one partition whichever client sent them
        "partitioner": "murmur2_random",
        **overrides,
    })


def reader_config(settings: Settings, bootstrap: str, client_id: str, **overrides: Any
                  ) -> dict[str, Any]:
    """A confluent-kafka ``Consumer`` configuration for reading assigned partitions: it
    never joins a group nor commits (librdkafka wants a ``group.id`` all the same: the
    ``client_id``), and it reports reaching a partition's end (``enable.partition.eof``)."""
    return rdkafka_client_config(settings, bootstrap, **{
        "group.id": client_id,
        "client.id": client_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        # a fetch waiting for new records holds the connection: short waits keep the next
        # metadata or offsets request (and the next assignment's fetch) from queueing
        # behind it (500 ms each with librdkafka's default)
        "fetch.wait.max.ms": 100,
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


__all__ = ["GROUP_TIMINGS", "rdkafka_client_config", "rdkafka_config", "reader_config"]
