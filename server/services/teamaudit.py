"""A team's own audit trail: the same hash chain as an account's (server/audit.py), named
by the team id, readable and exportable by the team's admins and owners only."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ..audit import GENESIS
from ..db import snapshot
from ..models import AuditEvent, AuditHead
from . import teamaccess


def _admin(db: Session, team_id: uuid.UUID, account_id: uuid.UUID) -> None:
    _, role = teamaccess.member(db, team_id, account_id)
    teamaccess.need(role, teamaccess.ADMIN, "the team's audit trail")


def page(
    db: Session, team_id: uuid.UUID, account_id: uuid.UUID, limit: int, before: int | None
) -> list[AuditEvent]:
    """Newest first, ``limit`` at a time below seq ``before``."""
    _admin(db, team_id, account_id)
    query = select(AuditEvent).where(AuditEvent.chain == str(team_id))
    if before is not None:
        query = query.where(AuditEvent.seq < before)
    return list(db.scalars(query.order_by(AuditEvent.seq.desc()).limit(limit)))


def export(
    db: Session, engine: Engine, team_id: uuid.UUID, account_id: uuid.UUID
) -> tuple[str, int, str, list[AuditEvent]]:
    """(chain, head seq, head hash, every event oldest first), read from one snapshot: the
    format `zkvault audit verify` checks (vault_core.audit_chain.verify_export)."""
    _admin(db, team_id, account_id)
    chain = str(team_id)
    with snapshot(engine, db) as view:
        head = view.get(AuditHead, chain)
        events = list(
            view.scalars(
                select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.seq)
            )
        )
    return chain, head.seq if head else 0, head.hash if head else GENESIS, events
