"""Pairing a machine or enrolling a runner: request, approve in the browser, claim once.

The code is single-use (a conditional UPDATE moves the row out of "pending"),
expires after pairing_ttl_seconds, and every attempt to use one counts against
per-account and global limits kept in the database (docs/pairing.md has the
guessing bound). The machine's credential is minted only when it claims it,
so the database never holds it in the clear.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vault_core.fingerprints import fingerprint as key_fingerprint

from .. import audit
from ..audit import Actor
from ..credentials import (
    POLL_PREFIX,
    code_digests,
    digest,
    new_pairing_code,
    new_secret,
    normalize_code,
    same_digest,
)
from ..db import utcnow
from ..encoding import b64url_decode
from ..models import Pairing
from ..ratelimit import RateLimiter
from ..settings import Settings
from ..sqlutil import affected
from ..tokens import KeyRing
from . import token_families
from .errors import Gone, Invalid, NotAuthenticated, NotFound, RateLimited, Unavailable


@dataclass(frozen=True, slots=True)
class Created:
    pairing: Pairing
    code: str
    poll_secret: str


def create(
    db: Session,
    settings: Settings,
    kind: str,
    name: str,
    public_key: str,
    source: str,
    jkt: str,
) -> Created:
    """A pending pairing bound to the DPoP key `jkt` that asked: only that key may poll."""
    now = utcnow()
    pending = db.scalar(
        select(func.count())
        .select_from(Pairing)
        .where(Pairing.status == "pending", Pairing.expires_at > now)
    )
    if (pending or 0) >= settings.max_pending_pairings:
        raise RateLimited("too many pairings are waiting; retry later")
    # Housekeeping: a pairing a day past its claim window is of no further use.
    db.execute(delete(Pairing).where(Pairing.expires_at < now - timedelta(days=1)))
    for _ in range(5):  # a code collision is ~2^-50 per pending pairing; retry anyway
        code, poll_secret = new_pairing_code(), new_secret(POLL_PREFIX)
        pairing = Pairing(
            id=uuid.uuid4(),
            kind=kind,
            name=name,
            public_key=public_key,
            code_hash=code_digests(code, _server_keys(settings))[0],
            poll_hash=digest(poll_secret),
            dpop_jkt=jkt,
            status="pending",
            created_at=now,
            expires_at=now + timedelta(seconds=settings.pairing_ttl_seconds),
        )
        db.add(pairing)
        try:
            audit.record(
                db,
                Actor("anonymous", "", None, source),
                "pairing",
                "request",
                f"pairing:{pairing.id}",
                detail=f"{kind} pairing requested",
            )
            db.commit()
        except IntegrityError:
            db.rollback()
            continue
        return Created(pairing, code, poll_secret)
    raise Unavailable("unavailable", "could not allocate a pairing code")


def _count_attempt(
    db: Session, limiter: RateLimiter, settings: Settings, account_id: uuid.UUID
) -> None:
    limiter.hit(db, f"code:account:{account_id}", settings.rate_code_attempts_per_account)
    limiter.hit(db, "code:global", settings.rate_code_attempts_global)


def _server_keys(settings: Settings) -> list[str]:
    return settings.secrets_for_tokens


def _pending_by_code(db: Session, settings: Settings, code: str) -> Pairing:
    canonical = normalize_code(code)
    found = None
    if canonical is not None:
        found = db.scalars(
            select(Pairing).where(
                Pairing.code_hash.in_(code_digests(canonical, _server_keys(settings))),
                Pairing.status == "pending",
                Pairing.expires_at > utcnow(),
            )
        ).one_or_none()
    if found is None:
        # One answer for unknown, expired and used codes: nothing to learn.
        raise NotFound("unknown_code", "no pending pairing has this code")
    return found


def lookup(
    db: Session, limiter: RateLimiter, settings: Settings, account_id: uuid.UUID, code: str
) -> Pairing:
    _count_attempt(db, limiter, settings, account_id)
    return _pending_by_code(db, settings, code)


def decide(
    db: Session,
    limiter: RateLimiter,
    settings: Settings,
    actor: Actor,
    code: str,
    *,
    approve: bool,
    name: str | None = None,
    grant_public_key: str | None = None,
) -> Pairing:
    """Approves or refuses the pending pairing with this code (commits)."""
    assert actor.account_id is not None
    _count_attempt(db, limiter, settings, actor.account_id)
    pairing = _pending_by_code(db, settings, code)
    if approve and pairing.kind == "runner" and not grant_public_key:
        # A runner pins this key and verifies every grant with it (docs/pairing.md).
        raise Invalid("grant_key_required", "approving a runner needs grant_public_key")
    values: dict[str, object] = {
        "status": "approved" if approve else "refused",
        "account_id": actor.account_id,
    }
    if approve and name:
        values["name"] = name
    if approve and pairing.kind == "runner":
        values["grant_public_key"] = grant_public_key
    moved = affected(
        db,
        update(Pairing)
        .where(Pairing.id == pairing.id, Pairing.status == "pending")
        .values(**values),
    )
    if moved != 1:
        db.rollback()
        raise NotFound("unknown_code", "no pending pairing has this code")
    audit.record(
        db,
        actor,
        "pairing",
        "approve" if approve else "refuse",
        f"pairing:{pairing.id}",
        detail=f"{pairing.kind} {name or pairing.name}"[:256],
    )
    db.commit()
    db.refresh(pairing)
    return pairing


@dataclass(frozen=True, slots=True)
class PollResult:
    status: str
    kind: str
    client_id: uuid.UUID | None = None
    account_id: uuid.UUID | None = None
    access_token: str | None = None
    expires_in: int | None = None
    refresh_token: str | None = None
    runner_credential: str | None = None
    grant_public_key: str | None = None
    name: str | None = None


def poll(
    db: Session,
    settings: Settings,
    keys: KeyRing,
    pairing_id: uuid.UUID,
    poll_secret: str,
    source: str,
    jkt: str,
) -> PollResult:
    """The pairing's state, and once approved its credentials, to the key that asked."""
    pairing = db.get(Pairing, pairing_id)
    if pairing is None or not same_digest(poll_secret, pairing.poll_hash):
        raise NotFound("unknown_pairing", "no pairing matches this id and secret")
    if pairing.dpop_jkt is None or pairing.dpop_jkt != jkt:
        # A copied poll secret is not enough: the credentials go to the asking key only.
        raise NotAuthenticated("dpop_key_mismatch", "the DPoP proof is not by the key that asked")
    now = utcnow()
    if pairing.status == "claimed":
        raise Gone("already_claimed", "the credentials were already delivered")
    if pairing.status == "refused":
        return PollResult("refused", pairing.kind)
    if pairing.status == "pending":
        return PollResult("expired" if pairing.expires_at <= now else "pending", pairing.kind)
    return _claim(db, settings, keys, pairing, now, source)


