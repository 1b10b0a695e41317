"""vaults.blob_sha256: the current blob's hash, for exact-parent writes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 14:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: rows written before this revision get it on their next write
    # (reads compute it from the blob meanwhile).
    with op.batch_alter_table("vaults") as batch_op:
        batch_op.add_column(sa.Column("blob_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vaults") as batch_op:
        batch_op.drop_column("blob_sha256")
