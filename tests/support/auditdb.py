"""Editing an audit chain in the server's database, behind the server's back, as an operator
who wants the edit to pass `zkvault-server verify-audit` would: the hashes after the edit
and the head are recomputed. Only the anchors sealed in the vault tell.

A chain is an account's (its id as text) or a team's (the team id as text, hyphenated):
the same rows, the same hashes, so every helper serves both."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, select, update

from server.audit import GENESIS, event_hash
from server.models import AuditEvent, AuditHead

EVENTS: Table = AuditEvent.__table__  # type: ignore[assignment]
HEADS: Table = AuditHead.__table__  # type: ignore[assignment]


def chain_rows(conn: Connection, chain: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(EVENTS).where(EVENTS.c.chain == chain).order_by(EVENTS.c.seq))
    return [dict(r) for r in rows.mappings()]


def relink(conn: Connection, chain: str, start: int) -> None:
    """Recompute the hashes from seq `start` on, and the head."""
    events = chain_rows(conn, chain)
    prev = next((e["hash"] for e in events if e["seq"] == start - 1), GENESIS)
    for e in events:
        if e["seq"] < start:
            continue
        e["prev_hash"] = prev
        e["hash"] = prev = event_hash(e)
        values = {"prev_hash": e["prev_hash"], "hash": e["hash"]}
        conn.execute(update(EVENTS).where(EVENTS.c.id == e["id"]).values(**values))
    last = events[-1]
    conn.execute(
        update(HEADS).where(HEADS.c.chain == chain).values(seq=last["seq"], hash=last["hash"])
    )


def rewrite(conn: Connection, chain: str, seq: int) -> None:
    """The event at seq says it failed; the chain is relinked after it."""
    conn.execute(
        update(EVENTS)
        .where(EVENTS.c.chain == chain, EVENTS.c.seq == seq)
        .values(outcome="failure", detail="rewritten")
    )
    relink(conn, chain, seq)


def restore(conn: Connection, chain: str, row: dict[str, Any]) -> None:
    """Undo ``rewrite``: the event's genuine contents back (``row`` as ``chain_rows`` read
    it), and every hash after it recomputed, which gives back the genuine ones."""
    conn.execute(
        update(EVENTS)
        .where(EVENTS.c.id == row["id"])
        .values(outcome=row["outcome"], detail=row["detail"])
    )
    relink(conn, chain, row["seq"])
