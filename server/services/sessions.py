"""Token families: one client (browser, machine, runner) and its refresh chain.

A refresh token is used once: the conditional UPDATE that marks it used is the
single point of truth across instances. Presenting it again means it leaked
(or a client lost a response): the whole family is revoked and audited.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .. import audit
from ..audit import Actor
from ..credentials import REFRESH_PREFIX, RUNNER_PREFIX, digest, new_secret
from ..db import utcnow
from ..models import Client, RefreshToken
from ..settings import Settings
from ..sqlutil import affected
from ..tokens import AccessClaims
from .errors import InvalidGrant, Revoked


@dataclass(frozen=True, slots=True)
class Issued:
    client: Client
    refresh_token: str


def create_client(
    db: Session,
    account_id: uuid.UUID,
    kind: str,
    name: str,
    *,
    public_key: str | None = None,
    grant_public_key: str | None = None,
    client_id: uuid.UUID | None = None,
) -> Client:
    client = Client(
        id=client_id or uuid.uuid4(),
        account_id=account_id,
        kind=kind,
        name=name,
        public_key=public_key,
        grant_public_key=grant_public_key,
        created_at=utcnow(),
    )
    db.add(client)
    db.flush()
    return client


def refresh_ttl(settings: Settings, kind: str) -> timedelta:
    seconds = (
        settings.web_refresh_ttl_seconds if kind == "web" else settings.machine_refresh_ttl_seconds
    )
    return timedelta(seconds=seconds)


def issue_refresh(db: Session, client: Client, settings: Settings) -> str:
    token = new_secret(REFRESH_PREFIX)
    now = utcnow()
    db.add(
        RefreshToken(
            id=uuid.uuid4(),
            client_id=client.id,
            token_hash=digest(token),
            created_at=now,
            expires_at=now + refresh_ttl(settings, client.kind),
        )
    )
    return token


def issue_runner_credential(client: Client) -> str:
    token = new_secret(RUNNER_PREFIX)
    client.credential_hash = digest(token)
    return token


def _invalid() -> InvalidGrant:
    return InvalidGrant("invalid_grant", "the refresh token is invalid, expired or revoked")


def rotate(
    db: Session, token: str, kinds: frozenset[str], settings: Settings, source: str
) -> Issued:
    """Spends one refresh token and returns its successor (commits)."""
    if not token.startswith(REFRESH_PREFIX):
        raise _invalid()
    found = db.execute(
        select(RefreshToken, Client)
        .join(Client, Client.id == RefreshToken.client_id)
        .where(RefreshToken.token_hash == digest(token))
    ).one_or_none()
    if found is None:
        raise _invalid()
    link, client = found
    actor = Actor(
        client.kind if client.kind != "web" else "account",
        str(client.id),
        client.account_id,
        source,
    )
    if client.kind not in kinds or client.revoked_at is not None:
        raise _invalid()
    now = utcnow()
    spent = affected(
        db,
        update(RefreshToken)
        .where(RefreshToken.id == link.id, RefreshToken.used_at.is_(None))
        .values(used_at=now),
    )
    if spent != 1:
        # Reuse of a rotated token: end the family, keep the evidence.
        db.execute(update(Client).where(Client.id == client.id).values(revoked_at=now))
        audit.record(
            db,
            actor,
            "token",
            "reuse",
            f"client:{client.id}",
            outcome="failure",
            detail="refresh token reused; family revoked",
        )
        db.commit()
        raise InvalidGrant(
            "refresh_reused",
            "this refresh token was already used; the session has been revoked",
        )
    if link.expires_at <= now:
        db.rollback()
        raise _invalid()
    successor = issue_refresh(db, client, settings)
    client.last_seen_at = now
    audit.record(db, actor, "token", "refresh", f"client:{client.id}")
    db.commit()
    return Issued(client, successor)


def exchange_runner_credential(db: Session, credential: str, source: str) -> Client:
    """A runner's long-lived credential buys a short access token (commits)."""
    if not credential.startswith(RUNNER_PREFIX):
        raise InvalidGrant("invalid_grant", "the runner credential is invalid or revoked")
    client = db.scalars(
        select(Client).where(Client.credential_hash == digest(credential), Client.kind == "runner")
    ).one_or_none()
    if client is None or client.revoked_at is not None:
        raise InvalidGrant("invalid_grant", "the runner credential is invalid or revoked")
    client.last_seen_at = utcnow()
    actor = Actor("runner", str(client.id), client.account_id, source)
    audit.record(db, actor, "token", "refresh", f"runner:{client.id}")
    db.commit()
    return client


def revoke_family(db: Session, client: Client, actor: Actor, obj: str) -> None:
    """Ends a client: its refresh chain and every access token it holds (commits)."""
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        client.credential_hash = None
    audit.record(db, actor, obj, "revoke", f"{obj}:{client.id}")
    db.commit()


def check_live(claims: AccessClaims, account_id: object, revoked_at: object) -> None:
    """Revocation must bite on the very next request: the caller looked the client up."""
    if account_id is None or revoked_at is not None or account_id != claims.account_id:
        raise Revoked("unauthorized", "this client has been revoked")
