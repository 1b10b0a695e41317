"""The worker's team operations behind the team view's admin panes and SSH keys
(vault_web.worker_teams: ``team_seal_grant``, ``team_ssh_public_key``, ``team_item_add``
with ``generate``) under CPython with the native backend; the server is played by lists,
as in tests/unit/test_worker_teams.py. The browser story is tests/e2e/test_team_audit.py
and tests/e2e/test_teams.py."""

from __future__ import annotations

import importlib
import json
import uuid
from types import ModuleType
from typing import Any

import pytest

from tests.unit.test_worker_teams import Person, Server, add, person
from vault_core import (
    KdfParams,
    RunnerKeyPair,
    check_team_grant_log,
    open_team_grant,
)
from vault_core.b64url import b64url_decode as b64d
from vault_core.b64url import b64url_encode as b64e
from vault_core.teams import replay_states

TOKEN = "ghp_team_grant_secret_0123456789"


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setattr(KdfParams, "default", classmethod(lambda cls: cls.floor()))
    return importlib.reload(importlib.import_module("vault_web.worker_vault"))


def _code(call: Any) -> str:
    with pytest.raises(Exception) as refused:
        call()
    return str(getattr(refused.value, "code", type(refused.value).__name__))


def _team(worker: ModuleType) -> tuple[Person, Person, str, Server, str]:
    """Ada's team with Bob as a writer and one item, "deploy"."""
    ada, bob = person(worker, "ada"), person(worker, "bob")
    for p in (ada, bob):
        p.identity()
    made = ada.call("team_create", name="Ops", email=ada.email)
    team, server = made["team_id"], Server([made["entry"]], made["vault"])
    add(ada, team, server, bob, "writer")
    wrote = ada.call(
        "team_item_add",
        team_id=team,
        fields={"name": "deploy", "kind": "github", "url": "https://github.com"},
        secret=TOKEN,
    )
    server.blob = wrote["blob"]
    return ada, bob, team, server, wrote["items"][0]["id"]


def _pin(someone: Person, name: str) -> tuple[RunnerKeyPair, str]:
    keys = RunnerKeyPair.generate()
    runner = str(uuid.uuid4())
    someone.session.op_pin_runner(runner, b64e(keys.public_key), name)
    return keys, runner


def test_a_team_grant_is_sealed_to_the_pinned_runner_key_only(worker: ModuleType) -> None:
    ada, _, team, server, item = _team(worker)
    keys, runner = _pin(ada, "ci")

    def seal(listed: bytes, revision: int = 1, who: str = runner) -> dict[str, Any]:
        return ada.call(
            "team_seal_grant",
            team_id=team,
            runner_id=who,
            public_key=b64e(listed),
            revision=revision,
            item_ids=[item],
        )

    sealed = seal(keys.public_key)
    assert sealed["items"] == 1 and TOKEN not in json.dumps(sealed)
    account = uuid.UUID(ada.call("identity")["account_id"])
    grant = open_team_grant(
        b64d(sealed["blob"]),
        keypair=keys,
        account_id=account,
        runner_id=uuid.UUID(runner),
        team_id=uuid.UUID(hex=team),
        owner_verify_key=b64d(ada.session.op_owner_key()["public_key"]),
    )
    assert [(g.item.name, g.item.secret) for g in grant.items] == [("deploy", TOKEN)]
    check_team_grant_log(grant, replay_states(b64d(e) for e in server.entries))

    # The server lies about the key, or names a runner this vault never pinned: nothing.
    assert _code(lambda: seal(RunnerKeyPair.generate().public_key, 2)) == "key_mismatch"
    other = str(uuid.uuid4())
    assert _code(lambda: seal(keys.public_key, 2, other)) == "key_not_pinned"
    # A runner revoked in the vault gets nothing either, whatever the server lists.
    ada.session.op_revoke("runner", runner, "", "ci")
    assert _code(lambda: seal(keys.public_key, 2)) == "key_not_pinned"  # its pin went too


def test_only_an_admin_seals_a_team_grant(worker: ModuleType) -> None:
    _, bob, team, server, item = _team(worker)
    bob.open(team, server)
    keys, runner = _pin(bob, "bob-ci")
    refused = _code(
        lambda: bob.call(
            "team_seal_grant",
            team_id=team,
            runner_id=runner,
            public_key=b64e(keys.public_key),
            revision=1,
            item_ids=[item],
        )
    )
    assert refused == "team_permission"


def test_a_team_ssh_key_is_made_in_the_worker_and_only_its_public_half_leaves(
    worker: ModuleType,
) -> None:
    ada, bob, team, server, _ = _team(worker)
    bob.open(team, server)
    fields = {"name": "deploy-key", "kind": "ssh-key", "url": "github.com"}
    wrote = bob.call("team_item_add", team_id=team, fields=fields, generate=True)
    assert "PRIVATE KEY" not in json.dumps(wrote)
    key = next(i["id"] for i in wrote["items"] if i["name"] == "deploy-key")
    shown = bob.call("team_ssh_public_key", team_id=team, item_id=key)
    assert shown["public_key"].startswith("ssh-ed25519 ")
    assert shown["public_key"].endswith(" deploy-key")
    assert shown["fingerprint"].startswith("SHA256:")
    # Another member reads the same public half from the sealed vault.
    server.blob = wrote["blob"]
    ada.open(team, server)
    assert ada.call("team_ssh_public_key", team_id=team, item_id=key) == shown
    # Kept on an edit that sends no key; replaced by one generated on request.
    kept = bob.call("team_item_update", team_id=team, item_id=key, fields=fields)
    assert "PRIVATE KEY" not in json.dumps(kept)
    assert bob.call("team_ssh_public_key", team_id=team, item_id=key) == shown
    bob.call("team_item_update", team_id=team, item_id=key, fields=fields, generate=True)
    rotated = bob.call("team_ssh_public_key", team_id=team, item_id=key)
    assert rotated["fingerprint"] != shown["fingerprint"]
    # A public key pasted as the private one is refused, with nothing written.
    pasted = {**fields, "name": "wrong"}
    code = _code(
        lambda: bob.call("team_item_add", team_id=team, fields=pasted, secret=shown["public_key"])
    )
    assert code == "ssh_key_public"
    assert "wrong" not in [i["name"] for i in bob.call("team_view", team_id=team)["items"]]


def test_the_audit_trail_names_past_members_from_the_verified_log(worker: ModuleType) -> None:
    ada, bob, team, _, _ = _team(worker)
    bob_id = bob.call("identity")["account_id"]
    removed = ada.call("team_remove_member", team_id=team, account_id=bob_id)
    assert bob_id not in [m["account_id"] for m in removed["members"]]
    people = ada.call("team_people", team_id=team)["people"]
    assert people == {ada.call("identity")["account_id"]: ada.email, bob_id: bob.email}
