"""Append-only audit events in per-account hash chains.

Each event's hash covers its fields and the previous event's hash; the chain
head row holds the last (seq, hash). Appending updates the head first, which
takes its row lock (PostgreSQL) or the write lock (SQLite), so concurrent
instances append one after another and a chain never forks.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select
from sqlalchemy.orm import Session

from vault_core import audit_chain
from vault_core.audit_chain import GENESIS, SYSTEM_CHAIN, event_hash

from .db import utcnow
from .models import AuditEvent, AuditHead
from .sqlutil import insert_on_conflict

__all__ = ["GENESIS", "SYSTEM_CHAIN", "Actor", "event_hash", "record", "verify", "verify_export"]
_events: Table = AuditEvent.__table__  # type: ignore[assignment]
_heads: Table = AuditHead.__table__  # type: ignore[assignment]
# Constant statements with bound values: compiled once and cached.
_INSERT = _events.insert()
_BUMP = (
    _heads.update()
    .where(_heads.c.chain == bindparam("c"))
    .values(seq=_heads.c.seq + 1)
    .returning(_heads.c.seq, _heads.c.hash)
)
_SET_HEAD = _heads.update().where(_heads.c.chain == bindparam("c")).values(hash=bindparam("h"))


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted: ``kind`` is account | machine | runner | web | anonymous."""

    kind: str
    id: str
    account_id: uuid.UUID | None
    source: str

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.id}" if self.id else self.kind


def record(
    db: Session,
    actor: Actor,
    obj: str,
    verb: str,
    target: str,
    *,
    outcome: str = "success",
    detail: str = "",
    account_id: uuid.UUID | None = None,
) -> tuple[int, str]:
    """Adds one event to the owner's chain inside the caller's transaction; returns the
    chain's new head (seq, hash), which the vault's writes hand to the client."""
    owner = account_id or actor.account_id
    chain = str(owner) if owner else SYSTEM_CHAIN
    conn = db.connection()  # Core statements: this runs on every audited write
    seq, prev = _advance_head(conn, chain)
    event: dict[str, Any] = {
        "chain": chain,
        "seq": seq,
        "account_id": owner,
        "actor": actor.label[:128],
        "action": f"{obj}.{verb}"[:64],
        "target": target[:128],
        "tag": f"{actor.kind}:{obj}:{verb}"[:200],
        "outcome": outcome,
        "source": actor.source[:64],
        "detail": detail[:256],
        "created_at": utcnow(),
        "prev_hash": prev,
    }
    event["hash"] = event_hash(event)
    conn.execute(_INSERT, event)
    conn.execute(_SET_HEAD, {"c": chain, "h": event["hash"]})
    return seq, event["hash"]


def _advance_head(conn: Connection, chain: str) -> tuple[int, str]:
    row = conn.execute(_BUMP, {"c": chain}).one_or_none()
    if row is None:
        stmt = insert_on_conflict(conn.dialect.name, _heads).values(
            chain=chain, seq=0, hash=GENESIS
        )
        conn.execute(stmt.on_conflict_do_nothing(index_elements=["chain"]))
        row = conn.execute(_BUMP, {"c": chain}).one()
    return int(row[0]), str(row[1])


def verify(db: Session) -> tuple[int, list[str]]:
    """Recomputes every chain; returns (events checked, problems found)."""
    problems: list[str] = []
    checked = 0
    heads = {h.chain: h for h in db.scalars(select(AuditHead))}
    chains = set(heads) | set(db.scalars(select(AuditEvent.chain).distinct()))
    for chain in sorted(chains):
        prev, expected_seq = GENESIS, 1
        events = db.scalars(
            select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.seq)
        )
        for e in events:
            checked += 1
            if e.seq != expected_seq:
                problems.append(f"chain {chain}: event seq {e.seq}, expected {expected_seq}")
            if e.prev_hash != prev:
                problems.append(f"chain {chain} seq {e.seq}: previous hash does not link")
            if event_hash(e.__dict__) != e.hash:
                problems.append(f"chain {chain} seq {e.seq}: contents do not match hash")
            prev, expected_seq = e.hash, e.seq + 1
        head = heads.get(chain)
        if head is None or head.seq != expected_seq - 1 or head.hash != prev:
            problems.append(f"chain {chain}: head does not match the last event (truncated?)")
    return checked, problems


def verify_export(document: Mapping[str, Any]) -> tuple[int, list[str]]:
    """Checks an owner's export (GET /api/audit/export) offline, without the database and
    without anchors (`zkvault audit verify` holds it against the vault's too)."""
    report = audit_chain.verify_export(document, ())
    return report.checked, [p.message for p in report.problems]
