"""Health, JWKS, the caller's account, and the placeholder start page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse

from ..deps import DB, State, WebOrMachine
from ..errors import AUTH_ERRORS, ApiError, errors
from ..models import Account
from ..schemas import MeOut

router = APIRouter(tags=["meta"])
_STATIC = Path(__file__).resolve().parent.parent / "static"


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


@router.get("/", include_in_schema=False)
@router.get("/pair", include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(_STATIC / "index.html", media_type="text/html")


@router.get("/static/{name}", include_in_schema=False)
def static(name: str) -> FileResponse:
    files = {"app.js": "text/javascript", "app.css": "text/css"}
    if name not in files:
        raise ApiError(404, "not_found", "not found")
    return FileResponse(_STATIC / name, media_type=files[name])
