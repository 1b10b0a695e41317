"""A runner (`zkvault get` with its credential) against a server that lies about its
grant: an older one, another runner's, another account's, a forged one. Each is refused
with its documented code; the genuine grant opens after."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from tests.hostile import lies
from tests.hostile.stage import CODE, Person, Stage, decode_credential, person_with_vault
from tests.native.support import Env, make_env, start_pairing
from tests.support.report import record
from vault_core import RunnerKeyPair, Vault, fingerprint, seal_grant

pytestmark = pytest.mark.slow


@dataclass
class Runner:
    name: str
    env: Env
    credential: str
    runner_id: uuid.UUID
    granted: list[str] = field(default_factory=list)
    blobs: list[bytes] = field(default_factory=list)  # every grant sealed to it, oldest first

    def get(self, name: str) -> tuple[str, str]:
        """(the error code, or "ok"; the secret printed)."""
        done = self.env.zk(
            "get", name, "--json", extra={"ZKVAULT_RUNNER_CREDENTIAL": self.credential}
        )
        reply = json.loads(done.stdout)
        return ("ok", str(reply.get("value", ""))) if reply["ok"] else (reply["error"], "")


def enrol(stage: Stage, owner: Person, vault: Vault, name: str) -> Runner:
    env = make_env()
    proc, code, _ = start_pairing(
        env,
        *("runner", "enroll", "--name", name, "--server", stage.url),
        *("--owner-fingerprint", fingerprint("owner-grant", vault.owner_verify_key)),
        show=CODE,
    )
    owner.approve(code, grant_public_key=lies.b64e(vault.owner_verify_key))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    credential = out.strip()
    seed = lies.b64d(decode_credential(credential)["k"])
    stage.secrets[f"{name} key seed"] = seed
    return Runner(name, env, credential, uuid.UUID(decode_credential(credential)["r"]))


def grant(owner: Person, vault: Vault, runner: Runner, names: list[str]) -> None:
    """Seal to the key the runner holds (its seed), not to a key the server hands out."""
    public_key = RunnerKeyPair(lies.b64d(decode_credential(runner.credential)["k"])).public_key
    ids = [info.id for info in vault.items() if info.name in names]
    revision = len(runner.blobs) + 1
    blob = seal_grant(vault, runner.runner_id, public_key, ids, revision)
    r = owner.call(
        "PUT",
        f"/api/runners/{runner.runner_id}/grant",
        json={"revision": revision, "blob": lies.b64e(blob)},
    )
    assert r.status_code == 200, r.text
    runner.granted, runner.blobs = names, [*runner.blobs, blob]


@dataclass
class Fleet:
    alice: Person
    ci1: Runner
    ci2: Runner
    bobs: Runner


@pytest.fixture(scope="module")
def fleet(stage: Stage) -> Iterator[Fleet]:
    alice, vault = person_with_vault(stage, "erin")
    bob, bob_vault = person_with_vault(stage, "frank")
    names = [item.name for item in alice.items]
    ci1, ci2 = enrol(stage, alice, vault, "ci-1"), enrol(stage, alice, vault, "ci-2")
    bobs = enrol(stage, bob, bob_vault, "ci-b")
    try:
        grant(alice, vault, ci1, names[:2])
        grant(alice, vault, ci1, names[:1])  # narrowed: revision 2 is the genuine one
        grant(alice, vault, ci2, names[1:])
        grant(bob, bob_vault, bobs, [bob.items[0].name])
        assert ci1.get(names[0])[0] == "ok"  # revision 2 opened: the runner's floor
        yield Fleet(alice, ci1, ci2, bobs)
    finally:
        for runner in (ci1, ci2, bobs):
            shutil.rmtree(runner.env.root, ignore_errors=True)


@dataclass(frozen=True)
class GrantLie:
    name: str
    forge: Callable[[Fleet, bytes], bytes]
    expect: str


def _flip(blob: bytes) -> bytes:
    middle = len(blob) // 2
    return blob[:middle] + bytes([blob[middle] ^ 0x01]) + blob[middle + 1 :]


GRANT_LIES = [
    GrantLie("an older grant (rollback)", lambda f, b: f.ci1.blobs[0], "rollback"),
    GrantLie("another runner's grant", lambda f, b: f.ci2.blobs[-1], "grant_auth"),
    GrantLie("another account's grant", lambda f, b: f.bobs.blobs[-1], "grant_auth"),
    GrantLie("a grant with one byte changed", lambda f, b: _flip(b), "grant_auth"),
]


@pytest.mark.parametrize("case", GRANT_LIES, ids=lambda c: c.name)
def test_runner_refuses_the_lie_and_keeps_its_grant(
    stage: Stage, fleet: Fleet, case: GrantLie
) -> None:
    runner, name = fleet.ci1, fleet.ci1.granted[0]
    secret = next(item.secret for item in fleet.alice.items if item.name == name)
    lie = lies.grant_blob(case.name, lambda served: case.forge(fleet, served))
    with stage.proxy.telling(lie):
        got, leaked = runner.get(name)
    after, shown = runner.get(name)  # the lie switched off: the genuine grant opens
    record(
        "hostile server",
        f"{case.name} (runner)",
        tried=1,
        refused=int(got == case.expect and not leaked),
        lost=int(after != "ok" or shown != secret),
    )
    assert (got, leaked) == (case.expect, "")
    assert (after, shown) == ("ok", secret)
