"""Pure ASGI middleware: security headers on every response, request size cap.

Pure ASGI (not BaseHTTPMiddleware) because it runs on every request and the
benchmark counts every microsecond.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Observer = Callable[[Scope, int, float], None]  # scope, status, seconds

# The web app's page policy (docs/architecture.md): Pyodide needs 'unsafe-eval' and
# 'wasm-unsafe-eval'; everything else same-origin, no inline code.
PAGE_CSP = (
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval' 'unsafe-eval'; "
    "worker-src 'self'; connect-src 'self'; img-src 'self'; style-src 'self'; "
    "font-src 'self'; manifest-src 'self'; form-action 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

COMMON_HEADERS = (
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
)
HSTS_HEADER = ("strict-transport-security", "max-age=63072000; includeSubDomains")
_COMMON = [(k.encode(), v.encode()) for k, v in COMMON_HEADERS]
_HSTS = (HSTS_HEADER[0].encode(), HSTS_HEADER[1].encode())


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = self.hsts or scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                names = {h[0].lower() for h in headers}
                is_html = any(
                    n.lower() == b"content-type" and v.startswith(b"text/html") for n, v in headers
                )
                csp = PAGE_CSP if is_html else API_CSP
                if b"content-security-policy" not in names:  # a route may set its own
                    headers.append((b"content-security-policy", csp.encode()))
                headers.extend(h for h in _COMMON if h[0] not in names)
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                if tls:
                    headers.append(_HSTS)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Refuses bodies over `limit` bytes with 413 before the app reads them."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    await _reply(send, 400, "bad_request", "bad Content-Length")
                    return
                if too_big:
                    await _reply(send, 413, "too_large", "request body too large")
                    return
        headers = dict(scope.get("headers", []))
        if b"content-length" not in headers and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body (a GET): nothing to cap
            return
        # Buffer the body (it is small by construction) so an over-long chunked
        # upload is refused here instead of failing half-way through the app.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await _reply(send, 413, "too_large", "request body too large")
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _reply(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"code": code, "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


access_log = logging.getLogger("zkvault.access")


class Observed:
    """Each HTTP request's status and duration, handed to every observer once it has been
    answered: the access log and the metrics, measured by one wrapper instead of two."""

    def __init__(self, app: ASGIApp, observers: list[Observer]) -> None:
        self.app = app
        self.observers = observers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app raises before starting one

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            seconds = time.perf_counter() - started
            for observe in self.observers:
                observe(scope, status, seconds)


def log_access(scope: Scope, status: int, seconds: float) -> None:
    """Method, path (never the query: an OIDC callback carries a code), status, time."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    client = scope.get("client") or ("-", 0)
    ms = round(seconds * 1000, 1)
    access_log.info(
        "%s %s %s %d %.1fms",
        client[0],
        scope["method"],
        scope["path"],
        status,
        ms,
        # For the JSON format (server/logfmt.py): the same fields, named.
        extra={
            "http": {
                "client": client[0],
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "ms": ms,
            }
        },
    )
