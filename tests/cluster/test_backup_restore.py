"""The backup-and-restore drill of docs/operations.md, on PostgreSQL with Debian's client
tools: `pg_dump`, wipe (drop the database), `pg_restore`, start again. Every vault opens,
every paired client (laptop agent, runner, browser session) keeps working; a client that
moved on after the backup was taken gets a clear error, never a traceback.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from native.api import b64url_decode
from server.encoding import b64url_encode
from tests.cluster.cluster import PG_ADMIN, Person, database
from tests.native import support
from tests.native.support import FAST_KDF, ITEMS, PASSPHRASE, REPO, Env
from tests.support.pg import _bin
from tests.support.processes import ServerProcess, start_idp, start_server, stop
from vault_core import Item, Vault, fingerprint, seal_grant

pytestmark = pytest.mark.slow


def libpq_url(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def dump(name: str, to: Path) -> None:
    """`pg_dump --format=custom`, as the operations guide says."""
    subprocess.run(
        [_bin("pg_dump"), "--format=custom", "--file", str(to), libpq_url(name)],
        check=True,
        capture_output=True,
    )


def wipe_and_restore(name: str, backup: Path) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    restore = [_bin("pg_restore"), "--no-owner", "--exit-on-error", "--dbname", libpq_url(name)]
    subprocess.run(
        [*restore, str(backup)],
        check=True,
        capture_output=True,
    )


def verify_audit(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.main", "verify-audit"],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def pair(env: Env, owner: Person, *args: str, **extra: str) -> str:
    proc, code, _ = support.start_pairing(
        env, *args, "--server", owner.url, show=r"enter the code (\S+) "
    )
    approved = owner.call("POST", "/api/pairings/approve", json={"code": code, **extra})
    assert approved.status_code == 200, approved.text
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out


def clear_error(done: subprocess.CompletedProcess[str]) -> bool:
    """Non-zero exit, one `zkvault: ...` message, no traceback."""
    lines = done.stderr.strip().splitlines()
    return (
        done.returncode != 0
        and "Traceback" not in done.stderr
        and bool(lines)
        and lines[-1].startswith("zkvault: ")
    )


@pytest.fixture
def laptop() -> Iterator[Env]:
    env = support.make_env()
    yield env
    support.stop_agent(env)


@pytest.fixture
def runner_env() -> Iterator[Env]:
    env = support.make_env()
    yield env
    support.stop_agent(env)


def test_dump_wipe_restore(tmp_path: Path, laptop: Env, runner_env: Env) -> None:
    idp, idp_proc = start_idp()
    srv: ServerProcess | None = None
    key = b64url_encode(secrets.token_bytes(32))
    try:
        with database("zkv_backup") as (name, url):
            settings = {
                "ZKVAULT_DATABASE_URL": url,
                "ZKVAULT_SIGNING_KEYS": json.dumps([key]),
                "ZKVAULT_TOKEN_SECRETS": json.dumps([b64url_encode(secrets.token_bytes(32))]),
            }
            srv = start_server(idp, tmp_path, None, **settings)
            port = int(srv.url.rsplit(":", 1)[1])

            owner = Person(srv.url, idp, "127.0.0.5")
            vault = Vault.create(owner.account, PASSPHRASE, kdf=FAST_KDF)
            vault.ensure_identity()  # else the laptop's unlock saves one: the blob would move
            for item in ITEMS:
                vault.add(item)
            blob = vault.save()
            assert owner.put_vault(0, blob).status_code == 200
            pair(laptop, owner, "connect", "--name", "laptop")
            assert laptop.unlock().returncode == 0
            credential = pair(
                runner_env,
                owner,
                "runner",
                "enroll",
                "--name",
                "ci",
                "--owner-fingerprint",
                fingerprint("owner-grant", vault.owner_verify_key),
                grant_public_key=b64url_encode(vault.owner_verify_key),
            ).strip()
            (runner,) = owner.call("GET", "/api/runners").json()
            ids = {info.name: info.id for info in vault.items()}
            runner_id, runner_key = uuid.UUID(runner["id"]), b64url_decode(runner["public_key"])
            grant = seal_grant(vault, runner_id, runner_key, [ids["github"]], 1)
            put = {"revision": 1, "blob": b64url_encode(grant)}
            assert owner.call("PUT", f"/api/runners/{runner_id}/grant", json=put).status_code == 200
            as_runner = {"ZKVAULT_RUNNER_CREDENTIAL": credential}
            laptop.zk("lock", check=True)

            # The drill: dump, stop, wipe, restore, start.
            backup = tmp_path / "zkvault.dump"
            dump(name, backup)
            stop(srv.proc)
            wipe_and_restore(name, backup)
            srv = start_server(idp, tmp_path, port, **settings)

            audit = verify_audit(settings)
            assert audit.returncode == 0 and "chain intact" in audit.stdout, audit.stdout
            served = owner.call("GET", "/api/vault")
            assert served.status_code == 200
            restored = b64url_decode(served.json()["blob"])
            assert restored == blob
            opened = Vault.open(restored, PASSPHRASE, account_id=owner.account)
            assert sorted(i.name for i in opened.items()) == sorted(i.name for i in ITEMS)
            opened.lock()
            assert owner.refresh().status_code == 200  # the browser session survived
            assert laptop.unlock().returncode == 0
            assert laptop.zk("get", "github").stdout == ITEMS[0].secret + "\n"
            got = runner_env.zk("get", "github", extra=as_runner)
            assert got.stdout == ITEMS[0].secret + "\n", got.stderr

            # Life goes on after the backup: a new revision, the laptop's token rotates.
            vault.add(Item(name="after backup", kind="generic", url="", secret="later-" * 4))
            assert owner.put_vault(1, vault.save()).status_code == 200
            laptop.zk("lock", check=True)
            assert laptop.unlock().returncode == 0
            laptop.zk("lock", check=True)

            # Restoring that (now stale) backup: whatever moved on gets a clear error.
            stop(srv.proc)
            wipe_and_restore(name, backup)
            srv = start_server(idp, tmp_path, port, **settings)
            stale = laptop.unlock()
            assert clear_error(stale), (stale.returncode, stale.stderr)
            # Its refresh token rotated after the dump, so the restored server does not know
            # it: the machine is told to pair again (exit 8), as after a revocation.
            assert stale.returncode == 8 and "no longer authorised" in stale.stderr
            got = runner_env.zk("get", "github", extra=as_runner)
            assert got.stdout == ITEMS[0].secret + "\n", got.stderr  # nothing it saw changed
            assert verify_audit(settings).returncode == 0
    finally:
        if srv is not None:
            stop(srv.proc)
        stop(idp_proc)
