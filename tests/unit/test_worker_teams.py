"""The worker's team operations (vault_web.worker_teams) under CPython with the native
backend: two or three people's sessions, the server played by lists of entries and a
blob, as the page hands them in. The browser-level story is tests/e2e/test_teams.py."""

from __future__ import annotations

import importlib
import json
import uuid
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest

from vault_core import KdfParams

PASS = "orbit velvet crater mango lantern"


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setattr(KdfParams, "default", classmethod(lambda cls: cls.floor()))
    return importlib.reload(importlib.import_module("vault_web.worker_vault"))


@dataclass
class Server:
    """What the teams API would hold: the log as sent and the current vault."""

    entries: list[str] = field(default_factory=list)
    blob: str = ""


@dataclass
class Person:
    email: str
    session: Any
    teams: Any
    memory: dict[str, str] = field(default_factory=dict)

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        return dict(self.teams.ops()[op](**args))

    def identity(self) -> dict[str, Any]:
        made = self.call("identity_ensure")
        assert made["made"] and made["blob"]
        self.session.op_committed(revision=made["revision"])
        return self.call("identity")

    def open(self, team: str, server: Server) -> dict[str, Any]:
        view = self.call(
            "team_open",
            team_id=team,
            entries=server.entries,
            blob=server.blob,
            memory=self.memory.get(team),
        )
        self.memory[team] = view["team_memory"]
        return view


def person(worker: ModuleType, name: str) -> Person:
    session = worker.Session()
    session.op_create(str(uuid.uuid4()), PASS, PASS)
    return Person(f"{name}@example.test", session, worker.Teams(session))


def add(admin: Person, team: str, server: Server, other: Person, role: str) -> None:
    them = other.call("identity")
    admin.call(
        "contact_pin",
        account_id=them["account_id"],
        email=other.email,
        bundle=them["bundle"],
        safety_number=them["safety_number"].lower().replace("-", " "),  # as read out
    )
    added = admin.call(
        "team_add_member",
        team_id=team,
        account_id=them["account_id"],
        email=other.email,
        role=role,
        bundle=them["bundle"],
    )
    server.entries.append(added["entry"])
    admin.memory[team] = added["team_memory"]


def test_a_team_from_creation_to_a_removal(worker: ModuleType) -> None:
    ada, bob, cy = (person(worker, n) for n in ("ada", "bob", "cy"))
    for p in (ada, bob, cy):
        p.identity()
    made = ada.call("team_create", name="Platform", email=ada.email)
    team, server = made["team_id"], Server([made["entry"]], made["vault"])
    assert made["role"] == "owner" and made["members"][0]["verified"] == "self"
    add(ada, team, server, bob, "writer")
    add(ada, team, server, cy, "reader")

    wrote = ada.call(
        "team_item_add",
        team_id=team,
        fields={"name": "deploy", "kind": "github", "url": "https://github.com"},
        secret="ghp_team_secret",
    )
    server.blob = wrote["blob"]
    assert "ghp_team_secret" not in json.dumps(wrote)

    seen = bob.open(team, server)
    assert [i["name"] for i in seen["items"]] == ["deploy"]
    assert {m["email"]: m["verified"] for m in seen["members"]} == {
        "ada@example.test": "self",
        "bob@example.test": "fingerprint",
        "cy@example.test": "fingerprint",
    }
    item = seen["items"][0]["id"]
    assert bob.call("team_reveal", team_id=team, item_id=item) == {"secret": "ghp_team_secret"}

    cy.open(team, server)
    with pytest.raises(Exception) as refused:
        cy.call("team_item_remove", team_id=team, item_id=item)
    assert getattr(refused.value, "code", "") == "team_permission"

    removed = ada.call(
        "team_remove_member", team_id=team, account_id=bob.call("identity")["account_id"]
    )
    assert [x["name"] for x in removed["exposed"]] == ["deploy"]
    assert removed["exposed"][0]["rotate_at"] == "https://github.com/settings/tokens"
    server.entries.append(removed["entry"])
    server.blob = removed["vault"]
    assert removed["base_revision"] == 2 and removed["epoch"] == 2

    assert [i["name"] for i in cy.open(team, server)["items"]] == ["deploy"]
    with pytest.raises(Exception) as gone:
        bob.open(team, server)
    assert getattr(gone.value, "code", "") == "team_permission"


