"""Machines and runners an owner has paired: list, rename, revoke; runner grants."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import audit
from ..audit import Actor
from ..db import utcnow
from ..models import Client, Grant, TeamGrant
from ..sqlutil import affected
from . import token_families
from .errors import NotFound, RevisionConflict


def list_clients(db: Session, account_id: uuid.UUID, kind: str) -> list[tuple[Client, int | None]]:
    rows = db.execute(
        select(Client, Grant.revision)
        .outerjoin(Grant, Grant.runner_id == Client.id)
        .where(Client.account_id == account_id, Client.kind == kind)
        .order_by(Client.created_at)
    )
    return [(c, rev) for c, rev in rows]


def owned(db: Session, account_id: uuid.UUID, kind: str, client_id: uuid.UUID) -> Client:
    client = db.get(Client, client_id)
    # Another account's id answers exactly like a missing one.
    if client is None or client.account_id != account_id or client.kind != kind:
        raise NotFound(f"no_such_{kind}", f"no such {kind}")
    return client


def rename(db: Session, actor: Actor, kind: str, client_id: uuid.UUID, name: str) -> Client:
    assert actor.account_id is not None
    client = owned(db, actor.account_id, kind, client_id)
    client.name = name
    audit.record(db, actor, kind, "rename", f"{kind}:{client.id}")
    db.commit()
    return client


def revoke(db: Session, actor: Actor, kind: str, client_id: uuid.UUID) -> Client:
    assert actor.account_id is not None
    client = owned(db, actor.account_id, kind, client_id)
    if kind == "runner":  # a revoked runner loses its grants at once, team ones too
        db.execute(delete(Grant).where(Grant.runner_id == client.id))
        db.execute(delete(TeamGrant).where(TeamGrant.runner_id == client.id))
    token_families.revoke_family(db, client, actor, kind)
    return client


def _live_runner(db: Session, account_id: uuid.UUID, runner_id: uuid.UUID) -> Client:
    runner = owned(db, account_id, "runner", runner_id)
    if runner.revoked_at is not None:
        raise NotFound("no_such_runner", "no such runner")
    return runner


def put_grant(db: Session, actor: Actor, runner_id: uuid.UUID, revision: int, blob: bytes) -> Grant:
    """Replaces a runner's grant; revisions only go up (commits)."""
    assert actor.account_id is not None
    runner = _live_runner(db, actor.account_id, runner_id)
    grant = db.get(Grant, runner.id, with_for_update=True)
    now = utcnow()
    if grant is not None and revision <= grant.revision:
        raise RevisionConflict(
            f"the grant is at revision {grant.revision}; use a higher one",
            current_revision=grant.revision,
        )
    if grant is None:
        grant = Grant(
            runner_id=runner.id,
            account_id=actor.account_id,
            revision=revision,
            size=len(blob),
            blob=blob,
            updated_at=now,
        )
        db.add(grant)
    else:
        grant.revision, grant.size, grant.blob, grant.updated_at = revision, len(blob), blob, now
    try:
        db.flush()
    except IntegrityError:  # another first grant for this runner landed in between
        db.rollback()
        raise RevisionConflict("the grant changed; reload and retry") from None
    audit.record(
        db,
        actor,
        "grant",
        "write",
        f"runner:{runner.id}",
        detail=f"revision {revision}, {len(blob)} bytes",
    )
    db.commit()
    return grant


def delete_grant(db: Session, actor: Actor, runner_id: uuid.UUID) -> None:
    assert actor.account_id is not None
    runner = owned(db, actor.account_id, "runner", runner_id)
    gone = affected(db, delete(Grant).where(Grant.runner_id == runner.id))
    if gone != 1:
        db.rollback()
        raise NotFound("no_grant", "this runner has no grant")
    audit.record(db, actor, "grant", "delete", f"runner:{runner.id}")
    db.commit()


def grant_of(db: Session, account_id: uuid.UUID, runner_id: uuid.UUID) -> tuple[Grant, Client]:
    runner = owned(db, account_id, "runner", runner_id)
    grant = db.get(Grant, runner.id)
    if grant is None:
        raise NotFound("no_grant", "this runner has no grant")
    return grant, runner
