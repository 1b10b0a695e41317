"""/api/teams/{team_id}/grants and the runners' /api/runner/team-grants: runner grants of
team items (services/teamgrants.py holds every rule). An admin grants from the web app or
from a paired laptop (`zkvault team grant`), hence web sessions and machines alike."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from ..deps import DB, Runner, State, WebOrMachine
from ..encoding import b64url_encode
from ..errors import AUTH_ERRORS, errors
from ..services import teamgrants
from ..services.vault import decode_blob
from ..teamschemas import TeamGrantMeta, TeamGrantOut, TeamGrantPut

router = APIRouter(prefix="/api/teams", tags=["teams"], responses=AUTH_ERRORS)
runner_grants = APIRouter(prefix="/api/runner", tags=["runner"], responses=AUTH_ERRORS)


def _grant_meta(g: teamgrants.GrantView) -> TeamGrantMeta:
    return TeamGrantMeta(
        runner_id=g.runner_id,
        team_id=g.team_id.hex,
        grantor_id=g.grantor_id,
        revision=g.revision,
        size=g.size,
        updated_at=g.updated_at,
    )


@router.put(
    "/{team_id}/grants/{client_id}",
    response_model=TeamGrantMeta,
    responses=errors(403, 404, 409),
)
def put_grant(
    team_id: uuid.UUID,
    client_id: uuid.UUID,
    body: TeamGrantPut,
    who: WebOrMachine,
    db: DB,
    st: State,
) -> TeamGrantMeta:
    """Grants one of the caller's runners items of this team (admins and owners); the grant
    ends when the caller stops being an admin."""
    blob = decode_blob(body.blob, st.settings.max_grant_bytes, "grant")
    return _grant_meta(teamgrants.put(db, who.actor, team_id, client_id, body.revision, blob))


@router.delete(
    "/{team_id}/grants/{client_id}",
    status_code=204,
    response_class=Response,
    responses=errors(403, 404),
)
def delete_grant(team_id: uuid.UUID, client_id: uuid.UUID, who: WebOrMachine, db: DB) -> Response:
    teamgrants.delete(db, who.actor, team_id, client_id)
    return Response(status_code=204)


@router.get("/{team_id}/grants", response_model=list[TeamGrantMeta], responses=errors(403, 404))
def list_grants(team_id: uuid.UUID, who: WebOrMachine, db: DB) -> list[TeamGrantMeta]:
    """Every runner grant of the team and who granted it (admins and owners)."""
    return [_grant_meta(g) for g in teamgrants.for_team(db, who.actor, team_id)]


@runner_grants.get("/team-grants", response_model=list[TeamGrantOut])
def my_team_grants(who: Runner, db: DB) -> list[TeamGrantOut]:
    """A runner's own grants of team items."""
    return [
        TeamGrantOut(
            **_grant_meta(g).model_dump(),
            blob=b64url_encode(g.blob),
            grant_public_key=g.grant_public_key,
        )
        for g in teamgrants.for_runner(db, who.client_id)
    ]
