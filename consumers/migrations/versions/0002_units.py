"""docs/contract.md (issue 14): KPI snapshots by scope with view and unit name, the new count
and ratio keys, and the handling unit in the ledger.

* ``kpi_snapshots``: ``scope`` (``own`` | ``total``) joins the primary key, now (unit,
  period, scope); ``view`` (always ``as_was``: the stored snapshots are the live "as it
  was" view); ``unit_name``; counts ``reused``, ``synced``, ``due``, ``due_met`` and ratios
  ``on_time_due``, ``data_reuse``, ``portal_sync``. Rows stored before become
  ``view='as_was'``, ``scope='own'`` (v1 snapshots are a unit's own figures), their new
  counts 0 and new ratios null (until the next snapshot of that unit and period replaces
  them).
* ``dossiers``: ``handling_unit`` (cơ quan giải quyết), the receiving unit for rows stored
  before (v1 had no other); indexed like ``unit``. Classification ``stopped`` needs no
  change (a string column).

Revision ID: 0002_units
Revises: 0001_initial
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_units"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

# Frozen: the keys this revision adds (kpi.counters.COUNT_KEYS / kpi.ratios.RATIO_KEYS of
# docs/contract.md beyond 0001's copies).
NEW_COUNT_KEYS = ("reused", "synced", "due", "due_met")
NEW_RATIO_KEYS = ("on_time_due", "data_reuse", "portal_sync")

PK = "kpi_snapshots_pkey"
"""PostgreSQL's name of the primary key 0001 created (``<table>_pkey``)."""


def _rekey(key: tuple[str, ...], *, drop_defaults: tuple[str, ...] = ()) -> None:
    """Make ``key`` the primary key of ``kpi_snapshots`` and drop the server defaults of
    ``drop_defaults``. PostgreSQL alters the table; SQLite cannot alter a primary key, so
    the table is copied (Alembic batch mode) from its reflected columns, marked with the
    new key and without server defaults."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.drop_constraint(PK, "kpi_snapshots", type_="primary")
        op.create_primary_key(PK, "kpi_snapshots", list(key))
        for name in drop_defaults:
            op.alter_column("kpi_snapshots", name, server_default=None)
        return
    old = sa.Table("kpi_snapshots", sa.MetaData(), autoload_with=bind)
    new = sa.Table("kpi_snapshots", sa.MetaData(), *[
        sa.Column(c.name, c.type, nullable=c.nullable, primary_key=c.name in key)
        for c in old.columns])
    with op.batch_alter_table("kpi_snapshots", copy_from=new, recreate="always"):
        pass


def upgrade() -> None:
    # -- the ledger: handling unit = receiving unit for the rows already there
    with op.batch_alter_table("dossiers") as batch:
        batch.add_column(sa.Column("handling_unit", sa.String(100), nullable=True))
    op.execute("UPDATE dossiers SET handling_unit = unit")
    with op.batch_alter_table("dossiers") as batch:
        batch.alter_column("handling_unit", existing_type=sa.String(100), nullable=False)
        batch.create_index("ix_dossiers_handling_unit", ["handling_unit"])

    # -- snapshots: defaults only to fill the rows already there, dropped right after
    defaults = {"scope": "own", "view": "as_was", **dict.fromkeys(NEW_COUNT_KEYS, "0")}
    with op.batch_alter_table("kpi_snapshots") as batch:
        batch.add_column(sa.Column("scope", sa.String(10), nullable=False,
                                   server_default=defaults["scope"]))
        batch.add_column(sa.Column("view", sa.String(10), nullable=False,
                                   server_default=defaults["view"]))
        batch.add_column(sa.Column("unit_name", sa.String(255), nullable=True))
        for key in NEW_COUNT_KEYS:
            batch.add_column(sa.Column(key, sa.Integer, nullable=False, server_default="0"))
        for key in NEW_RATIO_KEYS:
            batch.add_column(sa.Column(key, sa.Float, nullable=True))
    _rekey(("unit", "period", "scope"), drop_defaults=tuple(defaults))


def downgrade() -> None:
    op.execute("DELETE FROM kpi_snapshots WHERE scope <> 'own'")
    _rekey(("unit", "period"))
    with op.batch_alter_table("kpi_snapshots") as batch:
        for key in (*NEW_RATIO_KEYS, *NEW_COUNT_KEYS, "unit_name", "view", "scope"):
            batch.drop_column(key)
    with op.batch_alter_table("dossiers") as batch:
        batch.drop_index("ix_dossiers_handling_unit")
        batch.drop_column("handling_unit")
