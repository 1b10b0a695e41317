"""A runner (`zkvault runner enroll`, then `zkvault list`) against a server that lies about
the owner's grant key: at enrolment it hands over a key of its own, later it serves a
grant it signed itself and names its own key as the owner's. The runner pins only the key
whose fingerprint the person confirmed, and verifies grants with that key only."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.hostile import lies
from tests.hostile.stage import CODE, Person, Stage, decode_credential, person_with_vault
from tests.native.support import Env, make_env, start_pairing, stop_agent
from tests.support.report import record
from vault_core import Item, Vault, fingerprint, seal_grant

pytestmark = pytest.mark.slow


@dataclass
class Owner:
    person: Person
    vault: Vault  # the genuine one: its grant key is the one the person confirms
    forged: Vault  # the server's own, for the same account (made without any secret)


@pytest.fixture(scope="module")
def owner(stage: Stage) -> Owner:
    person, vault = person_with_vault(stage, "carol")
    forged = Vault.create(uuid.UUID(person.account_id), "the server's own passphrase 1234")
    return Owner(person, vault, forged)


@pytest.fixture
def runner() -> Iterator[Env]:
    env = make_env()
    try:
        yield env
    finally:
        stop_agent(env)


def _enrol(stage: Stage, env: Env, owner_fp: str) -> subprocess.Popen[str]:
    proc, code, _ = start_pairing(
        env,
        "runner",
        "enroll",
        "--name",
        f"ci-{uuid.uuid4().hex[:6]}",
        "--server",
        stage.url,
        "--owner-fingerprint",
        owner_fp,
        show=CODE,
    )
    proc.code = code  # type: ignore[attr-defined]
    return proc


def test_substituted_owner_grant_key_at_enrolment(stage: Stage, owner: Owner, runner: Env) -> None:
    confirmed = fingerprint("owner-grant", owner.vault.owner_verify_key)
    substituted = fingerprint("owner-grant", owner.forged.owner_verify_key)
    lie = lies.pairing_poll(
        "substituted owner grant key",
        lambda body: {**body, "grant_public_key": lies.b64e(owner.forged.owner_verify_key)},
    )
    with stage.proxy.telling(lie):
        proc = _enrol(stage, runner, confirmed)
        owner.person.approve(
            proc.code,  # type: ignore[attr-defined]
            grant_public_key=lies.b64e(owner.vault.owner_verify_key),
        )
        out, err = proc.communicate(timeout=60)
    refused = int(proc.returncode == 5 and "refusing to enrol" in err)
    record(
        "hostile server",
        "owner grant key substituted at enrolment (runner)",
        tried=1,
        refused=refused,
        lost=int(out != ""),  # a credential pinning the server's key would be a loss
    )
    assert refused, (proc.returncode, err)
    assert substituted in err and confirmed in err and out == ""


def test_grant_signed_by_an_unpinned_key(stage: Stage, owner: Owner, runner: Env) -> None:
    owner_fp = fingerprint("owner-grant", owner.vault.owner_verify_key)
    proc = _enrol(stage, runner, owner_fp)
    owner.person.approve(
        proc.code,  # type: ignore[attr-defined]
        grant_public_key=lies.b64e(owner.vault.owner_verify_key),
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    credential = out.strip()
    body = decode_credential(credential)
    stage.secrets[f"runner seed {body['r']}"] = lies.b64d(body["k"])
    runner_id = uuid.UUID(body["r"])
    runner_key = _runner_key(owner.person, runner_id)
    granted = owner.person.items[0]
    chosen = [_item_id(owner.vault, granted.name)]
    genuine = seal_grant(owner.vault, runner_id, runner_key, chosen, 1)
    put = owner.person.call(
        "PUT", f"/api/runners/{runner_id}/grant", json={"revision": 1, "blob": lies.b64e(genuine)}
    )
    assert put.status_code == 200, put.text
    ci = {"ZKVAULT_RUNNER_CREDENTIAL": credential}

    # The server's own grant: every item of its own vault, sealed to the runner's public
    # key at a higher revision, and its own key named as the owner's.
    owner.forged.add(Item(name="planted", kind="generic", url="", secret="planted"))
    everything = [i.id for i in owner.forged.items()]
    forged = seal_grant(owner.forged, runner_id, runner_key, everything, 2)
    blob = lies.grant_blob("grant signed by an unpinned key", lambda _: forged)
    named = lies.json_body(
        "the server's key named as the owner's",
        "GET",
        "/api/runner/grant",
        lambda b: {**b, "grant_public_key": lies.b64e(owner.forged.owner_verify_key)},
    )
    with stage.proxy.telling(blob, named):
        got = runner.zk("list", "--json", extra=ci)
    answer = json.loads(got.stdout) if got.stdout else {}
    after = runner.zk("get", granted.name, extra=ci)  # the lie switched off
    refused = int(got.returncode == 5 and answer.get("error") == "grant_auth")
    record(
        "hostile server",
        "grant signed by an unpinned key (runner)",
        tried=1,
        refused=refused,
        lost=int(after.returncode != 0 or after.stdout != granted.secret + "\n"),
    )
    assert refused, (got.returncode, got.stdout, got.stderr)
    assert owner_fp in got.stderr and "planted" not in got.stdout
    assert after.returncode == 0 and after.stdout == granted.secret + "\n", after.stderr


def _runner_key(person: Person, runner_id: uuid.UUID) -> bytes:
    # The owner's own record of the key would be the pin; the server's list is what the
    # hostile side knows too, and no lie is on here.
    r = person.call("GET", "/api/runners")
    assert r.status_code == 200, r.text
    (listed,) = [x for x in r.json() if x["id"] == str(runner_id)]
    return lies.b64d(listed["public_key"])


def _item_id(vault: Vault, name: str) -> uuid.UUID:
    (found,) = [i.id for i in vault.items() if i.name == name]
    return found
