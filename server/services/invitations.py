"""Invitations into a team: an admin invites an account by email; the invitee accepts or
declines; an admin withdraws. Accepting adds nobody: the inviter's client then checks the
invitee's safety number (or records trust on first use) and appends the signed "add"
entry, which consumes the invitation (services/teams.py).

pending -> accepted -> added; pending or accepted -> declined | withdrawn.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit import Actor
from ..db import utcnow
from ..models import Invitation, Team
from . import identities, teamaccess
from .errors import Conflict, NotFound

OPEN = ("pending", "accepted")


@dataclass(frozen=True, slots=True)
class InvitationView:
    id: uuid.UUID
    team_id: uuid.UUID
    team_name: str
    account_id: uuid.UUID
    email: str
    role: str
    invited_by: uuid.UUID
    status: str
    created_at: datetime
    updated_at: datetime


def _view(inv: Invitation, team_name: str) -> InvitationView:
    return InvitationView(
        inv.id,
        inv.team_id,
        team_name,
        inv.account_id,
        inv.email,
        inv.role,
        inv.invited_by,
        inv.status,
        inv.created_at,
        inv.updated_at,
    )


def create(db: Session, actor: Actor, team_id: uuid.UUID, email: str, role: str) -> InvitationView:
    """An admin's invitation of the one account with ``email``, which must have published
    an identity (its key is what the team key will be sealed to). Commits."""
    assert actor.account_id is not None
    team, my_role = teamaccess.member(db, team_id, actor.account_id, lock=True)
    teamaccess.need(my_role, teamaccess.ADMIN, "inviting")
    if role == "owner":  # only an owner makes an owner (the log's rule)
        teamaccess.need(my_role, teamaccess.OWNER, "inviting an owner")
    found = identities.by_email(db, email)
    if found.bundle is None:
        raise Conflict(
            "no_identity", "this account has published no identity yet: ask them to sign in"
        )
    if teamaccess.role_of(db, team_id, found.account_id) is not None:
        raise Conflict("already_member", "this account is already a member of the team")
    open_one = db.scalar(
        select(Invitation.id).where(
            Invitation.team_id == team_id,
            Invitation.account_id == found.account_id,
            Invitation.status.in_(OPEN),
        )
    )
    if open_one is not None:
        raise Conflict("already_invited", "this account already has an open invitation")
    now = utcnow()
    inv = Invitation(
        id=uuid.uuid4(),
        team_id=team_id,
        account_id=found.account_id,
        email=found.email,
        role=role,
        invited_by=actor.account_id,
        status="pending",
        created_at=now,
        updated_at=now,
    )
    db.add(inv)
    db.flush()
    teamaccess.record(
        db,
        actor,
        team_id,
        "invitation",
        "create",
        f"account:{found.account_id}",
        detail=f"invitation {inv.id}, role {role}",
    )
    db.commit()
    return _view(inv, team.name)


def for_team(db: Session, actor: Actor, team_id: uuid.UUID) -> list[InvitationView]:
    """The team's open invitations (admins and owners)."""
    assert actor.account_id is not None
    team, my_role = teamaccess.member(db, team_id, actor.account_id)
    teamaccess.need(my_role, teamaccess.ADMIN, "listing invitations")
    rows = db.scalars(
        select(Invitation)
        .where(Invitation.team_id == team_id, Invitation.status.in_(OPEN))
        .order_by(Invitation.created_at, Invitation.id)
    )
    return [_view(inv, team.name) for inv in rows]


def for_account(db: Session, account_id: uuid.UUID) -> list[InvitationView]:
    """The caller's own open invitations."""
    rows = db.execute(
        select(Invitation, Team.name)
        .join(Team, Team.id == Invitation.team_id)
        .where(Invitation.account_id == account_id, Invitation.status.in_(OPEN))
        .order_by(Invitation.created_at, Invitation.id)
    )
    return [_view(inv, name) for inv, name in rows]


def _no_such() -> NotFound:
    return NotFound("no_such_invitation", "no such invitation")


def _open(db: Session, invitation_id: uuid.UUID) -> Invitation | None:
    inv = db.get(Invitation, invitation_id, with_for_update=True)
    return inv if inv is not None and inv.status in OPEN else None


def _mine(db: Session, actor: Actor, invitation_id: uuid.UUID) -> Invitation:
    inv = _open(db, invitation_id)
    if inv is None or inv.account_id != actor.account_id:
        raise _no_such()
    return inv


def _close(db: Session, actor: Actor, inv: Invitation, status: str, verb: str) -> InvitationView:
    inv.status, inv.updated_at = status, utcnow()
    teamaccess.record(
        db,
        actor,
        inv.team_id,
        "invitation",
        verb,
        f"account:{inv.account_id}",
        detail=f"invitation {inv.id}",
    )
    name = db.scalar(select(Team.name).where(Team.id == inv.team_id)) or ""
    db.commit()
    return _view(inv, name)


def accept(db: Session, actor: Actor, invitation_id: uuid.UUID) -> InvitationView:
    inv = _mine(db, actor, invitation_id)
    if inv.status != "pending":
        raise Conflict("already_accepted", "this invitation was already accepted")
    return _close(db, actor, inv, "accepted", "accept")


def decline(db: Session, actor: Actor, invitation_id: uuid.UUID) -> InvitationView:
    return _close(db, actor, _mine(db, actor, invitation_id), "declined", "decline")


def withdraw(
    db: Session, actor: Actor, team_id: uuid.UUID, invitation_id: uuid.UUID
) -> InvitationView:
    """An admin's withdrawal of an open invitation of their team."""
    assert actor.account_id is not None
    _, my_role = teamaccess.member(db, team_id, actor.account_id, lock=True)
    teamaccess.need(my_role, teamaccess.ADMIN, "withdrawing an invitation")
    inv = _open(db, invitation_id)
    if inv is None or inv.team_id != team_id:
        raise _no_such()
    return _close(db, actor, inv, "withdrawn", "withdraw")
