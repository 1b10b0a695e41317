"""Faults, nothing lost: concurrent writers, a server killed mid-write, a database restart.

Real processes throughout: the zkvault server (uvicorn), oidc-provider-mock, and
SQLite or a private PostgreSQL cluster. The clients are vault_core vaults that
add one item per write and, on a conflict, reload the newer revision and apply
their edit again, as every real client must. "Nothing lost" is then checked
with the passphrase: the final vault holds exactly the items of every write a
client was told succeeded.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from tests.native.serverproc import Owner
from tests.support.dpop import DpopKey
from tests.support.pg import PrivatePostgres
from tests.support.processes import ServerProcess, start_idp, start_server, stop, wait_http
from tests.support.report import record
from vault_core import Item, KdfParams, RunnerKeyPair, Upload, Vault, open_grant, seal_grant
from vault_core.b64url import b64url_decode, b64url_encode

PASSPHRASE = "resilience is a long passphrase"
# The writers here save as fast as the server answers, far above the per-client write
# limit people get (a flood, by that measure): these tests are about faults, not limits.
UNLIMITED = "1000000"
FAST = KdfParams.floor()


@pytest.fixture(scope="module")
def idp() -> Iterator[str]:
    url, proc = start_idp()
    yield url
    stop(proc)


@dataclass
class Device:
    """One client with its own credentials and its own unlocked copy of the vault."""

    name: str
    url: str
    token: str
    vault: Vault
    key: DpopKey  # the machine's: every request proves it
    accepted: list[tuple[int, str]] = field(default_factory=list)
    conflicts: int = 0
    unavailable: int = 0
    errors: list[str] = field(default_factory=list)

    def _http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, auth=self.key.auth(self.token))

    def _sync(self, http: httpx.Client) -> None:
        r = http.get("/api/vault")
        if r.status_code != 200:
            raise httpx.TransportError(f"vault read answered {r.status_code}")
        self.vault.reload(b64url_decode(r.json()["blob"]))

    def write(self, count: int, deadline: float) -> None:
        with self._http() as http:
            for i in range(count):
                name = f"{self.name}-{i}"
                while time.monotonic() < deadline:
                    if all(info.name != name for info in self.vault.items()):
                        self.vault.add(Item(name=name, kind="generic", url="", secret=f"s-{name}"))
                    upload = self.vault.save_for_upload()
                    try:
                        r = http.put(
                            "/api/vault",
                            json={
                                "base_revision": upload.base_revision,
                                "base_sha256": upload.base_sha256,
                                "blob": b64url_encode(upload.blob),
                            },
                        )
                    except httpx.TransportError:
                        r = None  # the outcome is unknown: the server will tell us
                    if r is not None and r.status_code == 200:
                        self.accepted.append((r.json()["revision"], name))
                        break
                    if r is not None and r.status_code == 409:
                        self.conflicts += 1
                    elif r is not None and r.status_code == 503:
                        self.unavailable += 1
                    elif r is not None:
                        self.errors.append(f"{r.status_code} {r.text[:200]}")
                        return
                    try:
                        self._sync(http)
                    except httpx.TransportError:
                        self.unavailable += 1
                        time.sleep(0.2)
                        continue
                    if any(info.name == name for info in self.vault.items()):
                        # our write had landed before the connection died
                        self.accepted.append((self.vault.revision, name))
                        break
                else:
                    self.errors.append(f"{name}: gave up at the deadline")
                    return


def sign_in_and_create(server_url: str, idp: str) -> tuple[Owner, Vault]:
    owner = Owner(SimpleNamespace(url=server_url, idp=idp))  # type: ignore[arg-type]
    vault = Vault.create(uuid.UUID(owner.account_id), PASSPHRASE, kdf=FAST)
    owner.put_vault(0, vault.save())
    return owner, vault


def pair(owner: Owner, server_url: str, kind: str = "machine", **approve: str) -> dict[str, Any]:
    """A paired machine or runner: the poll's answer, the runner's seed, and its DPoP key
    (as "dpop")."""
    key = RunnerKeyPair.generate() if kind == "runner" else None
    public = key.public_key if key else os.urandom(32)
    dpop = DpopKey()
    r = httpx.post(
        f"{server_url}/api/pairings",
        json={
            "kind": kind,
            "name": f"{kind}-{uuid.uuid4().hex[:6]}",
            "public_key": b64url_encode(public),
        },
        auth=dpop.auth(),
    )
    assert r.status_code == 201, r.text
    pairing = r.json()
    approved = owner.approve(pairing["code"], **approve)
    r = httpx.post(
        f"{server_url}/api/pairings/poll",
        json={"pairing_id": pairing["pairing_id"], "poll_secret": pairing["poll_secret"]},
        auth=dpop.auth(),
    )
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    assert approved["kind"] == kind
    return {**r.json(), "runner_seed": key.seed_bytes().hex() if key else "", "dpop": dpop}


def device(owner: Owner, server_url: str, name: str) -> Device:
    creds = pair(owner, server_url)
    r = httpx.get(f"{server_url}/api/vault", auth=creds["dpop"].auth(creds["access_token"]))
    vault = Vault.open(
        b64url_decode(r.json()["blob"]), PASSPHRASE, account_id=uuid.UUID(owner.account_id)
    )
    return Device(name, server_url, creds["access_token"], vault, creds["dpop"])


def start_writers(devices: list[Device], writes_each: int) -> list[threading.Thread]:
    deadline = time.monotonic() + 120
    threads = [threading.Thread(target=d.write, args=(writes_each, deadline)) for d in devices]
    for t in threads:
        t.start()
    return threads


def owner_with_devices(server_url: str, idp: str) -> tuple[Owner, Vault, list[Device]]:
    owner, vault = sign_in_and_create(server_url, idp)
    return owner, vault, [device(owner, server_url, f"dev{i}") for i in range(2)]


def final_items(owner: Owner) -> set[str]:
    for _ in range(50):  # a connection pooled before a database restart answers 503 once
        r = owner.call("GET", "/api/vault")
        if r.status_code != 503:
            break
        time.sleep(0.1)
    assert r.status_code == 200, r.text
    vault = Vault.open(
        b64url_decode(r.json()["blob"]), PASSPHRASE, account_id=uuid.UUID(owner.account_id)
    )
    return {info.name for info in vault.items()}


def tally(owner: Owner, devices: list[Device]) -> tuple[int, int]:
    """(writes the server accepted, how many of them the final vault lacks): observed, for
    the summary, before ``check_nothing_lost`` asserts."""
    accepted = {name for d in devices for _, name in d.accepted}
    return sum(len(d.accepted) for d in devices), len(accepted - final_items(owner))


def check_nothing_lost(owner: Owner, devices: list[Device]) -> int:
    for d in devices:
        assert d.errors == [], (d.name, d.errors[:5])
    accepted = [a for d in devices for a in d.accepted]
    assert len({name for _, name in accepted}) == len(accepted)
    assert final_items(owner) == {name for _, name in accepted}
    return len(accepted)


def test_two_devices_and_a_runner_writing_concurrently(idp: str, tmp_path: Path) -> None:
    pg = PrivatePostgres()
    server = start_server(
        idp, tmp_path, ZKVAULT_DATABASE_URL=pg.url, ZKVAULT_RATE_VAULT_WRITES_PER_CLIENT=UNLIMITED
    )
    try:
        owner, owner_vault, devices = owner_with_devices(server.url, idp)
        runner = pair(
            owner,
            server.url,
            "runner",
            grant_public_key=b64url_encode(owner_vault.owner_verify_key),
        )
        runner_keys = RunnerKeyPair(bytes.fromhex(runner["runner_seed"]))
        grant_item = owner_vault.add(Item(name="granted", kind="git", url="https://g", secret="g"))
        grants_accepted: list[int] = []
        runner_seen: list[int] = []
        deadline = time.monotonic() + 120

        def write_grants() -> None:
            for revision in range(1, 101):
                blob = seal_grant(
                    owner_vault,
                    uuid.UUID(runner["client_id"]),
                    runner_keys.public_key,
                    [grant_item],
                    revision,
                )
                r = owner.call(
                    "PUT",
                    f"/api/runners/{runner['client_id']}/grant",
                    json={"revision": revision, "blob": b64url_encode(blob)},
                )
                assert r.status_code == 200, r.text
                grants_accepted.append(revision)

        def read_grants() -> None:
            with httpx.Client(base_url=server.url, timeout=10) as http:
                token = http.post(
                    "/auth/token",
                    json={
                        "grant_type": "runner_credential",
                        "credential": runner["runner_credential"],
                    },
                    auth=runner["dpop"].auth(),
                ).json()["access_token"]
                while len(grants_accepted) < 100 and time.monotonic() < deadline:
                    r = http.get("/api/runner/grant", auth=runner["dpop"].auth(token))
                    if r.status_code == 404:
                        continue
                    grant = open_grant(
                        b64url_decode(r.json()["blob"]),
                        runner_keys,
                        account_id=uuid.UUID(owner.account_id),
                        runner_id=uuid.UUID(runner["client_id"]),
                        owner_verify_key=owner_vault.owner_verify_key,
                        min_revision=runner_seen[-1] if runner_seen else 0,
                    )
                    runner_seen.append(grant.revision)

        others = [threading.Thread(target=write_grants), threading.Thread(target=read_grants)]
        for t in others:
            t.start()
        threads = start_writers(devices, 100) + others
        for t in threads:
            t.join()
        writes, lost = tally(owner, devices)
        record(
            "faults",
            "concurrent writers (2 devices + grant writer + runner)",
            tried=writes + len(grants_accepted),
            lost=lost + (100 - len(grants_accepted)),
        )
        assert check_nothing_lost(owner, devices) == 200
        assert sum(d.conflicts for d in devices) > 0, "the writers never actually raced"
        assert grants_accepted == list(range(1, 101))
        assert runner_seen and runner_seen == sorted(runner_seen)
        revisions = sorted(rev for d in devices for rev, _ in d.accepted)
        assert revisions == list(range(2, 202)), "every accepted write is one revision"
    finally:
        stop(server.proc)
        pg.stop()


SIGNING_KEYS = f'["{b64url_encode(os.urandom(32))}"]'  # the same across restarts, as in production
TOKEN_SECRETS = f'["{b64url_encode(os.urandom(32))}"]'  # likewise


def restart_server(server: ServerProcess, idp: str, workdir: Path) -> ServerProcess:
    return start_server(
        idp,
        workdir,
        port=int(server.url.rsplit(":", 1)[1]),
        ZKVAULT_SIGNING_KEYS=SIGNING_KEYS,
        ZKVAULT_RATE_VAULT_WRITES_PER_CLIENT=UNLIMITED,
        ZKVAULT_TOKEN_SECRETS=TOKEN_SECRETS,
    )


def test_server_killed_mid_write_loses_nothing(idp: str, tmp_path: Path) -> None:
    server = start_server(
        idp,
        tmp_path,
        ZKVAULT_SIGNING_KEYS=SIGNING_KEYS,
        ZKVAULT_TOKEN_SECRETS=TOKEN_SECRETS,
        ZKVAULT_RATE_VAULT_WRITES_PER_CLIENT=UNLIMITED,
    )
    try:
        owner, _, devices = owner_with_devices(server.url, idp)
        threads = start_writers(devices, 150)
        kills = 0
        while any(t.is_alive() for t in threads) and kills < 5:
            time.sleep(0.5)
            os.kill(server.proc.pid, signal.SIGKILL)
            server.proc.wait()
            kills += 1
            server = restart_server(server, idp, tmp_path)
        for t in threads:
            t.join()
        assert kills >= 3, "the writers finished before the server was killed enough"
        writes, lost = tally(owner, devices)
        record("faults", f"server SIGKILLed {kills} times mid-write", tried=writes, lost=lost)
        check_nothing_lost(owner, devices)
        with sqlite3.connect(server.database) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        stop(server.proc)


def test_postgresql_restart_under_load(idp: str, tmp_path: Path) -> None:
    pg = PrivatePostgres()
    server = start_server(
        idp, tmp_path, ZKVAULT_DATABASE_URL=pg.url, ZKVAULT_RATE_VAULT_WRITES_PER_CLIENT=UNLIMITED
    )
    try:
        owner, _, devices = owner_with_devices(server.url, idp)
        threads = start_writers(devices, 60)
        time.sleep(1.0)
        pg.restart()
        time.sleep(1.0)
        pg.restart()
        for t in threads:
            t.join()
        assert server.proc.poll() is None, "the server died with its database"
        wait_http(f"{server.url}/healthz", server.proc)
        writes, lost = tally(owner, devices)
        record(
            "faults",
            "PostgreSQL restarted twice under load",
            tried=writes,
            lost=lost,
            unavailable=sum(d.unavailable for d in devices),
        )
        assert check_nothing_lost(owner, devices) == 120
    finally:
        stop(server.proc)
        pg.stop()


def test_a_save_stacked_on_a_lost_one_cannot_overwrite_another_device(
    idp: str, tmp_path: Path
) -> None:
    """The race the PostgreSQL-restart test found: a save whose upload was lost, then a
    second save on top of it, claims the revision another device has since written."""
    server = start_server(idp, tmp_path, ZKVAULT_RATE_VAULT_WRITES_PER_CLIENT=UNLIMITED)
    try:
        owner, _, (laptop, desktop) = owner_with_devices(server.url, idp)

        def put(dev: Device, upload: Upload) -> httpx.Response:
            return httpx.put(
                f"{server.url}/api/vault",
                auth=dev.key.auth(dev.token),
                json={
                    "base_revision": upload.base_revision,
                    "base_sha256": upload.base_sha256,
                    "blob": b64url_encode(upload.blob),
                },
            )

        laptop.vault.add(Item(name="lost", kind="generic", url="", secret="x"))
        laptop.vault.save_for_upload()  # the upload never arrives
        desktop.vault.add(Item(name="desktop", kind="generic", url="", secret="y"))
        assert put(desktop, desktop.vault.save_for_upload()).status_code == 200
        laptop.vault.add(Item(name="laptop", kind="generic", url="", secret="z"))
        stacked = put(laptop, laptop.vault.save_for_upload())
        kept = final_items(owner)
        record("faults", "save stacked on a lost upload", tried=1, lost=int("desktop" not in kept))
        assert stacked.status_code == 409, "the desktop's write would have been overwritten"
        assert kept == {"desktop"}
    finally:
        stop(server.proc)
