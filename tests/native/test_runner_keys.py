"""A runner against a server that lies about keys: the owner's grant key is pinned only
once the person confirmed its fingerprint, and a grant signed by any other key is refused.

The lies are made where a compromised server makes them: in its database (the pairing
row the runner's poll answer comes from, the grant key it advertises) and in the grant
blob it serves.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from native.api import b64url_decode
from tests.native import support
from tests.native.serverproc import Owner, Server, b64url, start_server
from tests.native.support import FAST_KDF, ITEMS, PASSPHRASE, REPO, Env
from tests.support.report import record
from vault_core import Vault, fingerprint, seal_grant

pytestmark = pytest.mark.slow
CASE = "hostile server (keys)"
ENROL = [sys.executable, "-m", "native", "runner", "enroll"]


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    srv = start_server()
    try:
        yield srv
    finally:
        srv.stop()


def _vault(owner: Owner) -> Vault:
    vault = Vault.create(uuid.UUID(owner.account_id), PASSPHRASE, kdf=FAST_KDF)
    for item in ITEMS:
        vault.add(item)
    return vault


def _enrol(env: Env, server: Server, *flags: str) -> tuple[subprocess.Popen[str], str]:
    proc, code, _ = support.start_pairing(
        env,
        "runner",
        "enroll",
        "--name",
        "ci-1",
        "--server",
        server.url,
        *flags,
        show=r"enter the code (\S+) ",
    )
    return proc, code


def _db(server: Server) -> sqlite3.Connection:
    return sqlite3.connect(server.workdir / "zkvault.sqlite3")


def test_enrol_without_a_way_to_confirm_the_owner_key_is_refused_up_front(
    env: Env, server: Server
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "native", "runner", "enroll", "--name", "x", "--server", server.url],
        env=env.vars,
        cwd=REPO,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert done.returncode == 2 and "--owner-fingerprint" in done.stderr, done.stderr
    assert "Waiting for approval" not in done.stderr  # refused before any pairing
    bad = env.zk("runner", "enroll", "--name", "x", "--server", server.url,
                 "--owner-fingerprint", "ABCD-1234")  # fmt: skip
    assert bad.returncode == 2 and "not a fingerprint" in bad.stderr, bad.stderr


def test_substituted_owner_grant_key_at_enrolment_is_refused(env: Env, server: Server) -> None:
    owner = Owner(server)
    real = _vault(owner)
    forged = _vault(owner)  # the server's own grant key, for the same account
    confirmed = fingerprint("owner-grant", real.owner_verify_key)
    proc, _code = _enrol(env, server, "--owner-fingerprint", confirmed)
    # The lie: the server approves the pairing itself, handing over its own grant key (what
    # the runner's poll answer carries is exactly this row).
    with _db(server) as db:
        moved = db.execute(
            "UPDATE pairings SET status = 'approved', account_id = ?, grant_public_key = ? "
            "WHERE name = 'ci-1' AND status = 'pending'",
            (uuid.UUID(owner.account_id).hex, b64url(forged.owner_verify_key)),
        ).rowcount
    assert moved == 1
    out, err = proc.communicate(timeout=60)
    refused = int(proc.returncode == 5 and out == "")
    record(CASE, "owner grant key substituted at enrolment", tried=1, refused=refused)
    assert refused, (proc.returncode, err)
    assert fingerprint("owner-grant", forged.owner_verify_key) in err and confirmed in err
    assert "refusing to enrol" in err


def test_grant_signed_by_a_key_never_pinned_is_refused(env: Env, server: Server) -> None:
    owner = Owner(server)
    real = _vault(owner)
    owner_fp = fingerprint("owner-grant", real.owner_verify_key)
    proc, code = _enrol(env, server, "--owner-fingerprint", owner_fp)
    owner.approve(code, grant_public_key=b64url(real.owner_verify_key))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"pinned the owner's grant key {owner_fp}" in err
    ci = {"ZKVAULT_RUNNER_CREDENTIAL": out.strip()}
    (runner,) = owner.call("GET", "/api/runners").json()
    runner_id, runner_key = uuid.UUID(runner["id"]), b64url_decode(runner["public_key"])
    by_name = {info.name: info.id for info in real.items()}

    genuine = seal_grant(real, runner_id, runner_key, [by_name["github"]], 1)
    put = owner.call(
        "PUT", f"/api/runners/{runner_id}/grant", json={"revision": 1, "blob": b64url(genuine)}
    )
    assert put.status_code == 200, put.text
    status = env.zk("status", "--json", extra=ci)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["owner_fingerprint"] == owner_fp

    # The lie: a grant the server signed itself, sealed to the runner's (public) key, at a
    # higher revision, and its own key advertised as the owner's.
    forged = _vault(owner)
    fake = seal_grant(forged, runner_id, runner_key, [i.id for i in forged.items()], 2)
    with _db(server) as db:
        db.execute(
            "UPDATE grants SET blob = ?, revision = 2 WHERE runner_id = ?", (fake, runner_id.hex)
        )
        db.execute(
            "UPDATE clients SET grant_public_key = ? WHERE id = ?",
            (b64url(forged.owner_verify_key), runner_id.hex),
        )
    got = env.zk("list", "--json", extra=ci)
    answer = json.loads(got.stdout) if got.stdout else {}
    refused = int(got.returncode == 5 and answer.get("error") == "grant_auth")
    record(CASE, "grant signed by an unpinned key", tried=1, refused=refused)
    assert refused, (got.returncode, got.stdout, got.stderr)
    assert owner_fp in got.stderr
    assert ITEMS[1].secret not in got.stdout + got.stderr


def _read_until(fd: int, marker: str, seen: str = "", limit: float = 60) -> str:
    deadline = time.monotonic() + limit
    while marker not in seen:
        assert time.monotonic() < deadline, seen
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            seen += chunk.decode(errors="replace")
    return seen


@pytest.mark.parametrize("answer", ["no", "yes"])
def test_on_a_terminal_the_person_confirms_the_owner_fingerprint(
    env: Env, server: Server, answer: str
) -> None:
    owner = Owner(server)
    real = _vault(owner)
    owner_fp = fingerprint("owner-grant", real.owner_verify_key)
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [*ENROL, "--name", "tty", "--server", server.url],
        env=env.vars,
        cwd=REPO,
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=terminal,
        text=True,
    )
    os.close(terminal)
    try:
        shown = _read_until(controller, "Waiting for approval")
        code = re.search(r"enter the code (\S+) ", shown)
        assert code, shown
        owner.approve(code.group(1), grant_public_key=b64url(real.owner_verify_key))
        shown = _read_until(controller, "Type yes to pin it", shown)
        assert f"The owner's grant key has fingerprint {owner_fp}" in shown
        os.write(controller, f"{answer}\n".encode())
        # Read while the child still holds the terminal: after it exits, nothing is left.
        last = "nothing was pinned" if answer == "no" else "pinned the owner's grant key"
        shown = _read_until(controller, last, shown)
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(controller)
    if answer == "yes":
        assert proc.returncode == 0 and out.startswith("zkvr1."), shown
        assert f"pinned the owner's grant key {owner_fp}" in shown
    else:
        assert proc.returncode == 5 and out == "", shown
        assert "was not confirmed; nothing was pinned" in shown