def test_a_wrong_safety_number_pins_nothing(worker: ModuleType) -> None:
    ada, bob, eve = (person(worker, n) for n in ("ada", "bob", "eve"))
    for p in (ada, bob, eve):
        p.identity()
    them = bob.call("identity")
    lookup = ada.call(
        "contact_lookup", account_id=them["account_id"], email=bob.email, bundle=them["bundle"]
    )
    assert lookup["safety_number"] == them["safety_number"] and lookup["pinned"] is None
    reply = json.loads(
        worker.dispatch("noop", "{}")  # the module-level table answers unknown ops
    )
    assert reply["code"] == "unknown_op"
    with pytest.raises(Exception) as changed:
        ada.call(
            "contact_pin",
            account_id=them["account_id"],
            email=bob.email,
            bundle=them["bundle"],
            safety_number=eve.call("identity")["safety_number"],
        )
    assert getattr(changed.value, "code", "") == "identity_changed"
    with pytest.raises(Exception) as undecided:
        ada.call(
            "contact_pin", account_id=them["account_id"], email=bob.email, bundle=them["bundle"]
        )
    assert getattr(undecided.value, "code", "") == "needs_verification"
    ada.call(
        "contact_pin",
        account_id=them["account_id"],
        email=bob.email,
        bundle=them["bundle"],
        tofu=True,
    )
    again = ada.call(
        "contact_lookup", account_id=them["account_id"], email=bob.email, bundle=them["bundle"]
    )
    assert again["pinned"]["verified"] == "tofu" and not again["changed"]


def test_locking_closes_every_team(worker: ModuleType) -> None:
    create = {"account_id": str(uuid.uuid4()), "passphrase": PASS, "confirm": PASS}
    assert json.loads(worker.dispatch("create", json.dumps(create)))["ok"]
    made = json.loads(worker.dispatch("identity_ensure", "{}"))["result"]
    json.loads(worker.dispatch("committed", json.dumps({"revision": made["revision"]})))
    team = json.loads(worker.dispatch("team_create", '{"name": "T", "email": "a@b.c"}'))
    team_id = team["result"]["team_id"]
    assert json.loads(worker.dispatch("lock", "{}"))["ok"]
    reply = json.loads(worker.dispatch("team_view", json.dumps({"team_id": team_id})))
    assert reply["code"] == "locked"


def test_a_team_save_seals_the_audit_head_the_server_named(worker: ModuleType) -> None:
    """format.md §15.9 from the browser: the page hands on every audit_head of the team's
    vault and log answers; the team's next save seals the newest well-formed one."""
    ada, bob = person(worker, "ada"), person(worker, "bob")
    for p in (ada, bob):
        p.identity()
    made = ada.call("team_create", name="Platform", email=ada.email)
    team, server = made["team_id"], Server([made["entry"]], made["vault"])
    add(ada, team, server, bob, "writer")
    newer, older = "ab" * 32, "cd" * 32
    assert ada.call("team_saw_audit_head", team_id=team, seq=7, hash=newer)["anchored"]
    for seq, digest in ((6, older), ("07", older), (8, "AB" * 32), (0, older), (True, older)):
        # older, a seq spelled with a zero, upper-case hex, no such seq, not a number
        told = ada.call("team_saw_audit_head", team_id=team, seq=seq, hash=digest)
        assert told == {"anchored": False}
    wrote = ada.call(
        "team_item_add", team_id=team, fields={"name": "deploy", "kind": "generic"}, secret="s"
    )
    server.blob = wrote["blob"]
    bob.open(team, server)
    anchor = bob.teams.sessions[team].vault.audit_anchor
    assert (anchor.seq, anchor.head) == (7, newer)
    assert [i["name"] for i in bob.open(team, server)["items"]] == ["deploy"]  # hidden
