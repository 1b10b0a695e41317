"""/api/teams, /api/invitations and the runners' /api/runner/team-grants: teams, their
signed membership log, their vault, invitations, audit and runner grants.

Routers only translate: every rule is in server/services (teams, teamvault, invitations,
teamaudit, teamgrants). A team id the caller is not a member of answers exactly like a
missing one (404 no_such_team).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from ..deps import DB, AnyClient, Runner, State, Web, WebOrMachine
from ..encoding import b64url_encode
from ..errors import AUTH_ERRORS, ApiError, errors
from ..schemas import AuditExport, AuditHeadOut, AuditPage
from ..services import invitations, teamaudit, teamgrants, teams, teamvault
from ..services.vault import Retention, decode_blob
from ..teamschemas import (
    InvitationCreate,
    InvitationOut,
    LogAppend,
    LogAppended,
    LogOut,
    TeamCreate,
    TeamCreated,
    TeamGrantMeta,
    TeamGrantOut,
    TeamGrantPut,
    TeamsOut,
    TeamSummary,
    TeamVaultOut,
    TeamVaultPut,
    TeamVaultWritten,
)
from .audit import _out as audit_out
from .identity import decode

router = APIRouter(prefix="/api/teams", tags=["teams"], responses=AUTH_ERRORS)
invited = APIRouter(prefix="/api/invitations", tags=["teams"], responses=AUTH_ERRORS)
runner_grants = APIRouter(prefix="/api/runner", tags=["runner"], responses=AUTH_ERRORS)
ENTRY_MAX_BYTES = 262_144
_SEQ = Annotated[int, Query(ge=0, le=2**63 - 1)]


def _head(head: tuple[int, str] | None) -> AuditHeadOut | None:
    return AuditHeadOut(seq=head[0], hash=head[1]) if head else None


def _entry(text: str) -> bytes:
    raw = decode(text, "entry")
    if len(raw) > ENTRY_MAX_BYTES:
        raise ApiError(413, "too_large", f"an entry is at most {ENTRY_MAX_BYTES} bytes")
    return raw


def _invitation(v: invitations.InvitationView) -> InvitationOut:
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


@router.post("", status_code=201, response_model=TeamCreated, responses=errors(409, 422))
def create(body: TeamCreate, who: WebOrMachine, db: DB, st: State) -> TeamCreated:
    """A new team from its signed create entry and its first vault (revision 1, epoch 1).
    The creator's published identity must be the one the entry records."""
    raw = _entry(body.entry)
    blob = decode_blob(body.vault, st.settings.max_vault_bytes, "vault")
    made = teams.create(db, who.actor, raw, blob, Retention.of(st.settings))
    return TeamCreated(
        team_id=made.team_id.hex,
        revision=made.revision,
        head_seq=made.head_seq,
        audit_head=AuditHeadOut(seq=made.audit_head[0], hash=made.audit_head[1]),
    )


@router.get("", response_model=TeamsOut)
def list_teams(who: WebOrMachine, db: DB) -> TeamsOut:
    """The caller's teams (role as the server's table says) and open invitations."""
    mine = [
        TeamSummary(
            team_id=t.team_id.hex,
            name=t.name,
            role=t.role,
            head_seq=t.head_seq,
            epoch=t.epoch,
            revision=t.revision,
        )
        for t in teams.list_for(db, who.account_id)
    ]
    pending = [_invitation(v) for v in invitations.for_account(db, who.account_id)]
    return TeamsOut(teams=mine, invitations=pending)


@router.get("/{team_id}/log", response_model=LogOut, responses=errors(404))
def read_log(team_id: uuid.UUID, who: AnyClient, db: DB, after: _SEQ = 0) -> LogOut:
    """The membership log's entries after seq `after` (members; runners with a grant)."""
    ident = who.client_id if who.kind == "runner" else who.account_id
    entries, head = teams.log(db, team_id, ident, who.kind, after)
    return LogOut(entries=[b64url_encode(e) for e in entries], head_seq=head)


@router.post(
    "/{team_id}/log", response_model=LogAppended, responses=errors(403, 404, 409, 422, 507)
)
def append(
    team_id: uuid.UUID, body: LogAppend, who: WebOrMachine, db: DB, st: State
) -> LogAppended:
    """Appends one signed entry at head + 1 (409 log_conflict otherwise). An entry that
    begins an epoch (remove, rotate) must carry the re-sealed vault: both or neither."""
    raw = _entry(body.entry)
    vault = None
    if body.vault is not None:
        blob = decode_blob(body.vault, st.settings.max_vault_bytes, "vault")
        if body.base_revision is None:
            raise ApiError(422, "invalid_request", "base_revision: required with vault")
        vault = (blob, body.base_revision)
    done = teams.append(db, who.actor, team_id, raw, vault, Retention.of(st.settings))
    return LogAppended(
        head_seq=done.head_seq,
        epoch=done.epoch,
        revision=done.revision,
        audit_head=AuditHeadOut(seq=done.audit_head[0], hash=done.audit_head[1]),
    )


