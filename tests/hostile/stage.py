"""One stage for the hostile cases: the IdP and the real server as processes, the hostile
proxy in front (the server's public_url is the proxy's), and people who use it through
the proxy only: their browser, a paired laptop, a runner."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.hostile.lies import b64d, b64e
from tests.native.support import Env, make_env, start_pairing
from tests.support.dpop import DpopKey
from tests.support.httpproxy import HttpProxy
from tests.support.processes import ServerProcess, free_port, start_server
from vault_core import Item, KdfParams, Vault

CODE = r"enter the code (\S+) "


@dataclass
class Stage:
    idp: str
    server: ServerProcess  # the real one, reached only through the proxy
    proxy: HttpProxy
    # Everything that must never reach the hostile side: name -> value.
    secrets: dict[str, str | bytes] = field(default_factory=dict)
    wire_at: int = 0  # how far the proxy's capture and the server's log have been scanned
    log_at: int = 0

    @property
    def url(self) -> str:
        return self.proxy.url

    @property
    def public(self) -> ServerProcess:
        """The server as the clients see it (its public URL is the proxy)."""
        return ServerProcess(
            self.proxy.url, self.server.proc, self.server.database, self.server.log
        )


def open_stage(idp: str, workdir: Path) -> Stage:
    port = free_port()
    proxy = HttpProxy(f"http://127.0.0.1:{port}", abbreviate_assets=True)
    # One server for the whole suite, and every person, laptop, runner and browser signs
    # in and pairs from 127.0.0.1: more than the 60 sign-ins and 30 pairing requests per
    # address in 10 minutes that protect a real server (tests/api holds those limits).
    server = start_server(
        idp,
        workdir,
        port=port,
        ZKVAULT_PUBLIC_URL=proxy.url,
        ZKVAULT_RATE_PAIRING_CREATE_PER_IP="1000",
        ZKVAULT_RATE_SIGNIN_PER_IP="1000",
    )
    return Stage(idp, server, proxy)


@dataclass
class Person:
    """Someone signed in through the proxy; the API calls are what the web app sends."""

    stage: Stage
    sub: str
    passphrase: str
    account_id: str
    token: str
    key: DpopKey  # the browser's: every call proves it
    items: list[Item] = field(default_factory=list)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        auth = self.key.auth(self.token)
        return httpx.request(method, self.stage.url + path, auth=auth, timeout=30, **kwargs)

    def stored(self) -> dict[str, Any]:
        """The vault as the server holds it, fetched through the proxy with no lie on."""
        r = self.call("GET", "/api/vault")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def save(self, vault: Vault) -> bytes:
        base = vault.revision
        blob = vault.save()
        r = self.call("PUT", "/api/vault", json={"base_revision": base, "blob": b64e(blob)})
        assert r.status_code == 200, r.text
        return blob

    def approve(self, code: str, **extra: Any) -> dict[str, Any]:
        r = self.call("POST", "/api/pairings/approve", json={"code": code, **extra})
        assert r.status_code == 200, r.text
        return dict(r.json())


def sign_in(stage: Stage, label: str) -> Person:
    sub = f"{label}-{secrets.token_hex(4)}"
    httpx.put(
        f"{stage.idp}/users/{sub}", json={"email": f"{sub}@example.test", "name": label}
    ).raise_for_status()
    key = DpopKey("ES256")
    with httpx.Client(base_url=stage.url, follow_redirects=False, timeout=30) as client:
        r = client.post("/auth/login", auth=key.auth())
        r = httpx.post(r.json()["url"], data={"sub": sub}, follow_redirects=False)
        client.get(r.headers["location"])
        r = client.post(
            "/auth/refresh", headers={"X-CSRF-Token": client.cookies["zkv_csrf"]}, auth=key.auth()
        )
        r.raise_for_status()
        body = r.json()
    return Person(
        stage,
        sub,
        f"hostile {secrets.token_urlsafe(12)} ключ",
        body["account_id"],
        body["access_token"],
        key,
    )


def fresh_items(label: str) -> list[Item]:
    return [
        Item(
            name=f"{label}-github",
            kind="github",
            url="https://github.com",
            username=label,
            secret="ghp_" + secrets.token_urlsafe(27),
        ),
        Item(
            name=f"{label}-npm", kind="generic", url="", secret="npm_" + secrets.token_urlsafe(27)
        ),
        Item(
            name=f"{label}-deploy",
            kind="gitlab",
            url="https://gitlab.example.test",
            username="deployer",
            secret="glpat-" + secrets.token_urlsafe(15),
        ),
    ]


def person_with_vault(
    stage: Stage, label: str, kdf: KdfParams | None = None
) -> tuple[Person, Vault]:
    """A person whose vault (three fresh items, saved twice: revisions 1 and 2) is on the
    server. Their passphrase and tokens join the stage's secrets."""
    person = sign_in(stage, label)
    vault = Vault.create(
        uuid.UUID(person.account_id), person.passphrase, kdf=kdf or KdfParams.floor()
    )
    person.items = fresh_items(label)
    for item in person.items:
        vault.add(item)
    person.save(vault)
    person.save(vault)
    stage.secrets[f"{label} passphrase"] = person.passphrase
    for item in person.items:
        stage.secrets[f"{label} token {item.name}"] = item.secret
    return person, vault


def pair_laptop(stage: Stage, person: Person) -> Env:
    """`zkvault connect` through the proxy, approved by the owner; its key joins the secrets."""
    env = make_env()
    proc, code, _ = start_pairing(
        env, "connect", "--server", stage.url, "--name", "laptop", show=CODE
    )
    person.approve(code)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    keys = [f for f in Path(env.key_dir).rglob("*") if f.is_file()]
    assert keys, "the laptop's machine key was not found to search for"
    for key_file in keys:
        stage.secrets[f"{person.sub} laptop key {key_file.name}"] = key_file.read_bytes()
    return env


def decode_credential(credential: str) -> dict[str, Any]:
    import json

    body: dict[str, Any] = json.loads(b64d(credential.strip()[len("zkvr1.") :]))
    return body
