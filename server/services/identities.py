"""Public identity bundles (teams): publish one's own, read anyone's, find an account by
email to invite it. The server stores bundles opaque after checking their self-signature;
whom to trust is the clients' decision (pinned keys, safety numbers)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import audit, teamlog
from ..audit import Actor
from ..db import utcnow
from ..models import Account, Identity
from .errors import Conflict, Invalid, NotFound


@dataclass(frozen=True, slots=True)
class Published:
    account_id: uuid.UUID
    bundle: bytes
    created_at: datetime
    changed_at: datetime | None


def _published(row: Identity) -> Published:
    return Published(row.account_id, row.bundle, row.created_at, row.changed_at)


def publish(db: Session, actor: Actor, bundle: bytes) -> Published:
    """Stores the caller's own bundle (commits). A replacement is allowed, audited and
    marks ``changed_at``: everyone who pinned the old key is then warned by their client."""
    assert actor.account_id is not None
    try:
        teamlog.check_identity(bundle, actor.account_id)
    except teamlog.TeamDataError as exc:
        raise Invalid(exc.code, str(exc)) from None
    now = utcnow()
    row = db.get(Identity, actor.account_id, with_for_update=True)
    if row is not None and row.bundle == bundle:
        return _published(row)  # the same key again: nothing changed, nothing to audit
    if row is None:
        row = Identity(account_id=actor.account_id, bundle=bundle, created_at=now)
        db.add(row)
        audit.record(db, actor, "identity", "publish", f"account:{actor.account_id}")
    else:
        row.bundle, row.changed_at = bundle, now
        audit.record(db, actor, "identity", "replace", f"account:{actor.account_id}")
    db.commit()
    return _published(row)


def get(db: Session, account_id: uuid.UUID) -> Published:
    row = db.get(Identity, account_id)
    if row is None:
        raise NotFound("no_identity", "this account has published no identity")
    return _published(row)


def bundle_of(db: Session, account_id: uuid.UUID) -> bytes | None:
    return db.scalar(select(Identity.bundle).where(Identity.account_id == account_id))


@dataclass(frozen=True, slots=True)
class Found:
    account_id: uuid.UUID
    email: str
    name: str
    bundle: bytes | None


def by_email(db: Session, email: str) -> Found:
    """The one account with this email (compared without case). Two accounts with the
    same email (two identity providers) are refused: an invite must not guess."""
    rows = db.execute(
        select(Account.id, Account.email, Account.name)
        .where(func.lower(Account.email) == email.strip().lower())
        .limit(2)
    ).all()
    if not rows:
        raise NotFound("no_such_account", "no account has this email")
    if len(rows) > 1:
        raise Conflict("email_ambiguous", "more than one account has this email")
    row = rows[0]
    return Found(row.id, row.email, row.name, bundle_of(db, row.id))
