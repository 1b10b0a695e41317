"""The real zkvault server and OIDC provider as processes, driven over HTTP.

The identity provider is launched by the same helper as the other suites use.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support import processes
from tests.support.dpop import DpopAuth, DpopKey
from tests.support.processes import start_idp
from vault_core.b64url import b64url_decode, b64url_encode

REPO = Path(__file__).resolve().parents[2]


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


def start_server(port: int | None = None, public_url: str | None = None, **settings: str) -> Server:
    """The server and its IdP. ``public_url``: the URL clients reach it by (a proxy in
    front of ``port``); DPoP proofs name it, so clients must go through it. ``settings``:
    ZKVAULT_* variables for the server (a lower rate limit, say)."""
    idp, idp_proc = start_idp()
    workdir = Path(tempfile.mkdtemp(prefix="zks"))
    extra = {"ZKVAULT_PUBLIC_URL": public_url} if public_url else {}
    try:
        server = processes.start_server(idp, workdir, port, **extra, **settings)
    except RuntimeError:
        processes.stop(idp_proc)
        raise
    return Server(public_url or server.url, idp, server.proc, idp_proc, workdir)


class Owner:
    """A person signed in with a browser session, acting through the API as the web app does.

    ``public_url``: the deployment's URL, which the proofs name, when this person talks
    to one instance (``server.url``) directly."""

    def __init__(
        self, server: Server, sub: str | None = None, public_url: str | None = None
    ) -> None:
        self.server = server
        self.public_url = public_url
        self.sub = sub or f"user-{secrets.token_hex(6)}"
        self.http = httpx.Client(base_url=server.url, follow_redirects=False, timeout=10)
        httpx.put(
            f"{server.idp}/users/{self.sub}",
            json={"email": f"{self.sub}@example.test", "name": "Ada"},
        ).raise_for_status()
        # The browser's key (P-256, as WebCrypto makes it): the session is bound to it.
        self.key = DpopKey("ES256")
        login = self.http.post("/auth/login", auth=self.key.auth(public_url=public_url))
        assert login.status_code == 200, login.text
        back = httpx.post(login.json()["url"], data={"sub": self.sub})
        assert back.status_code == 302, back.text
        done = self.http.get(back.headers["location"])
        assert done.status_code == 302, done.text
        token = self.http.post(
            "/auth/refresh",
            headers={"X-CSRF-Token": self.http.cookies.get("zkv_csrf") or ""},
            auth=self.key.auth(public_url=public_url),
        )
        assert token.status_code == 200, token.text
        self.account_id: str = token.json()["account_id"]
        self.token: str = token.json()["access_token"]

    @property
    def auth(self) -> DpopAuth:
        return self.key.auth(self.token, public_url=self.public_url)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, auth=self.auth, **kwargs)

    def put_vault(self, base: int, blob: bytes) -> dict[str, Any]:
        r = self.call(
            "PUT", "/api/vault", json={"base_revision": base, "blob": b64url_encode(blob)}
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    def approve(self, code: str, **extra: Any) -> dict[str, Any]:
        r = self.call("POST", "/api/pairings/approve", json={"code": code, **extra})
        assert r.status_code == 200, r.text
        return dict(r.json())


def enrol_granted_runner(
    env: Any, owner: Owner, vault: Any, url: str, name: str, granted: list[str]
) -> tuple[str, str]:
    """`zkvault runner enroll` in ``env`` through ``url``, approved by ``owner`` (the owner
    fingerprint confirmed as a person would), then granted the items named ``granted`` of
    ``vault``. Returns the printed credential and the runner's id."""
    import uuid

    from tests.native.support import start_pairing
    from vault_core import fingerprint, seal_grant

    proc, code, _ = start_pairing(
        env,
        *("runner", "enroll", "--name", name, "--server", url),
        *("--owner-fingerprint", fingerprint("owner-grant", vault.owner_verify_key)),
        show=r"enter the code (\S+) ",
    )
    owner.approve(code, grant_public_key=b64url_encode(vault.owner_verify_key))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    (listed,) = [r for r in owner.call("GET", "/api/runners").json() if r["name"] == name]
    ids = [i.id for i in vault.items() if i.name in granted]
    key = b64url_decode(listed["public_key"])
    blob = seal_grant(vault, uuid.UUID(listed["id"]), key, ids, 1)
    body = {"revision": 1, "blob": b64url_encode(blob)}
    put = owner.call("PUT", f"/api/runners/{listed['id']}/grant", json=body)
    assert put.status_code == 200, put.text
    return out.strip(), str(listed["id"])
