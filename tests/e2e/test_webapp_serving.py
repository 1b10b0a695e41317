"""How the server serves the web app: policies, caching, encodings, and the unbuilt case."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import shutil
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser

from tests.support.processes import ServerProcess, start_server, stop

PAGE_POLICY = (
    "script-src 'self' 'wasm-unsafe-eval' 'unsafe-eval'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "connect-src 'self'",
    "worker-src 'self'",
    "default-src 'none'",
)


def test_pages_carry_the_strict_policy_and_are_not_cached(server: ServerProcess) -> None:
    for path in ("/", "/pair"):
        r = httpx.get(server.url + path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        policies = r.headers.get_list("content-security-policy")
        assert len(policies) == 1
        for directive in PAGE_POLICY:
            assert directive in policies[0]
        assert "unsafe-inline" not in policies[0]
        assert r.headers["cache-control"] == "no-cache"
        assert "<script>" not in r.text and " style=" not in r.text
        assert not re.search(r"<script(?![^>]*\bsrc=)", r.text)  # every script is external


def test_assets_are_immutable_with_sri_matching_their_bytes(
    server: ServerProcess, built_assets: Path
) -> None:
    page = httpx.get(server.url + "/").text
    tags = re.findall(r'(?:src|href)="(/assets/[^"]+)" integrity="(sha384-[^"]+)"', page)
    assert len(tags) >= 4
    for url, integrity in tags:
        r = httpx.get(server.url + url, headers={"Accept-Encoding": "identity"})
        assert r.status_code == 200
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
        digest = base64.b64encode(hashlib.sha384(r.content).digest()).decode()
        assert integrity == f"sha384-{digest}"
        if url.endswith(".js"):  # the worker needs the page policy on its own script
            assert r.headers["content-security-policy"].startswith(
                "default-src 'none'; script-src 'self'"
            )
    manifest = json.loads((built_assets / "manifest.json").read_text())
    worker = manifest["assets"]["worker.js"]["path"]
    r = httpx.get(f"{server.url}/{worker}")
    assert "'unsafe-eval'" in r.headers["content-security-policy"]


def test_large_assets_are_served_gzipped_when_accepted(
    server: ServerProcess, built_assets: Path
) -> None:
    manifest = json.loads((built_assets / "manifest.json").read_text())
    wasm = manifest["assets"]["pyodide/"]["path"] + "pyodide.asm.wasm"
    plain = httpx.get(f"{server.url}/{wasm}", headers={"Accept-Encoding": "identity"})
    assert plain.headers["content-type"] == "application/wasm"
    assert "content-encoding" not in plain.headers
    with httpx.stream("GET", f"{server.url}/{wasm}", headers={"Accept-Encoding": "gzip"}) as packed:
        assert packed.headers["content-encoding"] == "gzip"
        assert int(packed.headers["content-length"]) < len(plain.content) / 2


@pytest.mark.parametrize(
    "path",
    [
        "/assets/nope.js",
        "/assets/../index.html",  # (the manifest is public on purpose, at /manifest.json)
        "/assets/%2e%2e/manifest.json",
        "/assets/",
        "/assets/pyodide-000000000000/pyodide.mjs",
    ],
)
def test_only_built_files_are_served(server: ServerProcess, path: str) -> None:
    r = httpx.get(server.url + path)
    assert r.status_code == 404
    assert "version" not in r.text


def test_unbuilt_server_says_how_to_build(idp: str, tmp_path: Path) -> None:
    srv = start_server(idp, tmp_path, ZKVAULT_WEB_DIR=str(tmp_path / "missing"))
    try:
        r = httpx.get(srv.url + "/")
        assert r.status_code == 503
        assert "python tools/build_web.py" in r.text
        assert httpx.get(srv.url + "/healthz").status_code == 200  # the API still runs
    finally:
        stop(srv.proc)


def test_a_snapshot_other_than_the_built_one_is_refused_and_not_cached(
    idp: str, built_assets: Path, browser: Browser, tmp_path: Path
) -> None:
    """The worker checks the Pyodide snapshot against the SHA-384 the page was built with
    (itself, not through fetch's `integrity`: docs/web.md). One flipped bit in the last
    byte, a part of the heap that loading would not notice, and the engine refuses to
    start, says why, and keeps nothing in Cache Storage."""
    dist = tmp_path / "dist"
    shutil.copytree(built_assets, dist)
    manifest = json.loads((dist / "manifest.json").read_text())
    snapshot = dist / manifest["assets"]["snapshot.bin"]["path"]
    forged = bytearray(snapshot.read_bytes())
    forged[-1] ^= 1
    snapshot.write_bytes(forged)
    snapshot.with_name(snapshot.name + ".gz").write_bytes(gzip.compress(forged, 1))
    srv = start_server(idp, tmp_path, ZKVAULT_WEB_DIR=str(dist))
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(srv.url + "/")
        page.wait_for_selector("#engine.failed", timeout=60_000)
        assert page.locator("#engine-text").text_content() == (
            "The vault engine failed to load: "
            f"/{snapshot.relative_to(dist).as_posix()} is not the file this page was built with"
        )
        cached = page.evaluate(
            "async () => (await (await caches.open('zkvault-pyodide-snapshot')).keys()).length"
        )
        assert cached == 0
    finally:
        context.close()
        stop(srv.proc)


CACHED_SIZE = """async () => {
    const cache = await caches.open('zkvault-pyodide-snapshot');
    const [key] = await cache.keys();
    if (!key) return null;
    return (await (await cache.match(key)).arrayBuffer()).byteLength;
}"""


def test_a_warm_load_takes_the_packed_snapshot_from_cache_storage(
    server: ServerProcess, browser: Browser, built_assets: Path
) -> None:
    """After one load the snapshot sits packed in Cache Storage and the next load reads it
    from there (no request for it at all); an entry that is not a whole packed snapshot
    (an older version's, a truncated write) is fetched again and replaced."""
    manifest = json.loads((built_assets / "manifest.json").read_text())
    size = manifest["assets"]["snapshot.bin"]["bytes"]
    context = browser.new_context()
    try:
        page = context.new_page()
        snapshots: list[str] = []
        page.on("request", lambda r: snapshots.append(r.url) if "/snapshot." in r.url else None)

        def load() -> int:
            """Loads the page until the engine is ready and the cache holds the whole
            snapshot as served; returns how many times the snapshot was requested."""
            snapshots.clear()
            page.goto(server.url + "/")
            page.wait_for_selector("#engine[data-ready]", state="attached", timeout=60_000)
            deadline = time.monotonic() + 30
            while page.evaluate(CACHED_SIZE) != size:  # stored after the warm-up
                assert time.monotonic() < deadline, "the snapshot was not cached"
                page.wait_for_timeout(50)
            return len(snapshots)

        assert load() == 1
        assert load() == 0
        page.evaluate(
            """async () => {
                const cache = await caches.open('zkvault-pyodide-snapshot');
                const [key] = await cache.keys();
                await cache.put(key, new Response(new Uint8Array([0x5a, 0x4b, 0x53, 0x50, 9])));
            }"""
        )
        assert load() == 1
        assert load() == 0
    finally:
        context.close()
