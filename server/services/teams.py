"""Teams: creation, the signed membership log and the server's members table it derives.

Every entry is checked with vault_core.teams before it is stored (seq = head + 1, the
previous hash, the signature by the key the log recorded, the signer's role at that
point): the same rule book every client replays, so a client is never shown an entry the
server could have refused. The members table is what the server enforces writes with.
An entry that starts a new epoch (remove, rotate) is stored only together with the team
vault re-sealed under the new key, in one transaction: there is never a moment where the
log says "removed" while the vault is still readable with a key the removed member holds.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import teamlog
from ..audit import Actor
from ..db import utcnow
from ..models import Account, Invitation, Team, TeamGrant, TeamLogEntry, TeamMember
from . import identities, teamaccess, teamvault
from .errors import Conflict, Forbidden, Invalid
from .vault import Retention

# Ops only an admin or owner may sign (the log's rule; the server checks its table too).
ADMIN_OPS = frozenset({"add", "remove", "role", "rotate"})
_NAME_MAX = 256


def _parsed(raw: bytes) -> teamlog.LogEntry:
    try:
        return teamlog.entry(raw)
    except teamlog.TeamDataError as exc:
        raise Invalid(exc.code, str(exc)) from None


def _applied(state: teamlog.TeamState | None, entry: teamlog.LogEntry) -> teamlog.TeamState:
    try:
        return teamlog.after(state, entry)
    except teamlog.TeamDataError as exc:
        raise Invalid(exc.code, str(exc)) from None


def _signed_by_caller(entry: teamlog.LogEntry, account_id: uuid.UUID) -> None:
    if entry.by != account_id.hex:
        raise Forbidden("not_signer", "an entry is appended by the member who signed it")


def _own_identity(db: Session, account_id: uuid.UUID, bundle: bytes) -> None:
    """An entry that records the caller's identity records the one published here."""
    if identities.bundle_of(db, account_id) != bundle:
        raise Conflict(
            "identity_mismatch",
            "the entry's identity is not the one published for this account"
            " (PUT /api/identity first, or re-read it)",
        )


@dataclass(frozen=True, slots=True)
class Created:
    team_id: uuid.UUID
    revision: int
    head_seq: int
    audit_head: tuple[int, str]


def create(db: Session, actor: Actor, raw: bytes, blob: bytes, retention: Retention) -> Created:
    """A team from its signed "create" entry and its first vault (commits)."""
    assert actor.account_id is not None
    entry = _parsed(raw)
    if entry.op != "create":
        raise Invalid("not_a_create", "a team is created by a create entry")
    _signed_by_caller(entry, actor.account_id)
    state = _applied(None, entry)
    assert entry.member is not None
    _own_identity(db, actor.account_id, entry.member.identity.bundle)
    team_id = teamlog.team_uuid(state.team_id)
    # The team's audit chain is named by its id: it may not be an account's (or a team's).
    if db.get(Team, team_id) is not None or db.get(Account, team_id) is not None:
        raise Conflict("team_exists", "a team with this id exists")
    now = utcnow()
    team = Team(
        id=team_id,
        name=state.name[:_NAME_MAX],
        created_at=now,
        head_seq=state.seq,
        head_hash=state.head.hex(),
        epoch=state.epoch,
        revision=0,
        updated_at=now,
        history_bytes=0,
    )
    db.add(team)
    db.add(TeamMember(team_id=team_id, account_id=actor.account_id, role="owner", since_seq=1))
    db.add(_log_row(team_id, entry, now))
    try:
        db.flush()
    except IntegrityError:  # another request created the same id in between
        db.rollback()
        raise Conflict("team_exists", "a team with this id exists") from None
    teamaccess.record(db, actor, team_id, "team", "create", f"team:{team_id.hex}")
    revision, _, head = teamvault.store(db, actor, team, blob, 0, retention)
    db.commit()
    teamlog.STATES.put(state)
    return Created(team_id, revision, team.head_seq, head)


