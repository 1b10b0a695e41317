"""The page a person sees when sign-in fails: what happened, what to do, and the typed
code (the same code an API client gets as JSON)."""

from __future__ import annotations

from html import escape

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from . import metrics

SIGNIN_PATHS = frozenset({"/auth/login", "/auth/callback"})

_ADVICE = {
    "idp_refused": "The identity provider did not allow the sign-in. Try again, or ask "
    "your administrator whether your account may use this vault.",
    "state_mismatch": "The sign-in was started in another browser or tab, or its cookie "
    "was blocked. Start again from this browser.",
    "state_expired": "The sign-in took too long, or was already completed. Start again.",
    "signin_failed": "The identity provider's answer could not be verified. Start again; "
    "if it keeps failing, tell your administrator the code below (a server clock that is "
    "off by more than the allowed skew causes this).",
    "idp_unavailable": "The identity provider could not be reached. Try again in a few minutes.",
    "rate_limited": "Too many sign-in attempts came from your address. Wait a few "
    "minutes, then start again.",
    "database_unavailable": "The server cannot reach its database just now. Try again in a minute.",
}


def wanted(request: Request) -> bool:
    """A browser navigating sign-in (it asks for HTML), not an API client."""
    return request.url.path in SIGNIN_PATHS and "text/html" in request.headers.get("accept", "")


def render(status: int, code: str, message: str) -> Response:
    metrics.error(code)
    advice = _ADVICE.get(code, "Start again; if it keeps failing, tell your administrator.")
    body = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign-in failed - zkvault</title>
</head>
<body>
<main class="signin-failed">
<h1>Sign-in failed</h1>
<p>{escape(message)}.</p>
<p>{escape(advice)}</p>
<p>Error code: <code id="error-code">{escape(code)}</code></p>
<p><a href="/">Back to zkvault</a></p>
</main>
</body>
</html>
"""
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})
