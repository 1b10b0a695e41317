"""The web app: its page at / and /pair, and its content-hashed assets under /assets/.

The assets are built by tools/build_web.py into web/dist (or $ZKVAULT_WEB_DIR). The
server does not build them itself (a production host need not have node_modules);
`make run` builds first, and an unbuilt server answers the page with a 503 that says
how to build. Only files the build wrote are served, gzip-encoded when a .gz copy exists
and the client accepts it, and `/manifest.json`, the build's manifest (for `zkvault web
verify`). Hashed names never change content, so they are cached for a year; the page
itself is never cached, so a deploy takes effect on the next load. The headers are
defined in server.webheaders.

CSP: the page policy comes from server.middleware (docs/architecture.md). The worker script also
needs it (a dedicated worker's eval and fetches are checked against the policy of its
own script response too), so script assets carry it explicitly.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from ..middleware import PAGE_CSP
from ..webheaders import IMMUTABLE, PAGE_CACHE, media_type

router = APIRouter(include_in_schema=False)

ROOT = Path(__file__).resolve().parents[2]
NOT_BUILT = (
    "<!doctype html><meta charset=utf-8><title>zkvault: web app not built</title>"
    "<h1>The web app is not built</h1><p>Run <code>python tools/build_web.py</code> "
    "(or <code>make run</code>, which builds it) and reload.</p>"
)


def web_dir() -> Path:
    return Path(os.environ.get("ZKVAULT_WEB_DIR", ROOT / "web" / "dist"))


@dataclass(frozen=True)
class Build:
    stamp: float
    page: bytes
    manifest: bytes
    files: dict[str, Path]  # "name.hash.js" or "pyodide-hash/pyodide.mjs" -> file


_lock = threading.Lock()
_build: Build | None = None


def current_build() -> Build | None:
    """The built assets, re-read when the manifest changes (a rebuild needs no restart)."""
    global _build
    root = web_dir()
    manifest = root / "manifest.json"
    try:
        stamp = manifest.stat().st_mtime
    except FileNotFoundError:
        return None
    with _lock:
        if _build is None or _build.stamp != stamp:
            assets = root / "assets"
            files = {
                p.relative_to(assets).as_posix(): p
                for p in assets.rglob("*")
                if p.is_file() and p.suffix != ".gz"
            }
            page = (root / "index.html").read_bytes()
            _build = Build(stamp, page, manifest.read_bytes(), files)
        return _build


def _page() -> Response:
    build = current_build()
    if build is None:
        return HTMLResponse(NOT_BUILT, status_code=503, headers={"Cache-Control": "no-store"})
    return HTMLResponse(build.page, headers={"Cache-Control": PAGE_CACHE})


@router.get("/")
def index() -> Response:
    return _page()


@router.get("/pair")
def pair() -> Response:
    """The pairing approval page; the code travels in the fragment (#code=...)."""
    return _page()


@router.get("/manifest.json")
def manifest() -> Response:
    """The build's manifest (hashed names, SRI, its source fingerprint): public, as the
    assets are. `zkvault web verify` compares it, and names the version it comes from."""
    build = current_build()
    if build is None:
        return Response(
            "not built",
            status_code=503,
            media_type="text/plain",
            headers={"Cache-Control": "no-store"},
        )
    return Response(
        build.manifest, media_type="application/json", headers={"Cache-Control": PAGE_CACHE}
    )


@router.get("/assets/{name:path}")
def asset(name: str, request: Request) -> Response:
    build = current_build()
    path = build.files.get(name) if build else None
    if path is None:
        return Response(
            "not found",
            status_code=404,
            media_type="text/plain",
            headers={"Cache-Control": "no-store"},
        )
    kind = media_type(path.name)
    headers = {"Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding"}
    if kind.startswith("text/javascript"):
        headers["Content-Security-Policy"] = PAGE_CSP
    gz = path.with_name(path.name + ".gz")
    if "gzip" in request.headers.get("accept-encoding", "") and gz.is_file():
        headers["Content-Encoding"] = "gzip"
        return FileResponse(gz, media_type=kind, headers=headers)
    return FileResponse(path, media_type=kind, headers=headers)
