"""The laptop CLI (`zkvault unlock` and its agent) against a server that lies about the
vault: each lie is refused with its documented code, and the genuine vault opens after."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.hostile import lies
from tests.hostile.cases import GENUINE_OPS, VAULT_LIES, VaultLie
from tests.hostile.stage import Person, Stage, pair_laptop, person_with_vault
from tests.native.support import Env, stop_agent
from tests.support.report import record
from vault_core import KdfParams

pytestmark = pytest.mark.slow


@dataclass
class Laptop:
    alice: Person
    env: Env
    other: bytes  # bob's vault, as the server stores it
    older: bytes  # alice's revision 1


@pytest.fixture(scope="module")
def laptop(stage: Stage) -> Iterator[Laptop]:
    kdf = KdfParams(ops=GENUINE_OPS, mem_kib=KdfParams.floor().mem_kib)
    alice, _ = person_with_vault(stage, "alice", kdf)
    bob, _ = person_with_vault(stage, "bob", kdf)
    older = alice.call("GET", "/api/vault/history/1")
    assert older.status_code == 200, older.text
    env = pair_laptop(stage, alice)
    try:
        done = env.unlock(passphrase=alice.passphrase)  # revision 2 seen and authenticated
        assert done.returncode == 0, done.stderr
        env.zk("lock", check=True)
        yield Laptop(alice, env, lies.b64d(bob.stored()["blob"]), lies.b64d(older.json()["blob"]))
    finally:
        stop_agent(env)


def unlock_code(laptop: Laptop) -> str:
    """`zkvault unlock --json`: the error code it reports, or "ok"."""
    done = laptop.env.unlock("--json", passphrase=laptop.alice.passphrase)
    if done.returncode == 0:
        return "ok"
    return str(json.loads(done.stdout.strip().splitlines()[-1])["error"])


@pytest.mark.parametrize("case", VAULT_LIES, ids=lambda c: c.name)
def test_cli_refuses_the_lie_and_keeps_the_vault(
    stage: Stage, laptop: Laptop, case: VaultLie
) -> None:
    genuine = laptop.alice.stored()
    lie = lies.vault_blob(case.name, lambda served: case.forge(served, laptop.other, laptop.older))
    with stage.proxy.telling(lie):
        got = unlock_code(laptop)
    after = unlock_code(laptop)  # the lie switched off: the genuine vault opens
    item = laptop.alice.items[0]
    shown = laptop.env.zk("get", item.name).stdout.rstrip("\n")
    laptop.env.zk("lock")
    unchanged = laptop.alice.stored()["sha256"] == genuine["sha256"]
    record(
        "hostile server",
        f"{case.name} (CLI)",
        tried=1,
        refused=int(got == case.expect),
        lost=int(after != "ok" or shown != item.secret or not unchanged),
    )
    assert got == case.expect
    assert after == "ok" and shown == item.secret
    assert unchanged, "the client saved something while lied to"
