"""Every topic of the pipeline, declared once (docs/architecture.md: no topic settings twice).

Create them with :func:`ensure_topics` before anything produces: a topic auto-created by a
producer gets the broker's default partition count (4 on Tansu), and a faust table over a
topic with another count crashes its agent (``PartitionsMismatch``).

Every topic, the worker's changelogs included, gets ``MOTCUA_TOPIC_REPLICATION_FACTOR``
replicas and ``min.insync.replicas = MOTCUA_TOPIC_MIN_INSYNC_REPLICAS`` (1 and 1 on one
broker; 3 and 2 on a three-broker cluster, where one broker may be down without a lost or
refused write: every producer of the pipeline uses ``acks=all``). An existing topic is
checked against its declaration: another partition count, fewer replicas or a lower
``min.insync.replicas`` than declared raise :class:`TopicMismatch`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from runtime.settings import Settings
from schemas.errors import TopicMismatch


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    key: str
    """What the record key is, for people (and the README)."""
    compacted: bool = False
    retention_ms: int | None = None
    """``None``: the broker default; ``-1``: keep forever."""
    replication_factor: int = 1
    min_insync_replicas: int = 1

    def configs(self) -> dict[str, str]:
        """Topic configs in Kafka's spelling."""
        cfg = {"cleanup.policy": "compact" if self.compacted else "delete",
               "min.insync.replicas": str(self.min_insync_replicas)}
        if self.retention_ms is not None:
            cfg["retention.ms"] = str(self.retention_ms)
        return cfg


# ------------------------------------------------------------ consumer groups and changelogs


def pipeline_group(settings: Settings) -> str:
    """The stream worker's faust app id: its consumer group and its changelogs' prefix."""
    return f"{settings.consumer_group_prefix}-streams"


def sink_group(settings: Settings) -> str:
    """The SQL sink's consumer group."""
    return f"{settings.consumer_group_prefix}-sql-sink"


TABLES = ("dossiers", "applied")
"""The stream worker's tables: dossier code → facts; unit␟code → applied contribution."""


def changelog_topic(settings: Settings, table: str) -> str:
    """The changelog topic of one of the worker's :data:`TABLES` (faust's naming)."""
    if table not in TABLES:
        raise KeyError(table)
    return f"{pipeline_group(settings)}-{table}-changelog"


def declared_topics(settings: Settings) -> list[TopicSpec]:
    """The pipeline's topics with names from ``settings.topics``, each replicated as
    ``settings`` says."""
    n, t = settings.topic_partitions, settings.topics
    specs = [
        # the event log is the source of truth a replay rebuilds every number from
        TopicSpec(t.events, n, key="subject (mã hồ sơ)", retention_ms=-1),
        TopicSpec(t.dlq, n, key="subject when recoverable, else none", retention_ms=-1),
        TopicSpec(t.contributions, n, key="unit"),
        # join records (kpi.links) to the subject they name; co-partitioned with the events
        # (same count, same key hashing), so a link reaches the worker holding its target
        TopicSpec(t.links, n, key="target subject"),
        TopicSpec(t.kpi, n, key="unit|period", compacted=True),
        # the stream worker's state, rebuilt from them after every assignment; partition p
        # holds the rows of the dossiers of events partition p (contributions partition p)
        TopicSpec(changelog_topic(settings, "dossiers"), n, key="dossier code",
                  compacted=True),
        TopicSpec(changelog_topic(settings, "applied"), n, key="unit␟dossier code",
                  compacted=True),
    ]
    return [replace(spec, replication_factor=settings.topic_replication_factor,
                    min_insync_replicas=settings.topic_min_insync_replicas) for spec in specs]


def spec_for(settings: Settings, name: str) -> TopicSpec:
    for spec in declared_topics(settings):
        if spec.name == name:
            return spec
    raise KeyError(name)


def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec], settings: Settings) -> list[str]:
    """Create the missing topics; return the names created. Every topic, existing or new,
    is then checked with :func:`mismatches`; any mismatch raises :class:`TopicMismatch`.
    A broker that does not answer raises ``confluent_kafka.KafkaException``."""
    from runtime.kafka import admin

    specs = list(specs)
    client = admin(settings, bootstrap)
    try:
        existing = client.topic_names()
        created = [spec.name for spec in specs if spec.name not in existing
                   # False: created meanwhile by someone else, checked below like any other
                   and client.create_topic(spec.name, spec.partitions,
                                           spec.replication_factor, spec.configs())]
        described = client.describe([s.name for s in specs])
        insync = _min_insync_replicas(client, [s.name for s in specs])
    finally:
        client.close()
    problems = [p for spec in specs
                for p in mismatches(spec, described.get(spec.name), insync.get(spec.name))]
    if problems:
        raise TopicMismatch("; ".join(problems))
    return created


def mismatches(spec: TopicSpec, replicas_by_partition: list[list[int]] | None,
               min_insync: int | None) -> list[str]:
    """What differs between ``spec`` and a topic as the broker describes it (the replicas
    of each partition, :meth:`runtime.kafka.Admin.describe`; ``min_insync`` is the topic's
    ``min.insync.replicas``, None when the broker does not say). More replicas or a higher
    ``min.insync.replicas`` than declared are fine (a stricter cluster); fewer are not."""
    if replicas_by_partition is None:
        return [f"topic {spec.name!r} could not be described: {replicas_by_partition}"]
    out = []
    count = len(replicas_by_partition)
    if count != spec.partitions:
        out.append(f"topic {spec.name!r} has {count} partitions but is declared "
                   f"with {spec.partitions}; recreate it or set "
                   f"MOTCUA_TOPIC_PARTITIONS={count}")
    replicas = min((len(r) for r in replicas_by_partition), default=0)
    if replicas < spec.replication_factor:
        out.append(f"topic {spec.name!r} has {replicas} replica(s) per partition but "
                   f"MOTCUA_TOPIC_REPLICATION_FACTOR={spec.replication_factor}; add replicas "
                   "with kafka-reassign-partitions.sh (docs/operations.md, \"Replication\")")
    if min_insync is not None and min_insync < spec.min_insync_replicas:
        out.append(f"topic {spec.name!r} has min.insync.replicas={min_insync} but "
                   f"MOTCUA_TOPIC_MIN_INSYNC_REPLICAS={spec.min_insync_replicas}; raise it "
                   "with kafka-configs.sh --alter (docs/operations.md, \"Replication\")")
    return out


def _min_insync_replicas(client: Any, names: list[str]) -> dict[str, int]:
    """``min.insync.replicas`` of each topic the broker reports it for; none when the broker
    does not answer DescribeConfigs (Tansu dropped the connection on kafka-python's)."""
    import confluent_kafka

    try:
        configs = client.topic_configs(names)
    except confluent_kafka.KafkaException:
        return {}
    return insync_from_configs(configs)


def insync_from_configs(configs: dict[str, dict[str, str]]) -> dict[str, int]:
    """topic → ``min.insync.replicas`` from :meth:`runtime.kafka.Admin.topic_configs`'s
    answer (topic → config name → value); a topic without it is left out."""
    return {name: int(values["min.insync.replicas"]) for name, values in configs.items()
            if values.get("min.insync.replicas") is not None}
