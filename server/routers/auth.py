"""/auth: OIDC sign-in for browsers, token refresh for everyone."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import delete, select

from .. import audit, cookies
from ..audit import Actor
from ..credentials import digest
from ..db import utcnow
from ..deps import DB, State, source_address
from ..errors import AUTH_ERRORS, ApiError, errors
from ..models import Client, OidcLogin, RefreshToken
from ..oidc import SignInError
from ..schemas import AccessTokenOut, TokenOut, TokenRequest
from ..services import accounts, sessions

router = APIRouter(prefix="/auth", tags=["auth"])


@router.get(
    "/login",
    status_code=302,
    response_class=RedirectResponse,
    responses={302: {"description": "Redirect to the identity provider"}, **errors(502)},
)
def login(request: Request, db: DB, st: State) -> RedirectResponse:
    """Starts sign-in: redirects to the provider with PKCE, state and nonce."""
    st.limiter.hit(db, f"signin:{source_address(request)}", st.settings.rate_signin_per_ip)
    state, nonce, verifier = (
        secrets.token_urlsafe(32),
        secrets.token_urlsafe(32),
        secrets.token_urlsafe(48),
    )
    try:
        url = st.oidc.authorization_url(state, nonce, verifier)
    except SignInError as exc:
        raise ApiError(502, "idp_unavailable", str(exc)) from None
    now = utcnow()
    db.add(
        OidcLogin(
            state_hash=digest(state),
            nonce=nonce,
            code_verifier=verifier,
            created_at=now,
            expires_at=now + timedelta(seconds=cookies.LOGIN_MAX_AGE),
        )
    )
    db.execute(delete(OidcLogin).where(OidcLogin.expires_at < now))
    db.commit()
    response = RedirectResponse(url, status_code=302)
    cookies.set_login(response, st.settings, state)
    return response


@router.get(
    "/callback",
    status_code=302,
    response_class=RedirectResponse,
    responses={302: {"description": "Signed in: redirect to the app"}, **errors(400, 502)},
)
def callback(
    request: Request,
    db: DB,
    st: State,
    code: Annotated[str | None, Query(max_length=2048)] = None,
    state: Annotated[str | None, Query(max_length=256)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
) -> RedirectResponse:
    """The provider's redirect back: validates state, code and id_token, then signs in."""
    source = source_address(request)
    st.limiter.hit(db, f"signin:{source}", st.settings.rate_signin_per_ip)
    anonymous = Actor("anonymous", "", None, source)

    def fail(code_: str, message: str, status: int = 400) -> ApiError:
        db.rollback()
        audit.record(
            db, anonymous, "session", "sign-in", "account", outcome="failure", detail=code_
        )
        db.commit()
        return ApiError(status, code_, message)

    if error is not None:
        raise fail("idp_refused", "the identity provider refused the sign-in")
    expected = request.cookies.get(cookies.login_cookie_name(st.settings), "")
    if not code or not state or not hmac.compare_digest(expected.encode(), state.encode()):
        raise fail("state_mismatch", "the sign-in was not started in this browser")
    login_row = db.scalars(
        select(OidcLogin).where(OidcLogin.state_hash == digest(state))
    ).one_or_none()
    if login_row is None or login_row.expires_at <= utcnow():
        raise fail("state_expired", "the sign-in expired or was already completed")
    nonce, verifier = login_row.nonce, login_row.code_verifier
    db.delete(login_row)  # single use
    db.commit()
    try:
        who = st.oidc.exchange(code, verifier, nonce)
    except SignInError as exc:
        raise fail("signin_failed", str(exc), 400) from None
    account = accounts.upsert(db, who)
    client = sessions.create_client(db, account.id, "web", "browser")
    refresh = sessions.issue_refresh(db, client, st.settings)
    audit.record(
        db,
        Actor("account", str(account.id), account.id, source),
        "session",
        "sign-in",
        f"account:{account.id}",
        detail=f"client {client.id}",
    )
    db.commit()
    response = RedirectResponse(f"{st.settings.public_url}/", status_code=302)
    cookies.set_session(response, st.settings, refresh, secrets.token_urlsafe(32))
    response.delete_cookie(cookies.login_cookie_name(st.settings), path="/auth/callback")
    return response


@router.post("/refresh", response_model=AccessTokenOut, responses={**errors(401, 403)})
def refresh(request: Request, response: Response, db: DB, st: State) -> AccessTokenOut:
    """Browsers: spends the refresh cookie (needs X-CSRF-Token) for an access token."""
    cookies.check_csrf(request, st.settings)
    source = source_address(request)
    st.limiter.hit(db, f"refresh:{source}", st.settings.rate_refresh_per_ip)
    token = request.cookies.get(cookies.refresh_cookie_name(st.settings), "")
    issued = sessions.rotate(db, token, frozenset({"web"}), st.settings, source)
    cookies.set_session(response, st.settings, issued.refresh_token, None)
    access, ttl = st.keys.issue(issued.client.account_id, issued.client.id, "web")
    return AccessTokenOut(access_token=access, expires_in=ttl, account_id=issued.client.account_id)


@router.post("/logout", status_code=204, response_class=Response, responses={**errors(403)})
def logout(request: Request, db: DB, st: State) -> Response:
    """Browsers: ends this browser's session (its whole refresh family)."""
    cookies.check_csrf(request, st.settings)
    token = request.cookies.get(cookies.refresh_cookie_name(st.settings), "")
    found = (
        db.execute(
            select(Client)
            .join(RefreshToken, RefreshToken.client_id == Client.id)
            .where(RefreshToken.token_hash == digest(token), Client.kind == "web")
        ).scalar_one_or_none()
        if token
        else None
    )
    if found is not None:
        actor = Actor("account", str(found.account_id), found.account_id, source_address(request))
        sessions.revoke_family(db, found, actor, "session")
    response = Response(status_code=204)
    cookies.clear_session(response, st.settings)
    return response


@router.post(
    "/token",
    response_model=TokenOut,
    response_model_exclude_none=True,
    responses={**errors(401), **AUTH_ERRORS},
)
def token(request: Request, db: DB, st: State, body: Annotated[TokenRequest, Body()]) -> TokenOut:
    """Machines send their refresh token (rotated on every use); runners their credential."""
    source = source_address(request)
    st.limiter.hit(db, f"refresh:{source}", st.settings.rate_refresh_per_ip)
    if body.grant_type == "refresh_token":
        issued = sessions.rotate(
            db, body.refresh_token, frozenset({"machine"}), st.settings, source
        )
        access, ttl = st.keys.issue(issued.client.account_id, issued.client.id, "machine")
        return TokenOut(
            access_token=access,
            expires_in=ttl,
            account_id=issued.client.account_id,
            refresh_token=issued.refresh_token,
        )
    runner = sessions.exchange_runner_credential(db, body.credential, source)
    access, ttl = st.keys.issue(runner.account_id, runner.id, "runner")
    return TokenOut(access_token=access, expires_in=ttl, account_id=runner.account_id)
