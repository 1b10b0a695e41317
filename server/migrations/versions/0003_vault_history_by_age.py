"""vault history kept by age: vaults.history_bytes and an index on revisions' age

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vaults") as batch_op:
        batch_op.add_column(
            sa.Column("history_bytes", sa.BigInteger(), nullable=False, server_default="0")
        )
    # What each account keeps already counts against its bound from the start.
    op.execute(
        "UPDATE vaults SET history_bytes = COALESCE((SELECT SUM(v.size) FROM vault_versions v"
        " WHERE v.account_id = vaults.account_id), 0)"
    )
    op.create_index(
        "ix_vault_versions_account_created", "vault_versions", ["account_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_vault_versions_account_created", table_name="vault_versions")
    with op.batch_alter_table("vaults") as batch_op:
        batch_op.drop_column("history_bytes")
