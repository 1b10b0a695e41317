"""Token families: one client (browser, machine, runner) and its refresh chain.

Every client holds a DPoP key (its thumbprint is on the client row) and every refresh
proves it. A refresh token is used once: the conditional UPDATE that marks it used is
the single point of truth across instances. The same key presenting it again is a retry
after a lost answer and gets the same successor, at any time, while that successor is
unused; any other key, or none, means the token leaked: the family is revoked and
audited, whatever the token's state.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .. import audit, metrics
from ..audit import Actor
from ..credentials import (
    REFRESH_PREFIX,
    RUNNER_PREFIX,
    digest,
    new_secret,
    refresh_successors,
)
from ..db import utcnow
from ..models import Client, RefreshToken
from ..settings import Settings
from ..sqlutil import affected
from ..tokens import AccessClaims
from . import headnotify
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
    dpop_jkt: str,
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
        dpop_jkt=dpop_jkt,
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


def issue_refresh(db: Session, client: Client, settings: Settings, token: str | None = None) -> str:
    token = token or new_secret(REFRESH_PREFIX)
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
    db: Session,
    token: str,
    kinds: frozenset[str],
    settings: Settings,
    source: str,
    jkt: str | None,
) -> Issued:
    """Spends one refresh token, proven by the DPoP key `jkt` (None: no proof), and
    returns its successor (commits).

    Concurrent and retried calls with one token resolve in the database: the
    conditional UPDATE lets exactly one spend it (PostgreSQL's row lock makes the
    other wait for that commit; SQLite's BEGIN IMMEDIATE serialises them). The other
    finds the token spent and, while the successor is unused, gets that same successor:
    only the client's own key gets this far, so no time window is needed."""
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
    if link.expires_at <= now:
        raise _invalid()
    if jkt is None or client.dpop_jkt is None or jkt != client.dpop_jkt:
        _end_family(db, client, actor, now, "without" if jkt is None else "by another")
    spent = affected(
        db,
        update(RefreshToken)
        .where(RefreshToken.id == link.id, RefreshToken.used_at.is_(None))
        .values(used_at=now),
    )
    successors = refresh_successors(token, settings.secrets_for_tokens)
    if spent == 1:
        successor = issue_refresh(db, client, settings, successors[0])
        client.last_seen_at = now
        audit.record(db, actor, "token", "refresh", f"client:{client.id}")
        db.commit()
        return Issued(client, successor)
    retried = _unused_successor(db, client, successors)
    if retried is not None:
        metrics.refresh_retry()
        audit.record(db, actor, "token", "refresh", f"client:{client.id}", detail="retried")
        db.commit()
        return Issued(client, retried)
    # The client's own key, but its successor is already in use: an old copy of the
    # client's own state, not a theft. Refused; the family lives on.
    db.rollback()
    raise InvalidGrant("invalid_grant", "this refresh token was already used and replaced")


def _end_family(db: Session, client: Client, actor: Actor, now: datetime, how: str) -> None:
    """A refresh token presented without its client's key: it leaked. End the family,
    keep the evidence, and say so."""
    metrics.refresh_reused()
    db.execute(update(Client).where(Client.id == client.id).values(revoked_at=now))
    headnotify.client_revoked(db, client.id)
    audit.record(
        db,
        actor,
        "token",
        "reuse",
        f"client:{client.id}",
        outcome="failure",
        detail=f"refresh token presented {how} key; family revoked",
    )
    db.commit()
    raise InvalidGrant(
        "refresh_reused",
        "this refresh token was presented without its client's key; the session has been revoked",
    )


def _unused_successor(db: Session, client: Client, successors: list[str]) -> str | None:
    """The successor a same-key retry gets, if it has not been used yet."""
    # A fresh read: the row was spent by a transaction that committed after ours began.
    by_hash = {digest(s): s for s in successors}
    found = db.scalar(
        select(RefreshToken.token_hash).where(
            RefreshToken.token_hash.in_(list(by_hash)),
            RefreshToken.client_id == client.id,
            RefreshToken.used_at.is_(None),
        )
    )
    return by_hash[found] if found is not None else None


def exchange_runner_credential(db: Session, credential: str, source: str, jkt: str) -> Client:
    """A runner's long-lived credential, proven by its DPoP key, buys a short access
    token (commits). A copied credential without the key buys nothing."""
    if not credential.startswith(RUNNER_PREFIX):
        raise InvalidGrant("invalid_grant", "the runner credential is invalid or revoked")
    client = db.scalars(
        select(Client).where(Client.credential_hash == digest(credential), Client.kind == "runner")
    ).one_or_none()
    if client is None or client.revoked_at is not None:
        raise InvalidGrant("invalid_grant", "the runner credential is invalid or revoked")
    if client.dpop_jkt is None:  # enrolled before proof of possession: no key to prove
        raise InvalidGrant(
            "unbound_client", "this runner was enrolled before proof of possession; enrol again"
        )
    if client.dpop_jkt != jkt:
        raise InvalidGrant("dpop_key_mismatch", "the DPoP proof is not by this runner's key")
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
        headnotify.client_revoked(db, client.id)
    audit.record(db, actor, obj, "revoke", f"{obj}:{client.id}")
    db.commit()


# "Last seen" follows every authenticated call (an agent's check-in, not only its token
# refresh), written at most once per step so that reads stay reads.
LAST_SEEN_STEP = timedelta(seconds=60)


def seen_long_ago(last_seen: datetime | None) -> bool:
    return last_seen is None or utcnow() - last_seen >= LAST_SEEN_STEP


def touch(db: Session, client_id: uuid.UUID) -> None:
    db.execute(update(Client).where(Client.id == client_id).values(last_seen_at=utcnow()))
    db.commit()


def check_live(claims: AccessClaims, account_id: object, revoked_at: object) -> None:
    """Revocation must bite on the very next request: the caller looked the client up."""
    if account_id is None or revoked_at is not None or account_id != claims.account_id:
        raise Revoked("revoked", "this client has been revoked")
