"""Logins of ``motcua web`` (issue 23): table ``web_users``.

One row per login: the unit it sees (with the units below it in force), its role
(``viewer`` | ``admin``), the argon2 hash of its password (never the password), when it
was made and when it was revoked (null: active). A revoked login keeps its row, so the
name is not silently given to someone else. Downgrade drops the table.

Revision ID: 0006_web_users
Revises: 0005_portal_counts
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_web_users"
down_revision = "0005_portal_counts"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "web_users",
        sa.Column("login", sa.String(100), primary_key=True),
        sa.Column("unit", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("web_users")
