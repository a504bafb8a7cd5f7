"""Every topic of the pipeline, declared once (DESIGN.md: no topic settings in two places).

Create them with :func:`ensure_topics` before anything produces: a topic auto-created by a
producer gets the broker's default partition count (4 on Tansu), and a faust table over a
topic with another count crashes its agent (``PartitionsMismatch``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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

    def configs(self) -> dict[str, str]:
        """Topic configs in Kafka's spelling."""
        cfg = {"cleanup.policy": "compact" if self.compacted else "delete"}
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
    """The pipeline's topics with names from ``settings.topics``."""
    n, t = settings.topic_partitions, settings.topics
    return [
        # the event log is the source of truth a replay rebuilds every number from
        TopicSpec(t.events, n, key="subject (mã hồ sơ)", retention_ms=-1),
        TopicSpec(t.dlq, n, key="subject when recoverable, else none", retention_ms=-1),
        TopicSpec(t.contributions, n, key="unit"),
        TopicSpec(t.kpi, n, key="unit|period", compacted=True),
        # the stream worker's state, rebuilt from them after every assignment; partition p
        # holds the rows of the dossiers of events partition p (contributions partition p)
        TopicSpec(changelog_topic(settings, "dossiers"), n, key="dossier code",
                  compacted=True),
        TopicSpec(changelog_topic(settings, "applied"), n, key="unit␟dossier code",
                  compacted=True),
    ]


def spec_for(settings: Settings, name: str) -> TopicSpec:
    for spec in declared_topics(settings):
        if spec.name == name:
            return spec
    raise KeyError(name)


def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec], settings: Settings) -> list[str]:
    """Create the missing topics; return the names created. Existing topics are fine if
    their partition count matches, else :class:`TopicMismatch` is raised."""
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    from runtime.kafka import admin

    specs = list(specs)
    client = admin(settings, bootstrap)
    try:
        existing = set(client.list_topics())
        created = []
        for spec in specs:
            if spec.name in existing:
                continue
            topic = NewTopic(spec.name, spec.partitions, 1, topic_configs=spec.configs())
            try:
                client.create_topics([topic])
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass  # created meanwhile by someone else: checked below like any other
        described = {d["name"]: d for d in client.describe_topics([s.name for s in specs])}
    finally:
        client.close()
    for spec in specs:
        info = described.get(spec.name)
        if info is None or info.get("error_code"):
            raise TopicMismatch(f"topic {spec.name!r} could not be described: {info}")
        actual = len(info["partitions"])
        if actual != spec.partitions:
            raise TopicMismatch(
                f"topic {spec.name!r} has {actual} partitions but is declared with "
                f"{spec.partitions}; recreate it or set MOTCUA_TOPIC_PARTITIONS={actual}"
            )
    return created
