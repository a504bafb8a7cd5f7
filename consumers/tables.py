"""The tables of the SQL store (SQLAlchemy 2.x Core): the Alembic revisions in
``migrations/`` create exactly these (:func:`consumers.store.upgrade`).

* ``raw_events``: every distinct valid event, keyed by (``source``, ``id``) — the
  deduplication key of docs/contract.md; a duplicate changes nothing (first copy kept);
* ``dossiers``: the ledger (sổ theo dõi hồ sơ), one row per dossier code: the
  :class:`kpi.ledger.LedgerEntry` judged from that dossier's ``raw_events`` rows
  (:func:`consumers.store.ledger_row` converts it), receiving ``unit`` and
  ``handling_unit``;
* ``kpi_snapshots``: the latest KPI report per (unit, period, scope) — the last ``as_of``
  wins. ``scope`` is ``own`` (the unit's own figures) or ``total`` (plus every unit below
  it); ``view`` is always ``as_was``: the stored snapshots are the live "as it was" view
  (docs/contract.md), the restated view is computed from them when read
  (``motcua report --db --view restated``). ``unit_name`` is the name the snapshot carries;
  one column per count key (:data:`kpi.counters.COUNT_KEYS`) and per ratio key
  (:data:`kpi.ratios.RATIO_KEYS`): revision ``0004_families`` adds those of petitions,
  the procedure catalog and documents, ``0005_portal_counts`` the counts of contract v1.2
  (rows: :mod:`consumers.snapshots`);
* ``dlq_records``: one row per dead letter, keyed by the (topic, partition, offset) of the
  refused record (its origin; a letter with no Kafka origin — a file line, an HTTP event —
  by its own position on the DLQ topic), with the refused record's key and headers
  (revision ``0003_dlq_whole``);
* ``sink_offsets``: the next offset per (group, topic, partition), written in the same
  transaction as the rows (for operators; Kafka's committed offsets stay authoritative);
* ``web_users``: the logins of ``motcua web`` (revision ``0006_web_users``): login, unit,
  role, the password's argon2 hash, when made and when revoked (:mod:`consumers.users`).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

from kpi.counters import COUNT_KEYS
from kpi.ratios import RATIO_KEYS

metadata = MetaData()

raw_events = Table(
    "raw_events",
    metadata,
    Column("source", String(255), primary_key=True),
    Column("id", String(255), primary_key=True),
    Column("subject", String(255), nullable=False, index=True),
    Column("type", String(100), nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("unit", String(100), nullable=True),
    Column("payload", Text, nullable=False),
    Column("topic", String(255), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
)

dossiers = Table(
    "dossiers",
    metadata,
    Column("code", String(255), primary_key=True),
    Column("unit", String(100), nullable=False, index=True),
    Column("level", String(20), nullable=False),
    Column("handling_unit", String(100), nullable=False, index=True),
    Column("procedure", String(100), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("extended_due_at", DateTime(timezone=True), nullable=True),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("classification", String(20), nullable=False),
    Column("supplement_requests", Integer, nullable=False),
    Column("paused_seconds", Float, nullable=False),
    Column("apology", Boolean, nullable=False),
    Column("paid_online", Boolean, nullable=False),
    Column("digitized", Boolean, nullable=False),
    Column("rule_set_version", String(50), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

kpi_snapshots = Table(
    "kpi_snapshots",
    metadata,
    Column("unit", String(100), primary_key=True),
    Column("period", String(10), primary_key=True),
    Column("scope", String(10), primary_key=True),
    Column("view", String(10), nullable=False),
    Column("unit_name", String(255), nullable=True),
    Column("level", String(20), nullable=True),
    Column("as_of", DateTime(timezone=True), nullable=False),
    *[Column(key, Integer, nullable=False) for key in COUNT_KEYS],
    *[Column(key, Float, nullable=True) for key in RATIO_KEYS],
    Column("criteria", Text, nullable=False),
)

dlq_records = Table(
    "dlq_records",
    metadata,
    Column("topic", String(255), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("offset", BigInteger, primary_key=True),
    Column("reason", Text, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("subject", String(255), nullable=True),
    Column("source_file", String(1000), nullable=True),
    Column("line", Integer, nullable=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("key", LargeBinary, nullable=True),
    Column("headers", Text, nullable=True),
)

sink_offsets = Table(
    "sink_offsets",
    metadata,
    Column("group_id", String(255), primary_key=True),
    Column("topic", String(255), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

web_users = Table(
    "web_users",
    metadata,
    Column("login", String(100), primary_key=True),
    Column("unit", String(100), nullable=False),
    Column("role", String(20), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)


__all__ = [
    "dlq_records",
    "dossiers",
    "kpi_snapshots",
    "metadata",
    "raw_events",
    "sink_offsets",
    "web_users",
]
