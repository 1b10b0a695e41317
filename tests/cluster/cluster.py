"""Helpers for the multi-instance tests: PostgreSQL databases, instances, people.

Every instance is a real `zkvault-server` process; which instance answered a request
is read from the instances' own access logs (method and path, never a query string).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg

from server.encoding import b64url_encode
from tests.support.dpop import DpopAuth, DpopKey
from tests.support.processes import ServerProcess

PG_ADMIN = os.environ.get("ZKVAULT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def database(prefix: str) -> Iterator[tuple[str, str]]:
    """A uniquely named database on the shared PostgreSQL: (its name, SQLAlchemy URL)."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield name, f"{base}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def instance_env(database_url: str, public_url: str, key: str, **extra: str) -> dict[str, str]:
    """What every instance of one deployment shares: database, public URL, signing key,
    token secret (made from the signing key here, for brevity; in production it is its
    own secret)."""
    token_secret = b64url_encode(hashlib.sha256(b"token secret " + key.encode()).digest())
    return {
        "ZKVAULT_DATABASE_URL": database_url,
        "ZKVAULT_PUBLIC_URL": public_url,
        "ZKVAULT_SIGNING_KEYS": f'["{key}"]',
        "ZKVAULT_TOKEN_SECRETS": f'["{token_secret}"]',
        "ZKVAULT_DB_POOL_SIZE": "4",
        "ZKVAULT_DB_MAX_OVERFLOW": "4",
        **extra,
    }


_ACCESS = re.compile(r"zkvault\.access \S+ (\S+) (\S+) (\d{3}) ")


class Logs:
    """Access-log lines each instance wrote after a mark."""

    def __init__(self, servers: dict[str, ServerProcess]) -> None:
        self.servers = servers
        self.offsets = {name: srv.log.stat().st_size for name, srv in servers.items()}

    def lines(self, name: str) -> list[str]:
        with self.servers[name].log.open("rb") as f:
            f.seek(self.offsets[name])
            return f.read().decode(errors="replace").splitlines()

    def served(self, method: str, path: str, total: int | None = None) -> dict[str, int]:
        """How many ``method path`` requests each instance answered since the mark.

        An instance writes its access line just after the response, so when the caller
        knows the ``total`` it waits (a few seconds at most) for the lines to appear."""
        deadline = time.monotonic() + 5
        while True:
            counts = {}
            for name in self.servers:
                found = (_ACCESS.search(line) for line in self.lines(name))
                counts[name] = sum(1 for m in found if m and m.group(1, 2) == (method, path))
            if total is None or sum(counts.values()) >= total or time.monotonic() > deadline:
                return counts
            time.sleep(0.05)

    def who(self, method: str, path: str) -> str:
        """The one instance that answered ``method path`` since the mark."""
        counts = self.served(method, path, total=1)
        (name,) = [n for n, c in counts.items() if c]
        assert counts[name] == 1, counts
        return name


def client(base_url: str, source: str = "127.0.0.1") -> httpx.Client:
    """An HTTP client connecting from ``source`` (any 127/8 address): the address the
    balancer forwards, so each person has their own rate-limit bucket."""
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=base_url, transport=transport, follow_redirects=False, timeout=30)


class Person:
    """Someone signed in through the balancer, acting through the API as the web app does."""

    def __init__(self, url: str, idp: str, source: str) -> None:
        self.url = url
        self.sub = f"user-{secrets.token_hex(6)}"
        self.http = client(url, source)
        httpx.put(
            f"{idp}/users/{self.sub}", json={"email": f"{self.sub}@example.test", "name": "Ada"}
        ).raise_for_status()
        # The browser's key: every request proves it, naming the balancer's public URL.
        self.key = DpopKey("ES256")
        login = self.http.post("/auth/login", auth=self.key.auth(public_url=url))
        assert login.status_code == 200, login.text
        back = httpx.post(login.json()["url"], data={"sub": self.sub})
        assert back.status_code == 302, back.text
        assert back.headers["location"].startswith(url + "/auth/callback?")
        done = self.http.get(back.headers["location"])
        assert done.status_code == 302, done.text
        self.token = ""
        self.account_id = ""
        self.refresh()

    def refresh(self) -> httpx.Response:
        r = self.http.post(
            "/auth/refresh",
            headers={"X-CSRF-Token": self.http.cookies.get("zkv_csrf") or ""},
            auth=self.key.auth(public_url=self.url),
        )
        if r.status_code == 200:
            self.token = r.json()["access_token"]
            self.account_id = r.json()["account_id"]
        return r

    @property
    def auth(self) -> DpopAuth:
        return self.key.auth(self.token, public_url=self.url)

    def call(self, method: str, path: str, base: str | None = None, **kw: Any) -> httpx.Response:
        """Through the balancer, or straight to one instance at ``base``."""
        url = (base or self.url) + path
        return self.http.request(method, url, auth=self.auth, **kw)

    def put_vault(self, base_revision: int, blob: bytes) -> httpx.Response:
        body = {"base_revision": base_revision, "blob": b64url_encode(blob)}
        return self.call("PUT", "/api/vault", json=body)

    @property
    def account(self) -> uuid.UUID:
        return uuid.UUID(self.account_id)


def lines_of(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines()
