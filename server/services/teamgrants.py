"""Runner grants of a team vault's items: sealed to the runner like a personal grant
(opaque here), stored per runner per team with the grantor recorded.

Only an admin or owner of the team grants, and only to a runner of their own. A grant is
never stronger than its grantor's access: when the grantor stops being an admin or owner
(removed, left, demoted) the server deletes the grant in the same transaction as the log
entry (services/teams.py), and clients refuse a grant whose grantor is not an admin at the
log's head.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit import Actor
from ..db import utcnow
from ..models import Client, TeamGrant
from . import devices, teamaccess
from .errors import NotFound, RevisionConflict


@dataclass(frozen=True, slots=True)
class GrantView:
    runner_id: uuid.UUID
    team_id: uuid.UUID
    grantor_id: uuid.UUID
    revision: int
    size: int
    updated_at: datetime
    blob: bytes
    grant_public_key: str | None = None


def _view(g: TeamGrant, key: str | None = None) -> GrantView:
    return GrantView(
        g.runner_id, g.team_id, g.grantor_id, g.revision, g.size, g.updated_at, g.blob, key
    )


def _admin(db: Session, actor: Actor, team_id: uuid.UUID) -> None:
    assert actor.account_id is not None
    _, role = teamaccess.member(db, team_id, actor.account_id, lock=True)
    teamaccess.need(role, teamaccess.ADMIN, "granting a runner team items")


def put(
    db: Session, actor: Actor, team_id: uuid.UUID, runner_id: uuid.UUID, revision: int, blob: bytes
) -> GrantView:
    """Replaces the runner's grant of this team; revisions only go up (commits)."""
    assert actor.account_id is not None
    _admin(db, actor, team_id)
    runner = devices.owned(db, actor.account_id, "runner", runner_id)
    if runner.revoked_at is not None:
        raise NotFound("no_such_runner", "no such runner")
    grant = db.get(TeamGrant, (runner.id, team_id))
    now = utcnow()
    if grant is not None and revision <= grant.revision:
        raise RevisionConflict(
            f"the grant is at revision {grant.revision}; use a higher one",
            current_revision=grant.revision,
        )
    if grant is None:
        grant = TeamGrant(runner_id=runner.id, team_id=team_id, grantor_id=actor.account_id)
        db.add(grant)
    grant.revision, grant.size, grant.blob, grant.updated_at = revision, len(blob), blob, now
    db.flush()
    teamaccess.record(
        db,
        actor,
        team_id,
        "team-grant",
        "write",
        f"runner:{runner.id}",
        detail=f"revision {revision}, {len(blob)} bytes",
    )
    db.commit()
    return _view(grant)


def delete(db: Session, actor: Actor, team_id: uuid.UUID, runner_id: uuid.UUID) -> None:
    assert actor.account_id is not None
    _admin(db, actor, team_id)
    grant = db.get(TeamGrant, (runner_id, team_id))
    if grant is None or grant.grantor_id != actor.account_id:
        raise NotFound("no_grant", "this runner has no grant of this team from you")
    db.delete(grant)
    teamaccess.record(db, actor, team_id, "team-grant", "delete", f"runner:{runner_id}")
    db.commit()


def for_team(db: Session, actor: Actor, team_id: uuid.UUID) -> list[GrantView]:
    """Every runner grant of the team, whoever granted it (admins and owners)."""
    assert actor.account_id is not None
    _, role = teamaccess.member(db, team_id, actor.account_id)
    teamaccess.need(role, teamaccess.ADMIN, "listing runner grants")
    rows = db.scalars(
        select(TeamGrant).where(TeamGrant.team_id == team_id).order_by(TeamGrant.updated_at)
    )
    return [_view(g) for g in rows]


def for_runner(db: Session, runner_id: uuid.UUID) -> list[GrantView]:
    """A runner's own team grants, with its owner's grant-signing key."""
    rows = db.execute(
        select(TeamGrant, Client.grant_public_key)
        .join(Client, Client.id == TeamGrant.runner_id)
        .where(TeamGrant.runner_id == runner_id, Client.revoked_at.is_(None))
        .order_by(TeamGrant.team_id)
    )
    return [_view(g, key) for g, key in rows]
