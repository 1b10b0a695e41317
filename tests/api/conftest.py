"""Fixtures for the server's API tests: real databases, a real OIDC provider.

- Every test runs on SQLite (a file) and on PostgreSQL (127.0.0.1:5432, a
  database created for this run under a unique name and dropped at the end).
  A run that cannot reach PostgreSQL fails; it never skips.
- The identity provider is oidc-provider-mock running as its own process on
  a free loopback port; sign-in drives its authorization form over HTTP.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import httpx2
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine
from starlette.testclient import TestClient

from server.app import create_app
from server.db import make_engine
from server.encoding import b64url_encode
from server.migrate import upgrade
from server.models import Base
from server.settings import Settings
from tests.support.dpop import DpopAuth, DpopKey
from tests.support.processes import start_idp
from vault_core.header import encode_public_header

PG_ADMIN = os.environ.get("ZKVAULT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
BASE_URL = "https://testserver"
CLIENT_ID = "zkvault-test"
# One key per run, shared by every app instance a test builds (as in a cluster).
SIGNING_KEY = b64url_encode(secrets.token_bytes(32))
TOKEN_SECRET = b64url_encode(secrets.token_bytes(32))


@pytest.fixture(scope="session")
def idp() -> Iterator[str]:
    url, proc = start_idp()
    yield url
    proc.terminate()
    proc.wait(10)


@contextmanager
def fresh_pg_database(prefix: str = "zkv_api") -> Iterator[str]:
    """An empty, uniquely named database on the shared PostgreSQL, dropped afterwards."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is required for the API tests ({PG_ADMIN}): {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with fresh_pg_database() as url:
        yield url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'zkvault.sqlite3'}"
    else:
        url = str(request.getfixturevalue("pg_url"))
    engine = make_engine(Settings(database_url=url, environment="development"))
    upgrade(engine)
    engine.dispose()
    return url


