"""/api/teams: teams, their signed membership log, their vault and its history, and their
audit trail (invitations: teaminvitations.py; runner grants: teamgrants.py).

Routers only translate: every rule is in server/services (teams, teamvault, invitations,
teamaudit, teamgrants). A team id the caller is not a member of answers exactly like a
missing one (404 no_such_team).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from ..deps import DB, AnyClient, State, WebOrMachine
from ..encoding import b64url_encode
from ..errors import AUTH_ERRORS, ApiError, errors
from ..schemas import AuditExport, AuditHeadOut, AuditPage
from ..services import invitations, teamaudit, teams, teamvault
from ..services.vault import Retention, decode_blob
from ..teamschemas import (
    LogAppend,
    LogAppended,
    LogOut,
    TeamCreate,
    TeamCreated,
    TeamsOut,
    TeamSummary,
    TeamVaultOut,
    TeamVaultPut,
    TeamVaultWritten,
    TeamVersionBlobOut,
    TeamVersionOut,
)
from . import teaminvitations
from .audit import _out as audit_out
from .identity import decode

router = APIRouter(prefix="/api/teams", tags=["teams"], responses=AUTH_ERRORS)
ENTRY_MAX_BYTES = 262_144
_SEQ = Annotated[int, Query(ge=0, le=2**63 - 1)]


def _head(head: tuple[int, str] | None) -> AuditHeadOut | None:
    return AuditHeadOut(seq=head[0], hash=head[1]) if head else None


def _entry(text: str) -> bytes:
    raw = decode(text, "entry")
    if len(raw) > ENTRY_MAX_BYTES:
        raise ApiError(413, "too_large", f"an entry is at most {ENTRY_MAX_BYTES} bytes")
    return raw


@router.post("", status_code=201, response_model=TeamCreated, responses=errors(403, 409, 422))
def create(body: TeamCreate, who: WebOrMachine, db: DB, st: State) -> TeamCreated:
    """A new team from its signed create entry and its first vault (revision 1, epoch 1).
    The creator's published identity must be the one the entry records."""
    raw = _entry(body.entry)
    blob = decode_blob(body.vault, st.settings.max_vault_bytes, "vault")
    st.limiter.hit(db, f"team-create:{who.account_id}", st.settings.rate_team_creates_per_account)
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
    pending = [teaminvitations.out(v) for v in invitations.for_account(db, who.account_id)]
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


@router.get("/{team_id}/vault/history", response_model=list[TeamVersionOut], responses=errors(404))
def team_history(
    team_id: uuid.UUID,
    who: WebOrMachine,
    db: DB,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> list[TeamVersionOut]:
    """The team vault's kept revisions, newest first (members)."""
    return [
        TeamVersionOut(revision=k.revision, epoch=k.epoch, size=k.size, created_at=k.created_at)
        for k in teamvault.history(db, team_id, who.account_id, limit, before)
    ]


@router.get(
    "/{team_id}/vault/history/{revision}",
    response_model=TeamVersionBlobOut,
    responses=errors(404),
)
def team_version(
    team_id: uuid.UUID,
    revision: Annotated[int, Path(ge=1, le=2**63 - 1)],
    who: WebOrMachine,
    db: DB,
) -> TeamVersionBlobOut:
    """One kept revision's blob (members)."""
    v = teamvault.version(db, team_id, who.account_id, revision)
    return TeamVersionBlobOut(
        revision=v.revision,
        epoch=v.epoch,
        size=v.size,
        created_at=v.created_at,
        blob=b64url_encode(v.blob),
    )


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
