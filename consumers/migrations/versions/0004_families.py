"""docs/contract.md families (issue 15): the count and ratio keys of citizen petitions (PAKN),
the procedure catalog and official documents in ``kpi_snapshots``.

One column per new count key (Integer, not null) and per new ratio key (Float, null).
Rows stored before get 0 for every new count and null for every new ratio (until the next
snapshot of that unit, period and scope replaces them); the ``0`` server defaults only fill
those rows and are dropped right after, as in ``0002_units``: a writer gives every value.
Downgrade drops the columns (the rows stay, without the families' figures).

Revision ID: 0004_families
Revises: 0003_dlq_whole
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_families"
down_revision = "0003_dlq_whole"
branch_labels = None
depends_on = None

# Frozen: the keys this revision adds (kpi.counters.COUNT_KEYS / kpi.ratios.RATIO_KEYS of
# docs/contract.md's families beyond 0001's and 0002's copies).
NEW_COUNT_KEYS = (
    "petitions_received", "petitions_answered", "petitions_answered_on_time",
    "petitions_open", "petitions_open_overdue", "petitions_unsatisfied",
    "dossiers_petitioned", "dossiers_petitioned_late",
    "procedures", "procedures_published", "procedures_published_on_time",
    "procedures_online", "procedures_full_online", "procedures_online_payment",
    "procedures_online_used", "procedures_full_online_used",
    "procedures_online_payment_used",
    "documents_issued", "documents_e_signed",
)
NEW_RATIO_KEYS = (
    "petition_on_time", "petition_satisfaction", "procedures_on_time",
    "procedures_online_share", "online_procedures_used", "full_online_procedures_used",
    "online_payment_procedures_used", "e_signed_documents",
)


def upgrade() -> None:
    with op.batch_alter_table("kpi_snapshots") as batch:
        for key in NEW_COUNT_KEYS:
            batch.add_column(sa.Column(key, sa.Integer, nullable=False, server_default="0"))
        for key in NEW_RATIO_KEYS:
            batch.add_column(sa.Column(key, sa.Float, nullable=True))
    # the defaults only filled the rows already there (SQLite: one copy of the table)
    with op.batch_alter_table("kpi_snapshots") as batch:
        for key in NEW_COUNT_KEYS:
            batch.alter_column(key, existing_type=sa.Integer, existing_nullable=False,
                               server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("kpi_snapshots") as batch:
        for key in (*NEW_RATIO_KEYS, *NEW_COUNT_KEYS):
            batch.drop_column(key)
