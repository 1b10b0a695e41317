"""Teams against a server that lies (the hostile proxy of tests/hostile): a key substituted
for the person being added, and a removed member put back by serving the team as it was
before the removal. The CLI refuses both with their documented codes; nothing is sent."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.hostile import lies
from tests.hostile.stage import Stage
from tests.native.teams_stage import Member, add_item, leave_all, member, team_stage
from vault_core.teams import IdentityKeys

pytestmark = pytest.mark.slow

STATE = 5


@dataclass
class People:
    stage: Stage
    alice: Member
    bob: Member
    carol: Member


@pytest.fixture(scope="module")
def people() -> Iterator[People]:
    with team_stage() as stage:
        everyone = [member(stage, name) for name in ("alice", "bob", "carol")]
        try:
            yield People(stage, *everyone)
        finally:
            leave_all(everyone)


def _invited(people: People, team: str, someone: Member, role: str) -> None:
    people.alice.ok("team", "invite", team, someone.email, "--role", role)
    someone.ok("team", "accept", team)


def _head(someone: Member, team: str) -> tuple[int, list[str]]:
    listed = {t["name"]: t for t in someone.ok("team", "list")["teams"]}
    members = [m["email"] for m in someone.ok("team", "members", team)["members"]]
    return int(listed[team]["log_seq"]), sorted(members)


def test_a_key_substituted_for_the_invitee_is_refused(people: People) -> None:
    alice, bob = people.alice, people.bob
    alice.ok("team", "create", "subst")
    _invited(people, "subst", bob, "writer")
    before = _head(alice, "subst")
    # The server's own key pair, self-signed for bob's account: all a server can make.
    forged = IdentityKeys.generate(uuid.UUID(bob.person.account_id)).bundle()

    def substitute(body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "identity": lies.b64e(forged)}

    lie = lies.json_body("substituted invitee key", "GET", "/api/accounts/lookup", substitute)
    number = bob.ok("identity")["safety_number"]  # read to alice out of band
    with people.stage.proxy.telling(lie):
        refused = alice.fails("team", "add", "subst", bob.email, "--safety-number", number)
    assert lie.fired >= 1
    assert refused == (STATE, "identity_changed")
    assert _head(alice, "subst") == before  # no entry was sent, nobody pinned
    assert alice.ok("contacts", "list")["contacts"] == []

    # Once pinned (compared genuinely), the substitution is refused even on --tofu.
    alice.ok("contacts", "verify", bob.email, "--safety-number", number)
    with people.stage.proxy.telling(lie):
        refused = alice.fails("team", "add", "subst", bob.email, "--tofu")
    assert refused == (STATE, "identity_changed")
    assert _head(alice, "subst") == before
    # The lie switched off: bob is added with his own key, and opens the team.
    alice.ok("team", "add", "subst", bob.email, "--tofu")
    members = bob.ok("team", "members", "subst")["members"]
    assert {m["email"]: m["safety_number"] for m in members}[bob.email] == number


def test_a_removed_member_put_back_by_the_server_is_refused(people: People) -> None:
    alice, bob, carol = people.alice, people.bob, people.carol
    team = alice.ok("team", "create", "ops")["team_id"]
    add_item(alice, "deploy", "before-removal", "--vault", "ops")
    for someone, role in ((bob, "writer"), (carol, "reader")):
        _invited(people, "ops", someone, role)
        alice.ok("team", "add", "ops", someone.email, "--tofu")
    assert carol.ok("get", "ops/deploy")["value"] == "before-removal"
    # What the server held with carol in the team: the hostile side keeps it.
    old_log = alice.person.call("GET", f"/api/teams/{team}/log").json()
    old_vault = alice.person.call("GET", f"/api/teams/{team}/vault").json()

    alice.ok("team", "remove", "ops", carol.email)
    assert carol.email not in _head(bob, "ops")[1]  # bob saw the removal
    bob.restart()  # what he saw is all the new agent has: the sealed state's memory

    stale = [
        lies.json_body(
            "log before the removal", "GET", f"/api/teams/{team}/log", lambda _: old_log
        ),
        lies.json_body(
            "vault before the removal", "GET", f"/api/teams/{team}/vault", lambda _: old_vault
        ),
    ]
    with people.stage.proxy.telling(*stale):
        refused = bob.fails("team", "members", "ops")
        listed = bob.ok("team", "list")
        read = bob.fails("get", "ops/deploy")
    assert refused == (STATE, "team_log_rollback")
    assert [(t["name"], t["error"]) for t in listed["refused"]] == [("ops", "team_log_rollback")]
    assert "ops" not in [t["name"] for t in listed["teams"]]  # nothing of it is served
    assert read == (STATE, "team_log_rollback")
    # The lie switched off: the genuine team opens, without carol.
    assert carol.email not in _head(bob, "ops")[1]
    assert bob.ok("get", "ops/deploy")["value"] == "before-removal"


def test_another_identity_served_for_oneself_is_reported_at_unlock(people: People) -> None:
    carol = people.carol
    own = carol.ok("identity")
    assert own["published"] is True
    forged = IdentityKeys.generate(uuid.UUID(carol.person.account_id)).bundle()
    path = f"/api/identity/{carol.person.account_id}"

    def swapped(body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "bundle": lies.b64e(forged)}

    carol.env.zk("lock", check=True)
    with people.stage.proxy.telling(lies.json_body("another identity", "GET", path, swapped)):
        done = carol.env.unlock("--confirm", passphrase=carol.person.passphrase)
    assert done.returncode == 0, done.stderr
    assert "held another identity key for your account" in done.stderr
    warnings = carol.ok("status")["warnings"]
    assert any("another identity key" in w for w in warnings), warnings
    # Carol's own identity is what the server serves again, and her safety number is kept.
    again = carol.ok("identity")
    assert again["published"] is True and again["safety_number"] == own["safety_number"]