def make_settings(database_url: str, idp: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "development",
        "public_url": BASE_URL,
        "database_url": database_url,
        "signing_keys": [SIGNING_KEY],
        "token_secrets": [TOKEN_SECRET],
        "oidc_issuer": idp,
        "oidc_client_id": CLIENT_ID,
        "oidc_client_secret": "test-client-secret",
        "db_pool_size": 5,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def app(database_url: str, idp: str) -> Iterator[FastAPI]:
    application = create_app(make_settings(database_url, idp))
    yield application
    application.state.zk.engine.dispose()


@pytest.fixture(scope="session")
def roomy_app(database_url: str, idp: str) -> Iterator[FastAPI]:
    """Rate limits out of the way, for tests that attack parsing and handlers (the fuzzer,
    the attack walks), not the counters."""
    application = create_app(
        make_settings(
            database_url,
            idp,
            rate_signin_per_ip=10**6,
            rate_refresh_per_ip=10**6,
            rate_pairing_create_per_ip=10**6,
            rate_pairing_poll_per_ip=10**6,
            rate_code_attempts_per_account=10**6,
            rate_code_attempts_global=10**6,
            rate_vault_writes_per_client=10**6,
            rate_lookup_per_account=10**6,
            rate_team_creates_per_account=10**6,
        )
    )
    yield application
    application.state.zk.engine.dispose()


def wipe(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    engine.dispose()


@pytest.fixture(autouse=True)
def _clean_database(request: pytest.FixtureRequest) -> None:
    if "database_url" in request.fixturenames:
        wipe(request.getfixturevalue("database_url"))


def vault_blob(
    account_id: uuid.UUID | str,
    revision: int,
    vault_id: uuid.UUID,
    body: bytes = b"",
    version: int = 1,
) -> bytes:
    """A blob with a real public header (vault_core.header, the one definition) and opaque
    filler."""
    header = encode_public_header(uuid.UUID(str(account_id)), vault_id, revision, version=version)
    return header + (body or secrets.token_bytes(200))


def public_key() -> str:
    return b64url_encode(secrets.token_bytes(32))


@dataclass
class User:
    """A person signed in through the IdP, with their own browser (cookie jar) and its
    non-extractable DPoP key (P-256, as WebCrypto makes it)."""

    browser: TestClient
    account_id: str
    token: str
    sub: str
    key: DpopKey

    @property
    def auth(self) -> DpopAuth:
        """``auth=``: the access token plus a proof by this browser's key."""
        return self.key.auth(self.token)

    @property
    def proof(self) -> DpopAuth:
        """``auth=`` for the cookie calls (/auth/refresh, /auth/logout): a proof only."""
        return self.key.auth()

    def csrf(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.browser.cookies.get("zkv_csrf") or ""}


@dataclass
class Device:
    """A paired machine or an enrolled runner, as the CLI would hold it."""

    kind: str
    client_id: str
    account_id: str
    token: str
    public_key: str
    key: DpopKey
    refresh_token: str | None = None
    runner_credential: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def auth(self) -> DpopAuth:
        return self.key.auth(self.token)

    @property
    def proof(self) -> DpopAuth:
        """``auth=`` for /auth/token and polling: a proof by this client's key only."""
        return self.key.auth()


class Api:
    """Drives the app the way the browser, the CLI and a runner do."""

    def __init__(self, app: FastAPI, idp: str) -> None:
        self.app = app
        self.idp = idp
        self.anon = self.client()

    blob = staticmethod(vault_blob)
    public_key = staticmethod(public_key)

    def client(self) -> TestClient:
        return TestClient(self.app, base_url=BASE_URL, follow_redirects=False)

    def start_login(self, browser: TestClient, key: DpopKey | None = None) -> str:
        """The sign-in button: a proof-carrying POST answering the IdP's URL."""
        r = browser.post("/auth/login", auth=(key or DpopKey("ES256")).auth())
        assert r.status_code == 200, r.text
        return str(r.json()["url"])

    def idp_authorize(self, authorize_url: str, sub: str) -> str:
        """Submits the IdP's form as the person would; returns where it redirects."""
        assert authorize_url.startswith(self.idp)
        r = httpx.post(authorize_url, data={"sub": sub}, follow_redirects=False)
        assert r.status_code == 302, r.text
        return str(r.headers["location"])

    def sign_in(
        self, sub: str | None = None, name: str = "Ada Lovelace", email: str | None = None
    ) -> User:
        sub = sub or f"user-{secrets.token_hex(6)}"
        claims = {"email": email or f"{sub}@example.test", "name": name}
        httpx.put(f"{self.idp}/users/{sub}", json=claims).raise_for_status()
        browser = self.client()
        key = DpopKey("ES256")
        back = self.idp_authorize(self.start_login(browser, key), sub)
        assert back.startswith(f"{BASE_URL}/auth/callback?")
        r = browser.get(back)
        assert r.status_code == 302, r.text
        r = browser.post(
            "/auth/refresh",
            headers={"X-CSRF-Token": browser.cookies.get("zkv_csrf") or ""},
            auth=key.auth(),
        )
        assert r.status_code == 200, r.text
        body = r.json()
        return User(browser, body["account_id"], body["access_token"], sub, key)

    def request_pairing(
        self,
        kind: str = "machine",
        name: str = "laptop",
        key: str | None = None,
        dpop: DpopKey | None = None,
    ) -> dict[str, Any]:
        """Asks for a pairing with the DPoP key `dpop` (kept in the answer as "dpop")."""
        dpop = dpop or DpopKey()
        r = self.anon.post(
            "/api/pairings",
            json={"kind": kind, "name": name, "public_key": key or public_key()},
            auth=dpop.auth(),
        )
        assert r.status_code == 201, r.text
        return {**r.json(), "dpop": dpop}

    def poll(self, pairing: dict[str, Any], key: DpopKey | None = None) -> httpx2.Response:
        """Polls with the key that asked, or with `key` (a thief's)."""
        return self.anon.post(
            "/api/pairings/poll",
            json={"pairing_id": pairing["pairing_id"], "poll_secret": pairing["poll_secret"]},
            auth=(key or pairing["dpop"]).auth(),
        )

    def pair(
        self,
        user: User,
        kind: str = "machine",
        name: str = "laptop",
        grant_public_key: str | None = None,
    ) -> Device:
        key = public_key()
        p = self.request_pairing(kind, name, key)
        body: dict[str, Any] = {"code": p["code"]}
        if kind == "runner" and grant_public_key is None:
            grant_public_key = public_key()  # the server refuses a runner approval without it
        if grant_public_key:
            body["grant_public_key"] = grant_public_key
        r = user.browser.post("/api/pairings/approve", json=body, auth=user.auth)
        assert r.status_code == 200, r.text
        r = self.poll(p)
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["status"] == "approved"
        return Device(
            kind,
            got["client_id"],
            got["account_id"],
            got["access_token"],
            key,
            p["dpop"],
            got.get("refresh_token"),
            got.get("runner_credential"),
            got,
        )

    def put_vault(self, who: User | Device, base: int, blob: bytes) -> httpx2.Response:
        return self.anon.put(
            "/api/vault",
            auth=who.auth,
            json={"base_revision": base, "blob": b64url_encode(blob)},
        )

    def get_vault(self, who: User | Device) -> httpx2.Response:
        return self.anon.get("/api/vault", auth=who.auth)

    def history(self, who: User, **query: int) -> httpx2.Response:
        """GET /api/vault/history with `limit` and `before` as given."""
        return self.anon.get("/api/vault/history", auth=who.auth, params=query)

    def kept(self, who: User, revision: int) -> httpx2.Response:
        return self.anon.get(f"/api/vault/history/{revision}", auth=who.auth)

    def restore(self, who: User, from_revision: int, base: int, blob: bytes) -> httpx2.Response:
        return self.anon.post(
            "/api/vault/restore",
            auth=who.auth,
            json={
                "from_revision": from_revision,
                "base_revision": base,
                "blob": b64url_encode(blob),
            },
        )


@pytest.fixture
def api(app: FastAPI, idp: str) -> Api:
    return Api(app, idp)


class SettingsFactory(Protocol):
    """Builds Settings for this run's database and IdP, with the given fields changed."""

    def __call__(self, **overrides: Any) -> Settings: ...


@pytest.fixture
def settings_factory(database_url: str, idp: str) -> SettingsFactory:
    def build(**overrides: Any) -> Settings:
        return make_settings(database_url, idp, **overrides)

    return build


ROOT = Path(__file__).resolve().parents[2]
