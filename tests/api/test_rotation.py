"""Two real server processes on one PostgreSQL: a signing-key rotation in three phases,
and one instance's clock 60 s ahead, then 60 s behind (libfaketime).

Requests alternate between the two instances: a browser session's refreshes, a
machine's refresh chain (with a retry of a refresh whose response was "lost" across
a restart), a pairing requested before a restart and approved after it, and every
access token used on both instances. Each stage counts its requests; none may fail.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from server.encoding import b64url_encode
from tests.native.serverproc import Owner
from tests.support.dpop import DpopKey
from tests.support.processes import ServerProcess, free_port, start_server, stop

from .conftest import fresh_pg_database

OLD = b64url_encode(secrets.token_bytes(32))
NEW = b64url_encode(secrets.token_bytes(32))
TOKEN_SECRET = b64url_encode(secrets.token_bytes(32))  # one for the deployment
# Phase: (signing keys, verify-only keys), as docs/operations.md describes.
TIMEOUT = 30.0  # two servers and the suite share a small machine: slow is not failed
PHASES = {0: ([OLD], []), 1: ([OLD], [NEW]), 2: ([NEW, OLD], []), 3: ([NEW], [])}


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with fresh_pg_database("zkv_rotation") as url:
        yield url


@dataclass
class Cluster:
    idp: str
    database: str
    root: Path
    public_url: str
    ports: dict[str, int]
    servers: dict[str, ServerProcess] = field(default_factory=dict)

    def start(self, name: str, phase: int = 0, clock_offset: str | None = None) -> None:
        if name in self.servers:
            stop(self.servers.pop(name).proc)
        signing, verify_only = PHASES[phase]
        workdir = self.root / name
        workdir.mkdir(exist_ok=True)
        self.servers[name] = start_server(
            self.idp,
            workdir,
            self.ports[name],
            clock_offset=clock_offset,
            ZKVAULT_DATABASE_URL=self.database,
            ZKVAULT_PUBLIC_URL=self.public_url,  # one issuer for the whole deployment
            ZKVAULT_SIGNING_KEYS=json.dumps(signing),
            ZKVAULT_VERIFY_ONLY_KEYS=json.dumps(verify_only),
            ZKVAULT_TOKEN_SECRETS=json.dumps([TOKEN_SECRET]),
        )

    def url(self, name: str) -> str:
        return self.servers[name].url

    def stop_all(self) -> None:
        for server in self.servers.values():
            stop(server.proc)


@pytest.fixture
def cluster(idp: str, database: str, tmp_path: Path) -> Iterator[Cluster]:
    ports = {"a": free_port(), "b": free_port()}
    c = Cluster(idp, database, tmp_path, f"http://127.0.0.1:{ports['a']}", ports)
    yield c
    c.stop_all()


class Client:
    """A signed-in owner (browser session) and one paired machine, over both instances."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.owner = Owner(SimpleNamespace(url=cluster.url("a"), idp=cluster.idp))  # type: ignore[arg-type]
        self.requests = 0
        self.failures: list[str] = []
        self.machine_refresh = ""
        self.machine_key = DpopKey()
        self.pending: dict[str, Any] | None = None

    def expect(self, r: httpx.Response, status: int, what: str) -> httpx.Response:
        self.requests += 1
        if r.status_code != status:
            self.failures.append(f"{what}: {r.status_code} {r.text[:200]}")
        return r

    def web_token(self, on: str) -> str:
        jar = self.owner.http
        r = jar.post(
            f"{self.cluster.url(on)}/auth/refresh",
            headers={"X-CSRF-Token": jar.cookies.get("zkv_csrf") or ""},
            auth=self.owner.key.auth(public_url=self.cluster.public_url),
        )
        return str(self.expect(r, 200, f"browser refresh on {on}").json().get("access_token"))

    def works_everywhere(self, token: str, what: str, key: DpopKey) -> None:
        for name in ("a", "b", "a", "b"):
            r = httpx.get(
                timeout=TIMEOUT,
                url=f"{self.cluster.url(name)}/api/me",
                auth=key.auth(token, public_url=self.cluster.public_url),
            )
            self.expect(r, 200, f"{what} on {name}")

    def refresh_machine(self, on: str) -> dict[str, Any]:
        r = httpx.post(
            timeout=TIMEOUT,
            url=f"{self.cluster.url(on)}/auth/token",
            json={"grant_type": "refresh_token", "refresh_token": self.machine_refresh},
            auth=self.machine_key.auth(public_url=self.cluster.public_url),
        )
        return dict(self.expect(r, 200, f"machine refresh on {on}").json())

    def request_pairing(self, on: str) -> None:
        self.pending_key = DpopKey()
        r = httpx.post(
            timeout=TIMEOUT,
            url=f"{self.cluster.url(on)}/api/pairings",
            json={"kind": "machine", "name": "laptop", "public_key": b64url_encode(os.urandom(32))},
            auth=self.pending_key.auth(public_url=self.cluster.public_url),
        )
        self.pending = dict(self.expect(r, 201, f"pairing request on {on}").json())

    def finish_pairing(self, approve_on: str, poll_on: str) -> None:
        assert self.pending is not None
        web = self.web_token(approve_on)
        r = httpx.post(
            timeout=TIMEOUT,
            url=f"{self.cluster.url(approve_on)}/api/pairings/approve",
            json={"code": self.pending["code"]},
            auth=self.owner.key.auth(web, public_url=self.cluster.public_url),
        )
        self.expect(r, 200, f"pairing approval on {approve_on}")
        r = httpx.post(
            timeout=TIMEOUT,
            url=f"{self.cluster.url(poll_on)}/api/pairings/poll",
            json={
                "pairing_id": self.pending["pairing_id"],
                "poll_secret": self.pending["poll_secret"],
            },
            auth=self.pending_key.auth(public_url=self.cluster.public_url),
        )
        body = self.expect(r, 200, f"pairing poll on {poll_on}").json()
        if body.get("status") != "approved":
            self.failures.append(f"pairing poll on {poll_on}: {body.get('status')}")
            return
        self.pending = None
        self.machine_refresh = body["refresh_token"]
        self.machine_key = self.pending_key
        self.works_everywhere(body["access_token"], "new machine's token", self.machine_key)

    def exercise(self) -> None:
        """Everything alternating between the instances, with tokens minted by each."""
        for on in ("a", "b", "a", "b"):
            self.works_everywhere(self.web_token(on), f"browser token from {on}", self.owner.key)
            issued = self.refresh_machine(on)
            if "refresh_token" in issued:
                self.machine_refresh = issued["refresh_token"]
                self.works_everywhere(
                    issued["access_token"], f"machine token from {on}", self.machine_key
                )

    def lose_a_refresh_response(self, on: str) -> tuple[str, str]:
        """Spends the machine's refresh token on `on` and "loses" the answer."""
        spent = self.machine_refresh
        successor = str(self.refresh_machine(on).get("refresh_token"))
        return spent, successor

    def retry_refresh(self, spent: str, expected: str, on: str) -> None:
        self.machine_refresh = spent
        issued = self.refresh_machine(on)
        if issued.get("refresh_token") != expected:
            self.failures.append(f"retried refresh on {on} got another successor")
        self.machine_refresh = str(issued.get("refresh_token"))


