"""Initial tables of the SQL sink: raw_events, dossiers, kpi_snapshots, dlq_records,
sink_offsets.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of kpi.counters.COUNT_KEYS and kpi.ratios.RATIO_KEYS as of this revision:
# a new key needs a new revision (tests/integration/test_sink.py checks the models match).
COUNT_KEYS = (
    "received", "received_online", "received_postal", "received_direct",
    "received_full_online", "full_online_eligible", "resolved", "resolved_early",
    "resolved_on_time", "resolved_late", "late_with_apology", "in_progress",
    "in_progress_overdue", "fee_dossiers", "paid_online", "digitized", "e_results",
    "paper_result_dossiers", "rated", "satisfied", "dissatisfied",
)
RATIO_KEYS = (
    "online_receipt", "full_online", "on_time_resolved", "on_time_766", "late_apology",
    "online_payment", "digitization", "e_result", "satisfaction",
)

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "raw_events",
        sa.Column("source", sa.String(255), primary_key=True),
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("time", TS, nullable=False),
        sa.Column("unit", sa.String(100), nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_raw_events_subject", "raw_events", ["subject"])
    op.create_table(
        "dossiers",
        sa.Column("code", sa.String(255), primary_key=True),
        sa.Column("unit", sa.String(100), nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("procedure", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("extended_due_at", TS, nullable=True),
        sa.Column("completed_at", TS, nullable=True),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("classification", sa.String(20), nullable=False),
        sa.Column("supplement_requests", sa.Integer, nullable=False),
        sa.Column("paused_seconds", sa.Float, nullable=False),
        sa.Column("apology", sa.Boolean, nullable=False),
        sa.Column("paid_online", sa.Boolean, nullable=False),
        sa.Column("digitized", sa.Boolean, nullable=False),
        sa.Column("rule_set_version", sa.String(50), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_dossiers_unit", "dossiers", ["unit"])
    op.create_table(
        "kpi_snapshots",
        sa.Column("unit", sa.String(100), primary_key=True),
        sa.Column("period", sa.String(10), primary_key=True),
        sa.Column("level", sa.String(20), nullable=True),
        sa.Column("as_of", TS, nullable=False),
        *[sa.Column(key, sa.Integer, nullable=False) for key in COUNT_KEYS],
        *[sa.Column(key, sa.Float, nullable=True) for key in RATIO_KEYS],
        sa.Column("criteria", sa.Text, nullable=False),
    )
    op.create_table(
        "dlq_records",
        sa.Column("topic", sa.String(255), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("offset", sa.BigInteger, primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.Column("subject", sa.String(255), nullable=True),
        sa.Column("source_file", sa.String(1000), nullable=True),
        sa.Column("line", sa.Integer, nullable=True),
        sa.Column("recorded_at", TS, nullable=False),
    )
    op.create_table(
        "sink_offsets",
        sa.Column("group_id", sa.String(255), primary_key=True),
        sa.Column("topic", sa.String(255), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    for name in ("sink_offsets", "dlq_records", "kpi_snapshots", "dossiers", "raw_events"):
        op.drop_table(name)
