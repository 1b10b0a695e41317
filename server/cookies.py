"""The browser's cookies and the CSRF check on the calls that use them.

Only /auth/refresh and /auth/logout read a cookie (and /auth/callback the login
cookie); every /api call takes a DPoP-bound access token, which a cross-site page cannot
attach. The session cookies are bound to the browser's DPoP key, so the cookie alone
refreshes nothing.
"""

from __future__ import annotations

import hmac

from fastapi import Request, Response

from .errors import ApiError
from .services.signin import LOGIN_TTL
from .settings import Settings

LOGIN_MAX_AGE = int(LOGIN_TTL.total_seconds())  # the login row's own life
CSRF_COOKIE = "zkv_csrf"
CSRF_HEADER = "x-csrf-token"


def refresh_cookie_name(settings: Settings) -> str:
    return "__Secure-zkv_refresh" if settings.cookie_secure else "zkv_refresh"


def login_cookie_name(settings: Settings) -> str:
    # __Host-: Secure, Path=/, no Domain, so no sibling host or path can plant or shadow
    # it. Browsers refuse __Host- (and Secure) cookies over plain http, so the
    # development setting cookie_secure=false drops the prefix, as for the others.
    return "__Host-zkv_login" if settings.cookie_secure else "zkv_login"


def set_login(response: Response, settings: Settings, state: str) -> None:
    # Lax, not Strict: it must come back on the IdP's top-level redirect.
    response.set_cookie(
        login_cookie_name(settings),
        state,
        max_age=LOGIN_MAX_AGE,
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )


def clear_login(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        login_cookie_name(settings),
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )


def set_session(response: Response, settings: Settings, refresh: str, csrf: str | None) -> None:
    response.set_cookie(
        refresh_cookie_name(settings),
        refresh,
        max_age=settings.web_refresh_ttl_seconds,
        path="/auth",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="strict",
    )
    if csrf is not None:
        # Readable by the page on purpose: it echoes it in X-CSRF-Token.
        response.set_cookie(
            CSRF_COOKIE,
            csrf,
            max_age=settings.web_refresh_ttl_seconds,
            path="/",
            secure=settings.cookie_secure,
            httponly=False,
            samesite="strict",
        )


def clear_session(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        refresh_cookie_name(settings),
        path="/auth",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="strict",
    )
    response.delete_cookie(CSRF_COOKIE, path="/", secure=settings.cookie_secure, samesite="strict")


def check_csrf(request: Request, settings: Settings) -> None:
    """Double-submit token plus Origin check (SameSite=Strict is the third layer)."""
    origin = request.headers.get("origin")
    if origin is not None and origin != settings.public_origin:
        raise ApiError(403, "csrf", "cross-origin request refused")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), header.encode()):
        raise ApiError(403, "csrf", "missing or wrong X-CSRF-Token header")