def test_three_phase_rotation_with_instances_at_adjacent_phases(cluster: Cluster) -> None:
    """Phases (A, B): (0, 1), then A restarted at 2 → (2, 1), then B at 3 → (2, 3).
    Across each restart a pairing requested on the survivor is approved through the
    restarted instance, and a refresh spent on the survivor is retried there."""
    cluster.start("a", phase=0)
    cluster.start("b", phase=1)
    client = Client(cluster)
    client.request_pairing("a")
    client.finish_pairing(approve_on="b", poll_on="a")
    client.exercise()
    stages = [("a", 2, "b"), ("b", 3, "a")]
    for restarted, phase, survivor in stages:
        client.request_pairing(survivor)
        spent, successor = client.lose_a_refresh_response(survivor)
        cluster.start(restarted, phase=phase)
        client.retry_refresh(spent, successor, on=restarted)
        client.finish_pairing(approve_on=restarted, poll_on=survivor)
        client.exercise()
    assert client.failures == [], client.failures[:5]
    assert client.requests >= 140, client.requests
    print(f"rotation: {client.requests} requests over 3 stages, 0 failed")


def _clock_difference(cluster: Cluster) -> float:
    """B's wall clock minus A's, as their Date headers tell it (whole seconds)."""
    from email.utils import parsedate_to_datetime

    a, b = (
        httpx.get(timeout=TIMEOUT, url=f"{cluster.url(n)}/healthz").headers["date"]
        for n in ("a", "b")
    )
    return (parsedate_to_datetime(b) - parsedate_to_datetime(a)).total_seconds()


def test_one_instance_60_seconds_ahead_then_behind(cluster: Cluster) -> None:
    cluster.start("a")
    total = 0
    for offset, sign in (("+60s", 1), ("-60s", -1)):
        cluster.start("b", clock_offset=offset)
        assert 45 <= sign * _clock_difference(cluster) <= 75  # the offset is real (±load)
        client = Client(cluster)
        client.request_pairing("b")
        client.finish_pairing(approve_on="a", poll_on="b")
        client.exercise()
        spent, successor = client.lose_a_refresh_response("a")
        client.retry_refresh(spent, successor, on="b")  # the same key, across the skew
        client.request_pairing("a")
        client.finish_pairing(approve_on="b", poll_on="a")
        client.exercise()
        assert client.failures == [], (offset, client.failures[:5])
        assert client.requests >= 90, client.requests
        print(f"clock {offset} on one instance: {client.requests} requests, 0 failed")
        total += client.requests
    assert total >= 180