@router.get("/{team_id}/vault", response_model=TeamVaultOut, responses=errors(404))
def read_vault(team_id: uuid.UUID, who: AnyClient, db: DB) -> TeamVaultOut:
    """The team vault's current revision (members; runners with a grant of the team)."""
    ident = who.client_id if who.kind == "runner" else who.account_id
    v = teamvault.read(db, team_id, ident, who.kind)
    return TeamVaultOut(
        blob=b64url_encode(v.blob),
        revision=v.revision,
        epoch=v.epoch,
        head_seq=v.head_seq,
        sha256=v.sha256,
        audit_head=_head(v.audit_head),
    )


@router.put(
    "/{team_id}/vault",
    response_model=TeamVaultWritten,
    responses=errors(403, 404, 409, 422, 507),
)
def write_vault(
    team_id: uuid.UUID, body: TeamVaultPut, who: WebOrMachine, db: DB, st: State
) -> TeamVaultWritten:
    """Stores base_revision + 1 (writers and up; the header's epoch must be the log's)."""
    blob = decode_blob(body.blob, st.settings.max_vault_bytes, "vault")
    st.limiter.hit(
        db,
        f"write:{who.client_id}",
        st.settings.rate_vault_writes_per_client,
        window=st.settings.rate_vault_write_window_seconds,
    )
    w = teamvault.write(
        db,
        who.actor,
        team_id,
        body.base_revision,
        blob,
        Retention.of(st.settings),
        base_sha256=body.base_sha256,
    )
    return TeamVaultWritten(
        revision=w.revision,
        head_seq=w.head_seq,
        sha256=w.sha256,
        audit_head=AuditHeadOut(seq=w.audit_head[0], hash=w.audit_head[1]),
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
    return _invitation(invitations.create(db, who.actor, team_id, body.email, body.role))


@router.get(
    "/{team_id}/invitations", response_model=list[InvitationOut], responses=errors(403, 404)
)
def team_invitations(team_id: uuid.UUID, who: WebOrMachine, db: DB) -> list[InvitationOut]:
    """The team's open invitations (admins and owners)."""
    return [_invitation(v) for v in invitations.for_team(db, who.actor, team_id)]


@router.delete(
    "/{team_id}/invitations/{invitation_id}",
    response_model=InvitationOut,
    responses=errors(403, 404),
)
def withdraw(
    team_id: uuid.UUID, invitation_id: uuid.UUID, who: WebOrMachine, db: DB
) -> InvitationOut:
    """Withdraws an open invitation (admins and owners)."""
    return _invitation(invitations.withdraw(db, who.actor, team_id, invitation_id))


@invited.post("/{invitation_id}/accept", response_model=InvitationOut, responses=errors(404, 409))
def accept(invitation_id: uuid.UUID, who: WebOrMachine, db: DB) -> InvitationOut:
    """The invitee accepts; an admin's signed add entry then makes them a member."""
    return _invitation(invitations.accept(db, who.actor, invitation_id))


@invited.post("/{invitation_id}/decline", response_model=InvitationOut, responses=errors(404))
def decline(invitation_id: uuid.UUID, who: WebOrMachine, db: DB) -> InvitationOut:
    return _invitation(invitations.decline(db, who.actor, invitation_id))


@router.get("/{team_id}/audit", response_model=AuditPage, responses=errors(403, 404))
def audit_page(
    team_id: uuid.UUID,
    who: WebOrMachine,
    db: DB,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> AuditPage:
    """The team's audit trail, newest first (admins and owners)."""
    events = teamaudit.page(db, team_id, who.account_id, limit, before)
    more = len(events) == limit and events[-1].seq > 1
    return AuditPage(
        events=[audit_out(e) for e in events], next_before=events[-1].seq if more else None
    )


@router.get("/{team_id}/audit/export", response_model=AuditExport, responses=errors(403, 404))
def audit_export(team_id: uuid.UUID, who: WebOrMachine, db: DB, st: State) -> JSONResponse:
    """The team's whole chain, oldest first, to verify offline (admins and owners)."""
    chain, seq, digest, events = teamaudit.export(db, st.engine, team_id, who.account_id)
    body = AuditExport(
        chain=chain, head_seq=seq, head_hash=digest, events=[audit_out(e) for e in events]
    )
    return JSONResponse(
        body.model_dump(mode="json"),
        headers={"Content-Disposition": 'attachment; filename="zkvault-team-audit.json"'},
    )


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
    team_id: uuid.UUID, client_id: uuid.UUID, body: TeamGrantPut, who: Web, db: DB, st: State
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
def delete_grant(team_id: uuid.UUID, client_id: uuid.UUID, who: Web, db: DB) -> Response:
    teamgrants.delete(db, who.actor, team_id, client_id)
    return Response(status_code=204)


@router.get("/{team_id}/grants", response_model=list[TeamGrantMeta], responses=errors(403, 404))
def list_grants(team_id: uuid.UUID, who: Web, db: DB) -> list[TeamGrantMeta]:
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
