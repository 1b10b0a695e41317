"""A laptop (`zkvault connect`) and a runner (`zkvault runner enroll`) against a server that
answers their approved poll with the id of a client that already exists: a production
runner's. Each compares it with the pairing it created itself, refuses, and stores
nothing: no local state, no credential printed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from nacl.signing import SigningKey

from tests.hostile import lies
from tests.hostile.stage import CODE, Person, Stage, sign_in
from tests.native.support import Env, make_env, start_pairing, stop_agent
from tests.support.dpop import DpopKey
from tests.support.report import record
from vault_core import fingerprint

pytestmark = pytest.mark.slow
REFUSAL = "approved this pairing under another id"


@pytest.fixture(scope="module")
def owner(stage: Stage) -> Person:
    return sign_in(stage, "ivan")


@pytest.fixture(scope="module")
def grant_key() -> bytes:
    return bytes(SigningKey.generate().verify_key)  # the owner's grant key, as approval needs


@pytest.fixture(scope="module")
def production(stage: Stage, owner: Person, grant_key: bytes) -> str:
    """An enrolled runner's id: the one the server will hand out again."""
    key = DpopKey()  # the runner's: its pairing and its poll prove it
    created = httpx.post(
        stage.url + "/api/pairings",
        json={"kind": "runner", "name": "production", "public_key": lies.b64e(bytes(32 * [9]))},
        auth=key.auth(),
        timeout=30,
    ).json()
    owner.approve(created["code"], grant_public_key=lies.b64e(grant_key))
    claimed = httpx.post(
        stage.url + "/api/pairings/poll",
        json={"pairing_id": created["pairing_id"], "poll_secret": created["poll_secret"]},
        auth=key.auth(),
        timeout=30,
    ).json()
    assert claimed["status"] == "approved" and claimed["client_id"] == created["pairing_id"]
    return str(claimed["client_id"])


@pytest.fixture
def machine() -> Iterator[Env]:
    env = make_env()
    try:
        yield env
    finally:
        stop_agent(env)


def _listed(owner: Person, kind: str) -> dict[str, str]:
    r = owner.call("GET", f"/api/{kind}s")
    assert r.status_code == 200, r.text
    return {str(c["id"]): str(c["name"]) for c in r.json()}


@pytest.mark.parametrize("kind", ["runner", "machine"])
def test_an_approval_under_another_clients_id(
    stage: Stage, owner: Person, grant_key: bytes, production: str, machine: Env, kind: str
) -> None:
    name = f"{kind}-{uuid.uuid4().hex[:6]}"
    if kind == "runner":
        owner_fp = fingerprint("owner-grant", grant_key)
        args = ["runner", "enroll", "--owner-fingerprint", owner_fp]
        extra = {"grant_public_key": lies.b64e(grant_key)}
    else:
        args, extra = ["connect"], {}
    lie = lies.pairing_poll(
        "an approval under another client's id", lambda body: {**body, "client_id": production}
    )
    with stage.proxy.telling(lie):
        proc, code, _ = start_pairing(
            machine, *args, "--name", name, "--server", stage.url, show=CODE
        )
        owner.approve(code, **extra)
        out, err = proc.communicate(timeout=60)
    # What the server did create, under the pairing's own id: the proof the answer lied.
    created = [cid for cid, n in _listed(owner, kind).items() if n == name]
    stored = sorted(p.name for p in machine.home.rglob("*") if p.is_file())
    refused = int(proc.returncode == 5 and REFUSAL in err)
    record(
        "hostile server",
        f"another client's id in the approval ({'runner' if kind == 'runner' else 'laptop'})",
        tried=1,
        refused=refused,
        lost=int(out.strip() != "" or stored != []),
    )
    assert refused, (proc.returncode, out, err)
    assert out == "" and stored == [], (out, stored)  # no credential, no local state
    assert created and created != [production], created
    # The message names the pairing's own id, and never echoes the server's text.
    assert created[0] in err and production not in err
    if kind == "runner":  # its credential was minted but never delivered: revoke the runner
        assert owner.call("DELETE", f"/api/runners/{created[0]}").status_code in (200, 204)
