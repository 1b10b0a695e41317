"""DPoP: the key each client, pairing and sign-in is bound to; proofs already accepted

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_BOUND = ("clients", "pairings", "oidc_logins")


def upgrade() -> None:
    # Nullable: a client paired before this revision has no key, so every request it
    # makes is refused (dpop_key_mismatch) and it pairs again.
    for table in _BOUND:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("dpop_jkt", sa.String(length=64), nullable=True))
    op.create_table(
        "dpop_proofs",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("dpop_proofs") as batch_op:
        batch_op.create_index("ix_dpop_proofs_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dpop_proofs") as batch_op:
        batch_op.drop_index("ix_dpop_proofs_expires_at")
    op.drop_table("dpop_proofs")
    for table in _BOUND:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("dpop_jkt")
