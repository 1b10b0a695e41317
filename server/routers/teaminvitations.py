"""/api/teams/{team_id}/invitations and /api/invitations: inviting an account into a team,
accepting, declining, withdrawing (services/invitations.py holds every rule)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from ..deps import DB, WebOrMachine
from ..errors import AUTH_ERRORS, errors
from ..services import invitations
from ..teamschemas import InvitationCreate, InvitationOut

router = APIRouter(prefix="/api/teams", tags=["teams"], responses=AUTH_ERRORS)
invited = APIRouter(prefix="/api/invitations", tags=["teams"], responses=AUTH_ERRORS)


def out(v: invitations.InvitationView) -> InvitationOut:
    return InvitationOut(
        invitation_id=v.id,
        team_id=v.team_id.hex,
        team_name=v.team_name,
        account_id=v.account_id,
        email=v.email,
        role=v.role,
        invited_by=v.invited_by,
        status=v.status,
        created_at=v.created_at,
        updated_at=v.updated_at,
    )


@router.post(
    "/{team_id}/invitations",
    status_code=201,
    response_model=InvitationOut,
    responses=errors(403, 404, 409),
)
def invite(team_id: uuid.UUID, body: InvitationCreate, who: WebOrMachine, db: DB) -> InvitationOut:
    """Invites the account with this email (admins; owners to invite an owner). It must
    have published an identity."""
    return out(invitations.create(db, who.actor, team_id, body.email, body.role))


@router.get(
    "/{team_id}/invitations", response_model=list[InvitationOut], responses=errors(403, 404)
)
def team_invitations(team_id: uuid.UUID, who: WebOrMachine, db: DB) -> list[InvitationOut]:
    """The team's open invitations (admins and owners)."""
    return [out(v) for v in invitations.for_team(db, who.actor, team_id)]


@router.delete(
    "/{team_id}/invitations/{invitation_id}",
    response_model=InvitationOut,
    responses=errors(403, 404),
)
def withdraw(
    team_id: uuid.UUID, invitation_id: uuid.UUID, who: WebOrMachine, db: DB
) -> InvitationOut:
    """Withdraws an open invitation (admins and owners)."""
    return out(invitations.withdraw(db, who.actor, team_id, invitation_id))


@invited.post("/{invitation_id}/accept", response_model=InvitationOut, responses=errors(404, 409))
def accept(invitation_id: uuid.UUID, who: WebOrMachine, db: DB) -> InvitationOut:
    """The invitee accepts; an admin's signed add entry then makes them a member."""
    return out(invitations.accept(db, who.actor, invitation_id))


@invited.post("/{invitation_id}/decline", response_model=InvitationOut, responses=errors(404))
def decline(invitation_id: uuid.UUID, who: WebOrMachine, db: DB) -> InvitationOut:
    return out(invitations.decline(db, who.actor, invitation_id))
