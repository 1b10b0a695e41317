"""/auth: OIDC sign-in for browsers, token refresh for everyone (services/signin.py does
the work; this module translates HTTP to it and back)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from .. import cookies
from ..deps import DB, State, proven, source_address
from ..errors import AUTH_ERRORS, ApiError, errors
from ..oidc import SignInError
from ..schemas import AccessTokenOut, LoginOut, TokenOut, TokenRequest
from ..services import signin
from ..state import AppState

router = APIRouter(prefix="/auth", tags=["auth"])


def _key_or_none(request: Request, db: DB, st: AppState) -> str | None:
    """The proven key of a refresh; None when no proof came at all (which the refresh
    treats as a stolen token). A bad proof is refused without touching the token."""
    if not request.headers.get("dpop"):
        return None
    return proven(request, db, st).jkt


@router.post("/login", response_model=LoginOut, responses={**errors(401, 502)})
def login(request: Request, db: DB, st: State) -> JSONResponse:
    """Starts sign-in for the browser key that proves this request: answers the
    provider's URL (PKCE, state, nonce) for the page to navigate to."""
    st.limiter.hit(db, f"signin:{source_address(request)}", st.settings.rate_signin_per_ip)
    jkt = proven(request, db, st).jkt
    try:
        started = signin.start(db, st.oidc, jkt)
    except SignInError as exc:
        raise ApiError(502, "idp_unavailable", str(exc)) from None
    response = JSONResponse(LoginOut(url=started.url).model_dump())
    cookies.set_login(response, st.settings, started.state)
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
    """The provider's redirect back: validates state, code and id_token, then signs in
    with a session bound to the key that started the login."""
    source = source_address(request)
    st.limiter.hit(db, f"signin:{source}", st.settings.rate_signin_per_ip)
    refresh = signin.finish(
        db,
        st.oidc,
        st.settings,
        code=code,
        state=state,
        cookie_state=request.cookies.get(cookies.login_cookie_name(st.settings), ""),
        idp_error=error,
        source=source,
    )
    response = RedirectResponse(f"{st.settings.public_url}/", status_code=302)
    cookies.set_session(response, st.settings, refresh, secrets.token_urlsafe(32))
    cookies.clear_login(response, st.settings)
    return response


@router.post("/refresh", response_model=AccessTokenOut, responses={**errors(401, 403)})
def refresh(request: Request, response: Response, db: DB, st: State) -> AccessTokenOut:
    """Browsers: spends the refresh cookie (needs X-CSRF-Token and a proof by the
    session's key) for an access token bound to that key."""
    cookies.check_csrf(request, st.settings)
    source = source_address(request)
    st.limiter.hit(db, f"refresh:{source}", st.settings.rate_refresh_per_ip)
    jkt = _key_or_none(request, db, st)
    token = request.cookies.get(cookies.refresh_cookie_name(st.settings), "")
    got = signin.refresh(db, st.keys, st.settings, "web", token, source, jkt)
    assert got.refresh_token is not None
    cookies.set_session(response, st.settings, got.refresh_token, None)
    return AccessTokenOut(
        access_token=got.access_token, expires_in=got.expires_in, account_id=got.account_id
    )


@router.post("/logout", status_code=204, response_class=Response, responses={**errors(401, 403)})
def logout(request: Request, db: DB, st: State) -> Response:
    """Browsers: ends this browser's session (its whole refresh family)."""
    cookies.check_csrf(request, st.settings)
    jkt = proven(request, db, st).jkt
    token = request.cookies.get(cookies.refresh_cookie_name(st.settings), "")
    signin.logout(db, token, source_address(request), jkt)
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
    """Machines send their refresh token (rotated on every use); runners their credential.
    Both with a proof by the client's key."""
    source = source_address(request)
    st.limiter.hit(db, f"refresh:{source}", st.settings.rate_refresh_per_ip)
    if body.grant_type == "refresh_token":
        jkt = _key_or_none(request, db, st)
        got = signin.refresh(db, st.keys, st.settings, "machine", body.refresh_token, source, jkt)
    else:
        got = signin.runner_token(db, st.keys, body.credential, source, proven(request, db, st).jkt)
    return TokenOut(
        access_token=got.access_token,
        expires_in=got.expires_in,
        account_id=got.account_id,
        refresh_token=got.refresh_token,
    )
