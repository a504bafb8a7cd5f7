"""dlq_records: one row per dead letter, the refused record kept whole.

Adds ``key`` (the refused record's key) and ``headers`` (every header of it, JSON
``[[name, base64 value or null], ...]``) and removes the duplicates older sinks wrote: a
dead letter the worker refused on the events topic was stored twice, once at its
events-topic position (the sink refusing the same record) and once at its position on the
DLQ topic. Rows are now keyed by the refused record's position (their origin); a DLQ-topic
row whose (reason, raw) matches a row of another topic is such a duplicate (paired one to
one, in offset order) and is deleted. The DLQ topic is the settings' (``MOTCUA_TOPICS__DLQ``,
default ``motcua.events.dlq``). Downgrade drops the columns; deleted duplicates stay deleted.

Revision ID: 0003_dlq_whole
Revises: 0001_initial (the units branch adds 0002; the lead chains this one after it)
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa
from alembic import op

from runtime.settings import load_settings

revision = "0003_dlq_whole"
down_revision = "0002_units"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dlq_records") as batch:
        batch.add_column(sa.Column("key", sa.LargeBinary, nullable=True))
        batch.add_column(sa.Column("headers", sa.Text, nullable=True))
    remove_duplicates(op.get_bind(), load_settings().topics.dlq)


def remove_duplicates(conn: sa.Connection, dlq_topic: str) -> int:
    """Delete the DLQ-topic rows that repeat a dead letter stored at its origin; returns
    how many were deleted."""
    table = sa.table("dlq_records", sa.column("topic"), sa.column("partition"),
                     sa.column("offset"), sa.column("reason"), sa.column("raw"))
    rows = conn.execute(sa.select(table).order_by(table.c.topic, table.c.partition,
                                                  table.c.offset)).all()
    at_origin = Counter((r.reason, bytes(r.raw)) for r in rows if r.topic != dlq_topic)
    deleted = 0
    for r in rows:
        if r.topic == dlq_topic and at_origin[(r.reason, bytes(r.raw))] > 0:
            at_origin[(r.reason, bytes(r.raw))] -= 1
            conn.execute(table.delete().where(
                table.c.topic == r.topic, table.c.partition == r.partition,
                table.c.offset == r.offset))
            deleted += 1
    return deleted


def downgrade() -> None:
    with op.batch_alter_table("dlq_records") as batch:
        batch.drop_column("headers")
        batch.drop_column("key")