def _log_row(team_id: uuid.UUID, entry: teamlog.LogEntry, now: datetime) -> TeamLogEntry:
    return TeamLogEntry(
        team_id=team_id,
        seq=entry.seq,
        entry=entry.raw,
        hash=entry.hash.hex(),
        op=entry.op,
        signer_id=uuid.UUID(hex=entry.by),
        created_at=now,
    )


@dataclass(frozen=True, slots=True)
class Listed:
    team_id: uuid.UUID
    name: str
    role: str
    head_seq: int
    revision: int
    epoch: int


def list_for(db: Session, account_id: uuid.UUID) -> list[Listed]:
    rows = db.execute(
        select(Team, TeamMember.role)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.account_id == account_id)
        .order_by(Team.created_at, Team.id)
    )
    return [Listed(t.id, t.name, role, t.head_seq, t.revision, t.epoch) for t, role in rows]


def log(
    db: Session, team_id: uuid.UUID, who: uuid.UUID, kind: str, after: int
) -> tuple[list[bytes], int]:
    """The entries after seq ``after`` and the head seq. Members read the log; so does a
    runner holding a grant of the team (it checks the vault's writer against it)."""
    if kind == "runner":
        team = teamaccess.runner_granted(db, team_id, who)
    else:
        team, _ = teamaccess.member(db, team_id, who)
    entries = db.scalars(
        select(TeamLogEntry.entry)
        .where(TeamLogEntry.team_id == team_id, TeamLogEntry.seq > after)
        .order_by(TeamLogEntry.seq)
    )
    return list(entries), team.head_seq


def _stored_state(db: Session, team: Team) -> teamlog.TeamState:
    cached = teamlog.STATES.get((team.id.hex, team.head_seq, team.head_hash))
    if cached is not None:
        return cached
    raws = db.scalars(
        select(TeamLogEntry.entry).where(TeamLogEntry.team_id == team.id).order_by(TeamLogEntry.seq)
    )
    # The stored log was checked entry by entry as it grew: a failure here is ours.
    return teamlog.state(list(raws))


@dataclass(frozen=True, slots=True)
class Appended:
    head_seq: int
    epoch: int
    revision: int
    audit_head: tuple[int, str]


def append(
    db: Session,
    actor: Actor,
    team_id: uuid.UUID,
    raw: bytes,
    vault: tuple[bytes, int] | None,
    retention: Retention,
) -> Appended:
    """Appends one signed entry if its seq is the head's + 1 and the log's rules accept it;
    an entry starting a new epoch must come with ``vault`` (blob, base_revision) re-sealed
    under the new key, stored in the same transaction; others may carry one, except a
    leave (commits)."""
    assert actor.account_id is not None
    # Membership first: to anyone else the team does not exist, whatever they send.
    team, role = teamaccess.member(db, team_id, actor.account_id, lock=True)
    entry = _parsed(raw)
    if entry.team != team_id.hex:
        raise Invalid("wrong_team", "the entry names another team")
    _signed_by_caller(entry, actor.account_id)
    if entry.op in ADMIN_OPS:
        teamaccess.need(role, teamaccess.ADMIN, f"a {entry.op} entry")
    if entry.seq != team.head_seq + 1:
        raise Conflict(
            "log_conflict",
            f"the log's head is seq {team.head_seq}; read the new entries and sign again",
        )
    state = _applied(_stored_state(db, team), entry)
    new_epoch = state.epoch != team.epoch
    if new_epoch and vault is None:
        raise Invalid(
            "vault_required",
            f"a {entry.op} entry starts a new epoch: send the vault re-sealed under its key",
        )
    # A leaver stops being a member with this entry: it cannot also be the vault's writer.
    # Other entries may carry a vault (a demotion below writer re-signs the vault the
    # demoted member wrote, at the new head: one transaction, no moment clients refuse).
    if entry.op == "leave" and vault is not None:
        raise Invalid("vault_not_expected", "a leave entry carries no vault")
    now = utcnow()
    if entry.op == "add":
        _consume_invitation(db, actor, team_id, entry, now)
    db.add(_log_row(team_id, entry, now))
    team.head_seq, team.head_hash, team.epoch = state.seq, state.head.hex(), state.epoch
    team.updated_at = now
    db.flush()
    _sync_members(db, team_id, state, entry.seq)
    _drop_grants_of_non_admins(db, actor, team_id, state)
    head = _audit_entry(db, actor, team_id, entry)
    if vault is not None:
        blob, base_revision = vault
        _, _, head = teamvault.store(db, actor, team, blob, base_revision, retention)
    db.commit()
    teamlog.STATES.put(state)
    return Appended(team.head_seq, team.epoch, team.revision, head)


