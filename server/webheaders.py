"""The headers the web app is served with: one definition for the server that sends them
(server.routers.webapp, server.middleware) and for `zkvault web verify`, which compares
what a server sends with what this version's server code would send. Standard library
only: the CLI imports it without the server's dependencies."""

from __future__ import annotations

from .middleware import API_CSP, COMMON_HEADERS, HSTS_HEADER, PAGE_CSP

IMMUTABLE = "public, max-age=31536000, immutable"
PAGE_CACHE = "no-cache"  # the page and the manifest: a deploy takes effect on the next load
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".wasm": "application/wasm",
    ".zip": "application/zip",
    ".whl": "application/zip",
    ".json": "application/json",
    ".py": "text/plain; charset=utf-8",
    ".bin": "application/octet-stream",
    ".svg": "image/svg+xml",
}
PAGE_TYPE = "text/html; charset=utf-8"
# Headers that would change what a browser does with the answer, and that our server
# never sends on these routes: expected absent.
ABSENT = ("refresh", "link", "service-worker-allowed", "content-security-policy-report-only")


def media_type(name: str) -> str:
    dot = name.rfind(".")
    return TYPES.get(name[dot:] if dot >= 0 else "", "application/octet-stream")


def _common(tls: bool) -> dict[str, str | None]:
    headers: dict[str, str | None] = {k: v for k, v in COMMON_HEADERS}
    if tls:
        headers[HSTS_HEADER[0]] = HSTS_HEADER[1]
    headers.update(dict.fromkeys(ABSENT))
    return headers


def page_headers(tls: bool) -> dict[str, str | None]:
    """Lower-case name -> value (None: must be absent) for / and /pair."""
    return {
        **_common(tls),
        "content-type": PAGE_TYPE,
        "content-security-policy": PAGE_CSP,
        "cache-control": PAGE_CACHE,
    }


def asset_headers(name: str, tls: bool) -> dict[str, str | None]:
    """For /assets/NAME: scripts carry the page policy (a worker's eval is checked against
    its own script's policy), everything else the API's."""
    kind = media_type(name)
    return {
        **_common(tls),
        "content-type": kind,
        "content-security-policy": PAGE_CSP if kind.startswith("text/javascript") else API_CSP,
        "cache-control": IMMUTABLE,
    }


def manifest_headers(tls: bool) -> dict[str, str | None]:
    return {
        **_common(tls),
        "content-type": "application/json",
        "content-security-policy": API_CSP,
        "cache-control": PAGE_CACHE,
    }