def _claim(
    db: Session, settings: Settings, keys: KeyRing, pairing: Pairing, now: datetime, source: str
) -> PollResult:
    if now > pairing.expires_at + timedelta(seconds=settings.pairing_ttl_seconds):
        return PollResult("expired", pairing.kind)
    claimed = affected(
        db,
        update(Pairing)
        .where(Pairing.id == pairing.id, Pairing.status == "approved")
        .values(status="claimed"),
    )
    if claimed != 1:
        db.rollback()
        raise Gone("already_claimed", "the credentials were already delivered")
    assert pairing.account_id is not None and pairing.dpop_jkt is not None
    client = token_families.create_client(
        db,
        pairing.account_id,
        pairing.kind,
        pairing.name,
        dpop_jkt=pairing.dpop_jkt,
        public_key=pairing.public_key,
        grant_public_key=pairing.grant_public_key,
        client_id=pairing.id,  # the id the owner saw at approval, so a runner's pin names it
    )
    pairing.client_id = client.id
    refresh = runner_credential = None
    if pairing.kind == "runner":
        runner_credential = token_families.issue_runner_credential(client)
    else:
        refresh = token_families.issue_refresh(db, client, settings)
    actor = Actor(pairing.kind, str(client.id), pairing.account_id, source)
    verb = "enrol" if pairing.kind == "runner" else "pair"
    audit.record(
        db,
        actor,
        pairing.kind,
        verb,
        f"{pairing.kind}:{client.id}",
        detail=f"fingerprint {key_fingerprint(pairing.kind, b64url_decode(pairing.public_key))}",
    )
    db.commit()
    access, ttl = keys.issue(pairing.account_id, client.id, pairing.kind, pairing.dpop_jkt)
    return PollResult(
        "approved",
        pairing.kind,
        client.id,
        pairing.account_id,
        access,
        ttl,
        refresh,
        runner_credential,
        pairing.grant_public_key,
        pairing.name,
    )