def _consume_invitation(
    db: Session, actor: Actor, team_id: uuid.UUID, entry: teamlog.LogEntry, now: datetime
) -> None:
    """An "add" needs the invitee's acceptance, and records the key it published."""
    assert entry.member is not None
    account_id = uuid.UUID(hex=entry.member.account)
    invitation = db.scalars(
        select(Invitation)
        .where(
            Invitation.team_id == team_id,
            Invitation.account_id == account_id,
            Invitation.status == "accepted",
        )
        .with_for_update()
    ).first()
    if invitation is None:
        raise Conflict(
            "invitation_required", "add someone who has accepted an invitation to this team"
        )
    _own_identity(db, account_id, entry.member.identity.bundle)
    invitation.status, invitation.updated_at = "added", now
    teamaccess.record(db, actor, team_id, "invitation", "consume", f"invitation:{invitation.id}")


def _sync_members(db: Session, team_id: uuid.UUID, state: teamlog.TeamState, seq: int) -> None:
    """The members table follows the verified state: the one place it changes."""
    stored = {
        m.account_id: m for m in db.scalars(select(TeamMember).where(TeamMember.team_id == team_id))
    }
    wanted = {uuid.UUID(hex=a): m.role for a, m in state.members.items()}
    for account_id, row in stored.items():
        if account_id not in wanted:
            db.delete(row)
        elif row.role != wanted[account_id]:
            row.role = wanted[account_id]
    for account_id, role in wanted.items():
        if account_id not in stored:
            db.add(TeamMember(team_id=team_id, account_id=account_id, role=role, since_seq=seq))
    db.flush()


def _drop_grants_of_non_admins(
    db: Session, actor: Actor, team_id: uuid.UUID, state: teamlog.TeamState
) -> None:
    """A runner's grant is never stronger than its grantor's access: when the grantor is
    no longer an admin or owner (removed, left, demoted) the grant ends with it."""
    grants = db.scalars(select(TeamGrant).where(TeamGrant.team_id == team_id)).all()
    for grant in grants:
        role = state.role_of(grant.grantor_id.hex)
        if role is None or teamaccess.RANK[role] < teamaccess.ADMIN:
            db.execute(
                delete(TeamGrant).where(
                    TeamGrant.team_id == team_id, TeamGrant.runner_id == grant.runner_id
                )
            )
            teamaccess.record(
                db,
                actor,
                team_id,
                "team-grant",
                "revoke",
                f"runner:{grant.runner_id}",
                detail=f"its grantor {grant.grantor_id} is no longer an admin",
            )


_AUDITED = {
    "add": ("member", "add"),
    "remove": ("member", "remove"),
    "role": ("member", "role"),
    "leave": ("member", "leave"),
    "rotate": ("key", "rotate"),
}


def _audit_entry(
    db: Session, actor: Actor, team_id: uuid.UUID, entry: teamlog.LogEntry
) -> tuple[int, str]:
    obj, verb = _AUDITED[entry.op]
    subject = entry.member.account if entry.member is not None else (entry.account or entry.by)
    detail = f"seq {entry.seq}, epoch {entry.epoch}"
    if entry.op == "role":
        detail += f", role {entry.role}"
    elif entry.op == "add" and entry.member is not None:
        detail += f", role {entry.member.role}, verified by {entry.member.verified}"
    return teamaccess.record(
        db, actor, team_id, obj, verb, f"account:{uuid.UUID(hex=subject)}", detail=detail
    )
