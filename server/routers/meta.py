"""Health, JWKS and the caller's account. (The web app's pages: routers/webapp.py.)"""

from __future__ import annotations

import asyncio
import hmac
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy.exc import SQLAlchemyError

from .. import metrics
from ..deps import DB, State, WebOrMachine
from ..errors import AUTH_ERRORS, error_response, errors
from ..migrate import missing_migrations
from ..models import Account
from ..schemas import MeOut

router = APIRouter(tags=["meta"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process serves requests. Never touches the database."""
    return {"status": "ok"}


# Its own two threads: a database that never answers keeps at most these busy, never
# the pool that serves requests.
_READINESS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="zkvault-readyz")


@router.get("/readyz", responses=errors(503))
async def readyz(st: State) -> Response:
    """Readiness: 200 only while the database answers, within readiness_timeout_seconds,
    with every migration this release needs; a balancer stops routing here otherwise."""

    def lacking() -> list[str]:
        with st.read_engine.connect() as conn:
            return missing_migrations(conn)

    loop = asyncio.get_running_loop()
    try:
        missing = await asyncio.wait_for(
            loop.run_in_executor(_READINESS, lacking), st.settings.readiness_timeout_seconds
        )
    except (SQLAlchemyError, TimeoutError):
        return error_response(503, "database_unavailable", "the database is unavailable")
    if missing:
        return error_response(
            503,
            "schema_outdated",
            f"the database lacks migration {missing[0]}: run `zkvault-server migrate`",
        )
    return JSONResponse({"status": "ready"}, headers={"Cache-Control": "no-store"})


@router.get("/metrics", include_in_schema=False)
def prometheus(request: Request, st: State) -> Response:
    """Prometheus text format, for a scraper that holds ZKVAULT_METRICS_TOKEN; without
    that setting the endpoint does not exist (docs/operations.md)."""
    token = st.settings.metrics_token
    if token is None:
        return error_response(404, "not_found", "not found")
    given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
        return error_response(401, "unauthorized", "a metrics bearer token is required")
    return PlainTextResponse(
        metrics.render(st.engine, st.watcher.waiting()),
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )


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
