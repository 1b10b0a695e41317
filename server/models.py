"""Database tables (SQLAlchemy 2 typed models). The API's shapes live in schemas.py."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .db import UTCDateTime

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Account(Base):
    """A person: (issuer, subject) from the IdP mapped to our own id."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_accounts_issuer_subject"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(512))
    subject: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(256))
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Client(Base):
    """A browser session, a paired machine or an enrolled runner: one token family."""

    __tablename__ = "clients"
    __table_args__ = (Index("ix_clients_account_kind", "account_id", "kind"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # web | machine | runner
    name: Mapped[str] = mapped_column(String(128))
    public_key: Mapped[str | None] = mapped_column(String(64))  # X25519, base64url
    grant_public_key: Mapped[str | None] = mapped_column(String(64))  # owner's Ed25519
    # Runners hold one long-lived credential (a CI secret cannot rotate): its hash.
    credential_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # RFC 7638 thumbprint of the DPoP key every request of this client proves (dpop.py).
    dpop_jkt: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RefreshToken(Base):
    """One link of a client's rotating refresh-token chain, stored as a hash."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Vault(Base):
    """Points at the account's current vault revision."""

    __tablename__ = "vaults"

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    vault_id: Mapped[uuid.UUID] = mapped_column()
    revision: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # SHA-256 (hex) of the current blob: lets a write name exactly what it replaces.
    blob_sha256: Mapped[str | None] = mapped_column(String(64))
    # Total size of the account's kept revisions, kept in step by every write: the
    # storage bound is checked in the write's own conditional update, not by a SUM.
    history_bytes: Mapped[int] = mapped_column(BigInteger, server_default="0")


class VaultVersion(Base):
    """An opaque vault blob at one revision; kept by age and count (services/vault.py)."""

    __tablename__ = "vault_versions"
    # Pruning looks for the revisions past the age bound: few rows, whatever the history.
    __table_args__ = (Index("ix_vault_versions_account_created", "account_id", "created_at"),)

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    revision: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Grant(Base):
    """One runner's sealed grant (opaque: sealed to the runner's X25519 key)."""

    __tablename__ = "grants"

    runner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    revision: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(Integer)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Pairing(Base):
    """A machine or runner waiting for its owner's approval."""

    __tablename__ = "pairings"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # machine | runner
    name: Mapped[str] = mapped_column(String(128))
    public_key: Mapped[str] = mapped_column(String(64))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    poll_hash: Mapped[str] = mapped_column(String(64))
    # pending -> approved -> claimed, or pending -> refused
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE")
    )
    grant_public_key: Mapped[str | None] = mapped_column(String(64))
    client_id: Mapped[uuid.UUID | None] = mapped_column()
    # The DPoP key that asked; polling must prove it (a poll secret alone is not enough).
    dpop_jkt: Mapped[str | None] = mapped_column(String(64))


class OidcLogin(Base):
    """An authorization request in flight: state (hashed), nonce, PKCE verifier."""

    __tablename__ = "oidc_logins"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str] = mapped_column(String(128))
    # The browser key that started it: the session the callback makes is bound to it.
    dpop_jkt: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class RateCounter(Base):
    """A fixed-window counter; shared by every instance through the database."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)  # epoch seconds


class AuditEvent(Base):
    """Append-only; each event's hash covers its fields and the previous hash."""

    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("chain", "seq", name="uq_audit_chain_seq"),
        Index("ix_audit_account_id", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[uuid.UUID | None] = mapped_column()
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128))
    tag: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The last (seq, hash) of each chain; its row lock serialises appends."""

    __tablename__ = "audit_heads"

    chain: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class DpopProof(Base):
    """A DPoP proof already accepted (its key's thumbprint and jti, hashed), until no
    instance would accept it any more (server/proofs.py)."""

    __tablename__ = "dpop_proofs"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)  # epoch seconds


# --- teams (docs/server.md, "Teams"; docs/teams.md) ---------------------------


class Identity(Base):
    """An account's public identity bundle (docs/format.md §15), stored as sent after its
    self-signature and account id were checked: the clients verify it themselves."""

    __tablename__ = "identities"

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    bundle: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Set when a bundle replaced another: everyone who pinned the old one must see it.
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Team(Base):
    """A team: the head of its membership log and of its vault. The id is the one the
    creator's log names; its row lock serialises the team's log appends and vault writes."""

    __tablename__ = "teams"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    head_seq: Mapped[int] = mapped_column(BigInteger)
    head_hash: Mapped[str] = mapped_column(String(64))
    epoch: Mapped[int] = mapped_column(BigInteger)
    revision: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    history_bytes: Mapped[int] = mapped_column(BigInteger, server_default="0")


class TeamMember(Base):
    """The server's view of who is in a team with which role, derived from the verified
    log; it is what the server enforces writes with (clients enforce the log itself)."""

    __tablename__ = "team_members"

    team_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16))  # owner | admin | writer | reader
    since_seq: Mapped[int] = mapped_column(BigInteger)


class TeamLogEntry(Base):
    """One signed membership-log entry, as sent: append-only, one per (team, seq)."""

    __tablename__ = "team_log"

    team_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    entry: Mapped[bytes] = mapped_column(LargeBinary)
    hash: Mapped[str] = mapped_column(String(64))
    op: Mapped[str] = mapped_column(String(16))
    signer_id: Mapped[uuid.UUID] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TeamVaultVersion(Base):
    """A team vault blob at one revision; kept by age and count like the personal vault."""

    __tablename__ = "team_vault_versions"
    __table_args__ = (Index("ix_team_vault_versions_team_created", "team_id", "created_at"),)

    team_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    revision: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger)
    writer_id: Mapped[uuid.UUID] = mapped_column()
    size: Mapped[int] = mapped_column(Integer)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Invitation(Base):
    """An admin's invitation of an account into a team, until the signed "add" entry
    consumes it (or it is withdrawn or declined)."""

    __tablename__ = "invitations"
    __table_args__ = (
        Index("ix_invitations_team_status", "team_id", "status"),
        Index("ix_invitations_account_status", "account_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    invited_by: Mapped[uuid.UUID] = mapped_column()
    # pending -> accepted -> added; pending|accepted -> withdrawn | declined
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TeamGrant(Base):
    """A runner's sealed grant of a team vault's items (opaque). The grantor is the
    runner's owner; the grant is deleted when the grantor stops being a team admin."""

    __tablename__ = "team_grants"

    runner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    grantor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    revision: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(Integer)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
