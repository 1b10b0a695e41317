"""teams: identities, teams, members, membership log, team vault revisions, invitations,
runner grants of team vaults

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _account(name: str, *, primary: bool = False) -> sa.Column[Any]:
    return sa.Column(
        name,
        sa.Uuid(),
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=primary,
    )


def _team(*, primary: bool = True) -> sa.Column[Any]:
    return sa.Column(
        "team_id",
        sa.Uuid(),
        sa.ForeignKey("teams.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=primary,
    )


def upgrade() -> None:
    op.create_table(
        "identities",
        _account("account_id", primary=True),
        sa.Column("bundle", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.Uuid(), primary_key=True, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("head_seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("history_bytes", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.create_table(
        "team_members",
        _team(),
        _account("account_id", primary=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("since_seq", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_team_members_account_id", "team_members", ["account_id"])
    op.create_table(
        "team_log",
        _team(),
        sa.Column("seq", sa.BigInteger(), primary_key=True, nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("op", sa.String(length=16), nullable=False),
        sa.Column("signer_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "team_vault_versions",
        _team(),
        sa.Column("revision", sa.BigInteger(), primary_key=True, nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("writer_id", sa.Uuid(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_team_vault_versions_team_created", "team_vault_versions", ["team_id", "created_at"]
    )
    op.create_table(
        "invitations",
        sa.Column("id", sa.Uuid(), primary_key=True, nullable=False),
        _team(primary=False),
        _account("account_id"),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("invited_by", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_invitations_team_status", "invitations", ["team_id", "status"])
    op.create_index("ix_invitations_account_status", "invitations", ["account_id", "status"])
    op.create_table(
        "team_grants",
        sa.Column(
            "runner_id",
            sa.Uuid(),
            sa.ForeignKey("clients.id", ondelete="CASCADE"),
            primary_key=True,
            nullable=False,
        ),
        _team(),
        _account("grantor_id"),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_team_grants_grantor_id", "team_grants", ["grantor_id"])


def downgrade() -> None:
    op.drop_index("ix_team_grants_grantor_id", table_name="team_grants")
    op.drop_table("team_grants")
    op.drop_index("ix_invitations_account_status", table_name="invitations")
    op.drop_index("ix_invitations_team_status", table_name="invitations")
    op.drop_table("invitations")
    op.drop_index("ix_team_vault_versions_team_created", table_name="team_vault_versions")
    op.drop_table("team_vault_versions")
    op.drop_table("team_log")
    op.drop_index("ix_team_members_account_id", table_name="team_members")
    op.drop_table("team_members")
    op.drop_table("teams")
    op.drop_table("identities")
