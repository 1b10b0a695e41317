"""A team's vault: opaque blobs under the current epoch's team key, one revision after the
other, history kept by age and count like the personal vault (services/vault.py).

The server reads only the public header (team, revision, epoch, log seq, writer) and
enforces roles from its own members table: a reader or a non-member cannot write, and a
write under an older epoch's key (one a removed member still knows) is refused.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .. import teamlog
from ..audit import Actor
from ..db import utcnow
from ..models import Team, TeamVaultVersion
from . import teamaccess
from .errors import Conflict, HistoryFull, Invalid, NotFound, RevisionConflict
from .vault import Retention


@dataclass(frozen=True, slots=True)
class TeamVault:
    team_id: uuid.UUID
    revision: int
    epoch: int
    head_seq: int
    sha256: str
    blob: bytes
    audit_head: tuple[int, str] | None


def _current(db: Session, team: Team) -> TeamVault:
    row = db.get(TeamVaultVersion, (team.id, team.revision))
    if row is None:  # a team is created with its vault: only a pruning bug gets here
        raise NotFound("no_team_vault", "this team has no vault")
    return TeamVault(
        team.id,
        team.revision,
        team.epoch,
        team.head_seq,
        row.sha256,
        row.blob,
        teamaccess.audit_head(db, team.id),
    )


def read(db: Session, team_id: uuid.UUID, account_id: uuid.UUID, kind: str) -> TeamVault:
    """Members read; a runner reads a team it holds a grant of (``account_id`` is then
    the runner's client id)."""
    if kind == "runner":
        team = teamaccess.runner_granted(db, team_id, account_id)
    else:
        team, _ = teamaccess.member(db, team_id, account_id)
    return _current(db, team)


def _header(blob: bytes) -> teamlog.TeamVaultHeader:
    try:
        return teamlog.vault_header(blob)
    except teamlog.TeamDataError as exc:
        raise Invalid(exc.code, str(exc)) from None


def store(
    db: Session,
    actor: Actor,
    team: Team,
    blob: bytes,
    base_revision: int,
    retention: Retention,
    *,
    base_sha256: str | None = None,
) -> tuple[int, str, tuple[int, str]]:
    """Stores ``blob`` as the next revision of ``team`` (whose row the caller has locked),
    audited, without committing; returns (revision, sha256, the team's audit head). The
    epoch and head checked are the row's (after an append, the new ones)."""
    assert actor.account_id is not None
    header = _header(blob)
    if header.team_id != team.id:
        raise Invalid("wrong_team", "the vault header names another team")
    if header.writer != actor.account_id:
        raise Invalid("wrong_writer", "the vault header names another writer")
    if header.epoch != team.epoch:
        raise Conflict(
            "stale_epoch",
            f"the vault is sealed for epoch {header.epoch}; the team is at epoch {team.epoch}:"
            " read the membership log and re-seal with the current team key",
        )
    if header.log_seq > team.head_seq:
        raise Invalid("log_seq_ahead", "the vault header names a log entry not stored yet")
    current_sha = db.scalar(
        select(TeamVaultVersion.sha256).where(
            TeamVaultVersion.team_id == team.id, TeamVaultVersion.revision == team.revision
        )
    )
    if base_revision != team.revision or base_sha256 not in (None, current_sha):
        raise RevisionConflict(
            f"the team vault is at revision {team.revision}; reload and retry",
            current_revision=team.revision,
        )
    new = base_revision + 1
    if header.revision != new:
        raise Invalid(
            "revision_mismatch",
            f"the vault header says revision {header.revision}, expected {new}",
        )
    now = utcnow()
    freed = 0
    if new > retention.keep:
        pruned = db.execute(
            delete(TeamVaultVersion)
            .where(
                TeamVaultVersion.team_id == team.id,
                TeamVaultVersion.created_at < now - timedelta(days=retention.days),
                TeamVaultVersion.revision <= new - retention.keep,
            )
            .returning(TeamVaultVersion.size)
        )
        freed = sum(pruned.scalars())
    grow = len(blob) - freed
    if grow > 0 and team.history_bytes + grow > retention.max_bytes:
        raise HistoryFull(
            f"the team vault's kept history would exceed {retention.max_bytes} bytes; nothing"
            " was stored, and writes fit again as old revisions age out"
        )
    sha = hashlib.sha256(blob).hexdigest()
    db.add(
        TeamVaultVersion(
            team_id=team.id,
            revision=new,
            epoch=header.epoch,
            writer_id=actor.account_id,
            size=len(blob),
            blob=blob,
            sha256=sha,
            created_at=now,
        )
    )
    team.revision, team.updated_at = new, now
    team.history_bytes += grow
    db.flush()
    head = teamaccess.record(
        db,
        actor,
        team.id,
        "team-vault",
        "write",
        f"team:{team.id.hex}",
        detail=f"revision {new}, epoch {header.epoch}, {len(blob)} bytes",
    )
    return new, sha, head


@dataclass(frozen=True, slots=True)
class Written:
    revision: int
    head_seq: int
    sha256: str
    audit_head: tuple[int, str]


def write(
    db: Session,
    actor: Actor,
    team_id: uuid.UUID,
    base_revision: int,
    blob: bytes,
    retention: Retention,
    *,
    base_sha256: str | None = None,
) -> Written:
    """A writer's (or higher) save of the team vault (commits)."""
    assert actor.account_id is not None
    team, role = teamaccess.member(db, team_id, actor.account_id, lock=True)
    teamaccess.need(role, teamaccess.WRITER, "writing the team vault")
    revision, sha, head = store(
        db, actor, team, blob, base_revision, retention, base_sha256=base_sha256
    )
    db.commit()
    return Written(revision, team.head_seq, sha, head)


@dataclass(frozen=True, slots=True)
class Kept:
    revision: int
    epoch: int
    size: int
    created_at: datetime


def history(
    db: Session, team_id: uuid.UUID, account_id: uuid.UUID, limit: int, before: int | None
) -> list[Kept]:
    """The team vault's kept revisions below ``before``, newest first (members)."""
    teamaccess.member(db, team_id, account_id)
    query = select(
        TeamVaultVersion.revision,
        TeamVaultVersion.epoch,
        TeamVaultVersion.size,
        TeamVaultVersion.created_at,
    ).where(TeamVaultVersion.team_id == team_id)
    if before is not None:
        query = query.where(TeamVaultVersion.revision < before)
    rows = db.execute(query.order_by(TeamVaultVersion.revision.desc()).limit(limit))
    return [Kept(r.revision, r.epoch, r.size, r.created_at) for r in rows]


def version(
    db: Session, team_id: uuid.UUID, account_id: uuid.UUID, revision: int
) -> TeamVaultVersion:
    """One kept revision (members): what a client holds an older copy against."""
    teamaccess.member(db, team_id, account_id)
    found = db.get(TeamVaultVersion, (team_id, revision))
    if found is None:
        raise NotFound("no_such_revision", "that revision is not kept")
    return found
