"""/api/sessions: the owner's browser sessions (list; sign out every other one).

A browser session is a `web` client with a live refresh chain. Listing is a read; signing
out the others ends their refresh chains and access tokens as revoking a machine does
(token_families.revoke_family), one audit event each."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..deps import DB, Web
from ..errors import AUTH_ERRORS
from ..models import Client, RefreshToken
from ..services import token_families

router = APIRouter(prefix="/api/sessions", tags=["sessions"], responses=AUTH_ERRORS)


class SessionOut(BaseModel):
    id: uuid.UUID
    created_at: datetime
    last_seen_at: datetime | None
    current: bool  # the session this request was made with


class SignedOut(BaseModel):
    signed_out: int


def _live(db: Session, account_id: uuid.UUID) -> list[Client]:
    """Web clients not revoked whose refresh chain can still be spent."""
    spendable = exists().where(
        RefreshToken.client_id == Client.id,
        RefreshToken.used_at.is_(None),
        RefreshToken.expires_at > utcnow(),
    )
    query = (
        select(Client)
        .where(
            Client.account_id == account_id,
            Client.kind == "web",
            Client.revoked_at.is_(None),
            spendable,
        )
        .order_by(Client.created_at)
    )
    return list(db.scalars(query))


@router.get("", response_model=list[SessionOut])
def list_sessions(who: Web, db: DB) -> list[SessionOut]:
    """The account's signed-in browsers, oldest first; this one is marked `current`."""
    return [
        SessionOut(
            id=c.id,
            created_at=c.created_at,
            last_seen_at=c.last_seen_at,
            current=c.id == who.client_id,
        )
        for c in _live(db, who.account_id)
    ]


@router.post("/sign-out-others", response_model=SignedOut)
def sign_out_others(who: Web, db: DB) -> SignedOut:
    """Ends every browser session of the account except this one, at their next request."""
    others = [c for c in _live(db, who.account_id) if c.id != who.client_id]
    for client in others:
        token_families.revoke_family(db, client, who.actor, "session")
    return SignedOut(signed_out=len(others))
