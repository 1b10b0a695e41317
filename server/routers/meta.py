"""Health, JWKS and the caller's account. (The web app's pages: routers/webapp.py.)"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..deps import DB, State, WebOrMachine
from ..errors import AUTH_ERRORS, errors
from ..models import Account
from ..schemas import MeOut

router = APIRouter(tags=["meta"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/.well-known/jwks.json")
def jwks(st: State) -> JSONResponse:
    """Public keys (Ed25519, with kid) that verify our access tokens."""
    body: dict[str, Any] = st.keys.jwks()
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=300"})


@router.get("/api/me", response_model=MeOut, responses={**AUTH_ERRORS, **errors(404)})
def me(who: WebOrMachine, db: DB) -> MeOut:
    account = db.get(Account, who.account_id)
    assert account is not None  # a live client implies its account
    return MeOut(
        account_id=account.id,
        name=account.name,
        email=account.email,
        issuer=account.issuer,
        client_id=who.client_id,
        client_kind=who.kind,
    )
