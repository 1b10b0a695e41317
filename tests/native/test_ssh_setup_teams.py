"""`zkvault ssh-agent setup` on a laptop in a team: a team's ssh-key item listed as
TEAM/NAME, where a personal key has that same name, must not lend its host to the
personal key (a team writer chooses the team item's host); each key gets its own item's."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

from tests.native.sshd import SSHD
from tests.native.teams_stage import leave_all, member, team_stage

pytestmark = [
    pytest.mark.skipif(not os.path.exists(SSHD), reason="OpenSSH missing"),
    pytest.mark.slow,
]


def _blocks(config: str) -> dict[str, list[str]]:
    """Host -> the IdentityFile lines of its block."""
    blocks: dict[str, list[str]] = {}
    host = ""
    for line in config.splitlines():
        if line.startswith("Host "):
            host = line.split()[1]
            blocks[host] = []
        elif line.strip().startswith("IdentityFile") and host:
            blocks[host].append(line.split()[1])
    return blocks


def test_a_team_item_named_like_a_personal_key_lends_it_no_host() -> None:
    with team_stage() as stage:
        alice = member(stage, "alice")
        try:
            alice.ok("team", "create", "ops")
            mine = alice.ok("add", "ops/deploy", "--generate", "--url", "host-a")
            team = alice.ok(
                *("add", "deploy", "--generate", "--url", "host-elsewhere", "--vault", "ops")
            )
            listed = {i["name"]: i.get("vault") for i in alice.ok("list")["items"]}
            assert listed.get("ops/deploy") == "ops"  # the team item, listed under that name
            done = alice.zk("ssh-agent", "setup")
            assert done.returncode == 0, done.stderr
        finally:
            leave_all([alice])
    blocks = _blocks(done.stdout)
    assert _stubs(blocks, "host-a") == [_stub(mine["public_key"])], done.stdout
    assert _stubs(blocks, "host-elsewhere") == [_stub(team["public_key"])], done.stdout


def _stubs(blocks: dict[str, list[str]], host: str) -> list[str]:
    return [os.path.basename(f) for f in blocks.get(host, [])]


def _stub(public_line: str) -> str:
    return hashlib.sha256(_blob(public_line)).hexdigest()[:16] + ".pub"


def _blob(public_line: str) -> bytes:
    return base64.b64decode(public_line.split()[1])
