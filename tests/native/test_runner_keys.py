"""How a person confirms the owner's grant key at `zkvault runner enroll`: on a terminal
(typing yes), or with --owner-fingerprint; without either, enrolment is refused before it
starts. (The server's lies about that key: tests/hostile/test_key_lies_runner.py.)"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
import uuid

import pytest

from tests.native.serverproc import Owner, Server
from tests.native.support import FAST_KDF, ITEMS, PASSPHRASE, REPO, Env
from vault_core import Vault, fingerprint
from vault_core.b64url import b64url_encode

pytestmark = pytest.mark.slow
ENROL = [sys.executable, "-m", "native", "runner", "enroll"]


def _vault(owner: Owner) -> Vault:
    vault = Vault.create(uuid.UUID(owner.account_id), PASSPHRASE, kdf=FAST_KDF)
    for item in ITEMS:
        vault.add(item)
    return vault


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
        owner.approve(code.group(1), grant_public_key=b64url_encode(real.owner_verify_key))
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
