"""`zkvault web verify` against a real server process serving the real build, directly and
through tests/support/httpproxy.py telling one lie at a time: each lie must be reported
with the right status and exit code (and the all-ok run proves the proxy alone changes
nothing, so the lies are what the command sees)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.middleware import PAGE_CSP
from tests.native.serverproc import REPO, Server, start_server
from tests.support.httpproxy import Answer, HttpProxy, Lie, Request
from tests.support.processes import free_port

pytestmark = pytest.mark.slow  # ~45 MB fetched per run, a server per module

DIFFERS, NOT_COMPARABLE, UNREACHABLE = 11, 12, 7


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    subprocess.run(
        [sys.executable, str(REPO / "tools" / "build_web.py")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    srv = start_server()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def proxy(server: Server) -> Iterator[HttpProxy]:
    front = HttpProxy(server.url, abbreviate_assets=True)
    try:
        yield front
    finally:
        front.close()


def verify(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "native", "web", "verify", url, *extra],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def report(proxy: HttpProxy) -> tuple[int, dict[str, Any]]:
    done = verify(proxy.url, "--json")
    proxy.exchanges.clear()  # megabytes of assets per run
    assert "Traceback" not in done.stderr
    return done.returncode, json.loads(done.stdout)


def statuses(found: dict[str, Any]) -> dict[str, str]:
    """asset -> status for every row that is not ok."""
    return {row["asset"]: row["status"] for row in found["assets"] if row["status"] != "ok"}


def row(found: dict[str, Any], asset: str) -> dict[str, Any]:
    return next(r for r in found["assets"] if r["asset"] == asset)


def rewrite_body(change: Any) -> Any:
    def rewrite(request: Request, answer: Answer) -> None:
        answer.body = change(answer.body)

    return rewrite


def test_the_real_build_matches_and_the_table_says_so(server: Server) -> None:
    done = verify(server.url)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for asset in ("index.html", "worker.js", "snapshot.bin", "pyodide/pyodide.asm.wasm"):
        assert any(line.split()[:2] == [asset, "ok"] for line in lines), asset
    assert "not checked:" in done.stdout and "single one person out" in done.stdout


def test_through_the_proxy_everything_is_ok(proxy: HttpProxy) -> None:
    code, found = report(proxy)
    assert code == 0 and found["ok"] is True, statuses(found)
    assert len(found["assets"]) >= 26
    assert {r["status"] for r in found["assets"]} == {"ok"}


def test_one_changed_byte_in_a_script(proxy: HttpProxy) -> None:
    def flip(body: bytes) -> bytes:
        return body[:100] + bytes([body[100] ^ 1]) + body[101:]

    with proxy.telling(Lie("byte", "GET", r"/assets/app\.[0-9a-f]{12}\.js", rewrite_body(flip))):
        code, found = report(proxy)
    assert code == DIFFERS and found["ok"] is False
    assert statuses(found) == {"app.js": "changed"}
    assert row(found, "app.js")["detail"] == "content differs"


def test_a_changed_worker(proxy: HttpProxy) -> None:
    lie = Lie(
        "worker",
        "GET",
        r"/assets/worker\.[0-9a-f]{12}\.js",
        rewrite_body(lambda body: body + b"\nfetch('/steal');\n"),
    )
    with proxy.telling(lie):
        code, found = report(proxy)
    assert code == DIFFERS
    assert statuses(found) == {"worker.js": "changed"}


def test_a_changed_csp_header(proxy: HttpProxy) -> None:
    loose = PAGE_CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")

    def rewrite(request: Request, answer: Answer) -> None:
        answer.set_header("Content-Security-Policy", loose)

    with proxy.telling(Lie("csp", "GET", r"/", rewrite)):
        code, found = report(proxy)
    assert code == DIFFERS
    assert statuses(found) == {"index.html": "changed"}  # /pair was not touched
    detail = row(found, "index.html")["detail"]
    assert detail.startswith("header content-security-policy:") and "unsafe-inline" in detail


def test_an_injected_script_reference(proxy: HttpProxy) -> None:
    evil = '<script src="/assets/evil.0123456789ab.js"></script></head>'
    lie = Lie("inject", "GET", r"/", rewrite_body(lambda b: b.replace(b"</head>", evil.encode())))
    with proxy.telling(lie):
        code, found = report(proxy)
    assert code == DIFFERS
    assert statuses(found) == {"index.html": "changed", "evil.js": "unexpected"}
    assert row(found, "evil.js")["path"] == "/assets/evil.0123456789ab.js"


def test_a_removed_asset(proxy: HttpProxy) -> None:
    def gone(request: Request, answer: Answer) -> None:
        answer.status, answer.body = 404, b"not found"

    with proxy.telling(Lie("gone", "GET", r"/assets/snapshot\.[0-9a-f]{12}\.bin", gone)):
        code, found = report(proxy)
    assert code == DIFFERS
    assert statuses(found) == {"snapshot.bin": "missing"}
    assert row(found, "snapshot.bin")["detail"] == "HTTP 404"


def test_another_version_is_refused_as_not_comparable(proxy: HttpProxy) -> None:
    def other(request: Request, answer: Answer) -> None:
        manifest = answer.json()
        manifest["source"] = "0" * 64
        answer.set_json(manifest)

    with proxy.telling(Lie("version", "GET", r"/manifest\.json", other)):
        code, found = report(proxy)
    assert code == NOT_COMPARABLE
    assert found["ok"] is False and found["error"] == "version_mismatch"


def test_not_a_zkvault_server(server: Server) -> None:
    done = verify(server.idp, "--json")  # the identity provider: an HTTP server, not ours
    assert done.returncode == NOT_COMPARABLE
    assert json.loads(done.stdout)["error"] == "not_zkvault"
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_an_unreachable_server() -> None:
    done = verify(f"http://127.0.0.1:{free_port()}")
    assert done.returncode == UNREACHABLE
    assert done.stderr.startswith("zkvault: cannot reach http://127.0.0.1:")
    assert done.stderr.count("\n") == 1


def test_the_build_is_reproducible(tmp_path: Path) -> None:
    """The premise: the same source builds to the same bytes, the snapshot included."""
    for out in ("a", "b"):
        subprocess.run(
            [sys.executable, "tools/build_web.py", "--force", "--out", str(tmp_path / out)],
            cwd=REPO,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*"))
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*"))
    assert any(str(f).startswith("assets/snapshot.") for f in files)
    for rel in files:
        if (tmp_path / "a" / rel).is_file():
            assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
