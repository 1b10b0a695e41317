"""The real zkvault server and OIDC provider as processes, driven over HTTP.

The identity provider is launched by the same helper as the other suites use.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

try:  # the shared launcher, once it lands; the API suite's until then
    from tests.support.processes import free_port, start_idp, wait_http
except ImportError:  # pragma: no cover
    from tests.api.conftest import free_port, start_idp, wait_http  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parents[2]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Server:
    url: str
    idp: str
    proc: subprocess.Popen[bytes]
    idp_proc: subprocess.Popen[bytes]
    workdir: Path

    def stop(self) -> None:
        for proc in (self.proc, self.idp_proc):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_server() -> Server:
    idp, idp_proc = start_idp()
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="zks"))
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZKVAULT_")}
    env.update({
        "ZKVAULT_ENVIRONMENT": "development",
        "ZKVAULT_PUBLIC_URL": url,
        "ZKVAULT_HOST": "127.0.0.1",
        "ZKVAULT_PORT": str(port),
        "ZKVAULT_DATABASE_URL": f"sqlite:///{workdir / 'zkvault.sqlite3'}",
        "ZKVAULT_SIGNING_KEYS": f'["{b64url(secrets.token_bytes(32))}"]',
        "ZKVAULT_OIDC_ISSUER": idp,
        "ZKVAULT_COOKIE_SECURE": "false",
    })
    log = open(workdir / "server.log", "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen([sys.executable, "-m", "server.main", "serve", "--migrate"],
                            env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"{url}/healthz", proc, timeout=60)
    except RuntimeError:
        idp_proc.terminate()
        raise RuntimeError((workdir / "server.log").read_text()[-3000:]) from None
    return Server(url, idp, proc, idp_proc, workdir)


class Owner:
    """A person signed in with a browser session, acting through the API as the web app does."""

    def __init__(self, server: Server, sub: str | None = None) -> None:
        self.server = server
        self.sub = sub or f"user-{secrets.token_hex(6)}"
        self.http = httpx.Client(base_url=server.url, follow_redirects=False, timeout=10)
        httpx.put(f"{server.idp}/users/{self.sub}",
                  json={"email": f"{self.sub}@example.test", "name": "Ada"}).raise_for_status()
        login = self.http.get("/auth/login")
        assert login.status_code == 302, login.text
        back = httpx.post(login.headers["location"], data={"sub": self.sub})
        assert back.status_code == 302, back.text
        done = self.http.get(back.headers["location"])
        assert done.status_code == 302, done.text
        token = self.http.post("/auth/refresh",
                               headers={"X-CSRF-Token": self.http.cookies.get("zkv_csrf") or ""})
        assert token.status_code == 200, token.text
        self.account_id: str = token.json()["account_id"]
        self.token: str = token.json()["access_token"]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, headers=self.auth, **kwargs)

    def put_vault(self, base: int, blob: bytes) -> dict[str, Any]:
        r = self.call("PUT", "/api/vault", json={"base_revision": base, "blob": b64url(blob)})
        assert r.status_code == 200, r.text
        return dict(r.json())

    def approve(self, code: str, **extra: Any) -> dict[str, Any]:
        r = self.call("POST", "/api/pairings/approve", json={"code": code, **extra})
        assert r.status_code == 200, r.text
        return dict(r.json())
