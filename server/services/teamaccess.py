"""Who may do what in a team, by the server's own members table (derived from the verified
membership log), and the team's audit trail.

Anyone not a member is told the team does not exist, exactly as for a missing id; a
member whose role is too low is told so (403 ``team_role``).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..audit import Actor
from ..models import AuditHead, Team, TeamGrant, TeamMember
from .errors import Forbidden, NotFound

ROLES = ("reader", "writer", "admin", "owner")  # rising; the log's order (format.md §15)
RANK = {role: rank for rank, role in enumerate(ROLES)}
WRITER, ADMIN, OWNER = RANK["writer"], RANK["admin"], RANK["owner"]


def no_such_team() -> NotFound:
    return NotFound("no_such_team", "no such team")


def role_of(db: Session, team_id: uuid.UUID, account_id: uuid.UUID) -> str | None:
    return db.scalar(
        select(TeamMember.role).where(
            TeamMember.team_id == team_id, TeamMember.account_id == account_id
        )
    )


def member(
    db: Session, team_id: uuid.UUID, account_id: uuid.UUID, *, lock: bool = False
) -> tuple[Team, str]:
    """The team and the caller's role in it; NotFound unless a member. ``lock`` takes the
    team row's lock first, which serialises every change of the team (log and vault)."""
    team = db.get(Team, team_id, with_for_update=lock)
    role = role_of(db, team_id, account_id) if team is not None else None
    if team is None or role is None:
        raise no_such_team()
    return team, role


def need(role: str, rank: int, what: str) -> None:
    if RANK.get(role, -1) < rank:
        raise Forbidden("team_role", f"{what} needs the {ROLES[rank]} role; yours is {role}")


def runner_granted(db: Session, team_id: uuid.UUID, runner_id: uuid.UUID) -> Team:
    """A runner reaches a team only through a grant of it (and only reads)."""
    team = db.get(Team, team_id)
    granted = db.get(TeamGrant, (runner_id, team_id)) is not None
    if team is None or not granted:
        raise no_such_team()
    return team


def record(
    db: Session,
    actor: Actor,
    team_id: uuid.UUID,
    obj: str,
    verb: str,
    target: str,
    detail: str = "",
) -> tuple[int, str]:
    """One event in the team's own hash chain (chain = the team id: the same chain machinery
    and export check as an account's, docs/server.md "Team audit")."""
    return audit.record(db, actor, obj, verb, target, detail=detail, account_id=team_id)


def audit_head(db: Session, team_id: uuid.UUID) -> tuple[int, str] | None:
    row = db.get(AuditHead, str(team_id))
    return (row.seq, row.hash) if row is not None else None
