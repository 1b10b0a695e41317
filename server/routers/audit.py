"""/api/audit: the owner's own events, paged, and the whole chain as JSON."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy import select

from ..db import snapshot
from ..deps import DB, State, Web, WebOrMachine
from ..errors import AUTH_ERRORS
from ..models import AuditEvent, AuditHead
from ..schemas import AuditEventOut, AuditExport, AuditPage

router = APIRouter(prefix="/api/audit", tags=["audit"], responses=AUTH_ERRORS)


def _out(e: AuditEvent) -> AuditEventOut:
    return AuditEventOut(
        seq=e.seq,
        time=e.created_at,
        actor=e.actor,
        action=e.action,
        tag=e.tag,
        target=e.target,
        outcome=e.outcome,
        source=e.source,
        detail=e.detail,
        prev_hash=e.prev_hash,
        hash=e.hash,
    )


@router.get("", response_model=AuditPage)
def page(
    who: Web,
    db: DB,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> AuditPage:
    """Newest first; pass next_before to get the next page."""
    chain = str(who.account_id)
    query = select(AuditEvent).where(AuditEvent.chain == chain)
    if before is not None:
        query = query.where(AuditEvent.seq < before)
    events = list(db.scalars(query.order_by(AuditEvent.seq.desc()).limit(limit)))
    more = len(events) == limit and events[-1].seq > 1
    return AuditPage(events=[_out(e) for e in events], next_before=events[-1].seq if more else None)


@router.get("/export", response_model=AuditExport)
def export(who: WebOrMachine, db: DB, st: State) -> JSONResponse:
    """Every event of the caller's chain, oldest first, with hashes to verify offline
    (web and machine tokens: `zkvault audit verify` fetches it)."""
    chain = str(who.account_id)
    # The head and the events from one snapshot: appends by other requests or instances
    # in between would otherwise look like a truncated chain.
    with snapshot(st.engine, db) as view:
        head = view.get(AuditHead, chain)
        events = view.scalars(
            select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.seq)
        )
        body = AuditExport(
            chain=chain,
            head_seq=head.seq if head else 0,
            head_hash=head.hash if head else "0" * 64,
            events=[_out(e) for e in events],
        )
    return JSONResponse(
        body.model_dump(mode="json"),
        headers={"Content-Disposition": 'attachment; filename="zkvault-audit.json"'},
    )
