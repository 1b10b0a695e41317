"""Request dependencies: database session, caller identity, rate-limit keys."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from .audit import Actor
from .errors import ApiError
from .models import Client
from .services.sessions import check_live
from .state import AppState
from .tokens import AccessClaims, TokenError


async def app_state(request: Request) -> AppState:
    # async: FastAPI would run a plain def in the thread pool, a needless hop.
    return state_of(request)


def state_of(request: Request) -> AppState:
    state = request.app.state.zk
    assert isinstance(state, AppState)
    return state


def get_db(request: Request) -> Iterator[Session]:
    session = state_of(request).sessions()
    try:
        yield session
    finally:
        session.close()  # rolls back anything not committed


def source_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: uuid.UUID
    client_id: uuid.UUID
    kind: str  # web | machine | runner
    source: str

    @property
    def actor(self) -> Actor:
        kind = "account" if self.kind == "web" else self.kind
        ident = str(self.account_id) if self.kind == "web" else str(self.client_id)
        return Actor(kind, ident, self.account_id, self.source)


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message)


def bearer_claims(request: Request, state: AppState, kinds: frozenset[str]) -> AccessClaims:
    """Checks the token itself (signature, issuer, audience, expiry): no I/O."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("a bearer access token is required")
    try:
        return state.keys.verify(token.strip(), kinds)
    except TokenError as exc:
        raise _unauthorized(str(exc)) from None


def principal(claims: AccessClaims, request: Request) -> Principal:
    return Principal(claims.account_id, claims.client_id, claims.kind, source_address(request))


def _authenticate(request: Request, db: Session, kinds: frozenset[str]) -> Principal:
    claims = bearer_claims(request, state_of(request), kinds)
    row = db.execute(
        select(Client.account_id, Client.revoked_at).where(Client.id == claims.client_id)
    ).one_or_none()
    check_live(claims, row.account_id if row else None, row.revoked_at if row else None)
    return principal(claims, request)


def require(*kinds: str) -> object:
    allowed = frozenset(kinds)

    def dependency(request: Request, db: Annotated[Session, Depends(get_db)]) -> Principal:
        return _authenticate(request, db, allowed)

    return Depends(dependency)


DB = Annotated[Session, Depends(get_db)]
State = Annotated[AppState, Depends(app_state)]
Web = Annotated[Principal, require("web")]
WebOrMachine = Annotated[Principal, require("web", "machine")]
Runner = Annotated[Principal, require("runner")]
