"""Event contract v1.2 (the national portal's 2026 scoring of Decision 766): the new count
keys in ``kpi_snapshots`` (docs/contract.md, "New counts").

One column per new count key (Integer, not null). Rows stored before get 0 for every new
count (until the next snapshot of that unit, period and scope replaces them); the ``0``
server defaults only fill those rows and are dropped right after, as in ``0004_families``:
a writer gives every value. Downgrade drops the columns (the rows stay, without them).

Revision ID: 0005_portal_counts
Revises: 0004_families
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_portal_counts"
down_revision = "0004_families"
branch_labels = None
depends_on = None

# Frozen: the keys this revision adds (kpi.counters.COUNT_KEYS of contract v1.2).
NEW_COUNT_KEYS = (
    "procedures_updated", "procedures_updated_on_time", "procedures_complete", "handled",
    "sync_due", "synced_on_time", "handled_e_result", "handled_digitized", "handled_reused",
    "handled_stored_personal", "handled_citizen_data", "reuse_eligible",
    "procedures_citizen_data", "communes", "communes_e_certified_copy", "fee_procedures",
    "fee_procedures_paid_online", "fee_procedures_paid_portal", "dossiers_unsatisfied",
)


def upgrade() -> None:
    with op.batch_alter_table("kpi_snapshots") as batch:
        for key in NEW_COUNT_KEYS:
            batch.add_column(sa.Column(key, sa.Integer, nullable=False, server_default="0"))
    # the defaults only filled the rows already there (SQLite: one copy of the table)
    with op.batch_alter_table("kpi_snapshots") as batch:
        for key in NEW_COUNT_KEYS:
            batch.alter_column(key, existing_type=sa.Integer, existing_nullable=False,
                               server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("kpi_snapshots") as batch:
        for key in NEW_COUNT_KEYS:
            batch.drop_column(key)
