"""Teams through the real CLI and agents of three people on the real server: create,
invite, accept, add with a safety number and on first use, a writer writes, a reader
reads and cannot write, a removed member reads nothing written after, the others still
read, and git gets a credential from a team item."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.hostile.stage import Stage
from tests.native.support import git
from tests.native.teams_stage import Member, add_item, leave_all, member, team_stage

pytestmark = pytest.mark.slow

USAGE, NOT_FOUND = 2, 4


@dataclass
class Team:
    stage: Stage
    alice: Member  # owner
    bob: Member  # writer, added after comparing safety numbers
    carol: Member  # reader, added on first use
    secret: str  # alice's first team item


@pytest.fixture(scope="module")
def team() -> Iterator[Team]:
    with team_stage() as stage:
        people = [member(stage, name) for name in ("alice", "bob", "carol")]
        alice, bob, carol = people
        try:
            made = alice.ok("team", "create", "ops")
            assert made["role"] == "owner"
            secret = "team-" + secrets.token_urlsafe(16)
            added = add_item(alice, "deploy", secret, "--vault", "ops")
            assert added["vault"] == "ops" and added["saved"]
            yield Team(stage, alice, bob, carol, secret)
        finally:
            leave_all(people)


def test_invite_accept_and_add(team: Team) -> None:
    alice, bob, carol = team.alice, team.bob, team.carol
    alice.ok("team", "invite", "ops", bob.email, "--role", "writer")
    alice.ok("team", "invite", "ops", carol.email, "--role", "reader")
    received = bob.ok("team", "invitations")["received"]
    assert [(i["team_name"], i["role"]) for i in received] == [("ops", "writer")]
    # Not accepted yet: nobody is added.
    assert alice.fails("team", "add", "ops", bob.email, "--tofu")[1] == "not_accepted"
    bob.ok("team", "accept", "ops")
    carol.ok("team", "accept", "ops")

    # Without a number or --tofu (no terminal): refused, with the number to compare.
    assert alice.fails("team", "add", "ops", bob.email) == (USAGE, "identity_not_pinned")
    # A number that is not bob's: refused, nothing pinned.
    wrong = carol.ok("identity")["safety_number"]
    code = alice.fails("team", "add", "ops", bob.email, "--safety-number", wrong)[1]
    assert code == "identity_changed"
    number = bob.ok("identity")["safety_number"]
    done = alice.ok("team", "add", "ops", bob.email, "--safety-number", number.lower())
    assert (done["verified"], done["role"]) == ("fingerprint", "writer")
    done = alice.ok("team", "add", "ops", carol.email, "--tofu")
    assert (done["verified"], done["role"]) == ("tofu", "reader")

    members = {m["email"]: m for m in bob.ok("team", "members", "ops")["members"]}
    assert {e: (m["role"], m["verified"]) for e, m in members.items()} == {
        alice.email: ("owner", "self"),
        bob.email: ("writer", "fingerprint"),
        carol.email: ("reader", "tofu"),
    }
    assert members[bob.email]["safety_number"] == number
    pinned = alice.ok("contacts", "list")["contacts"]
    assert {c["email"]: c["verified"] for c in pinned} == {
        bob.email: "fingerprint",
        carol.email: "tofu",
    }


def test_writer_writes_reader_reads_but_cannot_write(team: Team) -> None:
    alice, bob, carol = team.alice, team.bob, team.carol
    assert bob.ok("get", "ops/deploy")["value"] == team.secret
    written = "bob-" + secrets.token_urlsafe(16)
    add_item(bob, "bob-token", written, "--vault", "ops")
    # Personal first, then teams: by plain name, by TEAM/ITEM and with --vault.
    assert carol.ok("get", "bob-token")["value"] == written
    assert carol.ok("get", "ops/bob-token")["value"] == written
    assert alice.ok("get", "deploy", "--vault", "ops")["value"] == team.secret
    listed = [i["name"] for i in carol.ok("list")["items"]]
    assert {"ops/deploy", "ops/bob-token", "carol-github"} <= set(listed)
    # A personal item of the same name wins over the team's.
    add_item(carol, "deploy", "mine")
    assert carol.ok("get", "deploy")["value"] == "mine"
    assert carol.ok("get", "ops/deploy")["value"] == team.secret

    status, code = carol.fails(
        "add", "nope", "--kind", "generic", "--secret-stdin", "--vault", "ops", input="x"
    )
    assert (status, code) == (USAGE, "team_permission")
    assert carol.fails("rm", "bob-token", "--yes", "--vault", "ops")[1] == "team_permission"
    assert carol.ok("get", "ops/bob-token")["value"] == written  # still there

    with_run = carol.zk(
        "run", "--env", "TOKEN=bob-token", "--", "sh", "-c", 'test "$TOKEN" = "$0"', written
    )
    assert with_run.returncode == 0, with_run.stderr


def test_git_credential_from_a_team_item(team: Team) -> None:
    bob = team.bob
    token = "git-" + secrets.token_urlsafe(16)
    bob.ok(
        "add",
        "forge",
        "--kind",
        "generic",
        "--url",
        "https://forge.example.test/acme",
        "--username",
        "ci-bot",
        "--secret-stdin",
        "--vault",
        "ops",
        input=token,
    )
    carol = team.carol
    done = carol.zk("git", "setup", "--global")
    assert done.returncode == 0, done.stderr
    fill = subprocess.run(
        ["git", "credential", "fill"],
        input="protocol=https\nhost=forge.example.test\npath=acme/app.git\n\n",
        env=carol.env.vars,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert fill.returncode == 0, fill.stderr
    assert f"username=ci-bot\npassword={token}\n" in fill.stdout
    assert git(carol.env, "--version").returncode == 0


def _ssh(member: Member, *args: str) -> subprocess.CompletedProcess[str]:
    sock = member.env.runtime / "ssh-agent.sock"
    return subprocess.run(
        list(args),
        env={**member.env.vars, "SSH_AUTH_SOCK": str(sock)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_team_ssh_key_is_served_by_every_members_agent(team: Team) -> None:
    """Keys in a team work with the agent: a reader's fresh agent lists the writer's key as
    TEAM/NAME before anything asked for the team, and signs with it."""
    bob, carol = team.bob, team.carol
    made = bob.ok("add", "deploy-key", "--kind", "ssh-key", "--generate", "--vault", "ops")
    public = str(made["public_key"])
    carol.restart()  # a new agent: no team opened yet
    listed = _ssh(carol, "ssh-add", "-L")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[:2] for line in listed.stdout.splitlines()] == [public.split()[:2]]
    assert listed.stdout.split()[2] == "ops/deploy-key"

    stub = carol.env.root / "team-key.pub"
    stub.write_text(public + "\n")
    message = carol.env.root / "message"
    message.write_text("signed by a team key\n")
    signed = _ssh(carol, "ssh-keygen", "-Y", "sign", "-n", "file", "-f", str(stub), str(message))
    assert signed.returncode == 0, signed.stderr
    allowed = carol.env.root / "allowed"
    allowed.write_text("ops " + public + "\n")
    with message.open() as stdin:
        checked = subprocess.run(
            [
                "ssh-keygen",
                "-Y",
                "verify",
                "-f",
                str(allowed),
                "-I",
                "ops",
                "-n",
                "file",
                "-s",
                str(message) + ".sig",
            ],
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert checked.returncode == 0, checked.stderr
    carol.env.zk("lock", check=True)
    assert _ssh(carol, "ssh-add", "-L").returncode != 0  # locked: no agent to ask
    carol.unlock()


def test_removed_member_reads_nothing_written_after(team: Team) -> None:
    alice, bob, carol = team.alice, team.bob, team.carol
    assert carol.ok("get", "ops/deploy")["value"] == team.secret
    removed = alice.ok("team", "remove", "ops", carol.email)
    assert removed["epoch"] == 2
    rotate = {r["name"]: r for r in removed["rotate"]}
    assert {"deploy", "bob-token"} <= set(rotate)
    # The remaining members still read, and write under the new key.
    after = "after-" + secrets.token_urlsafe(16)
    add_item(bob, "after", after, "--vault", "ops")
    assert alice.ok("get", "ops/after")["value"] == after
    assert bob.ok("get", "ops/deploy")["value"] == team.secret
    # Carol: no team, nothing read from it, old or new.
    assert carol.ok("team", "list")["teams"] == []
    assert carol.fails("get", "ops/after") == (NOT_FOUND, "not_found")
    assert carol.fails("get", "after") == (NOT_FOUND, "not_found")
    assert carol.fails("get", "ops/bob-token")[0] == NOT_FOUND
    members = {m["email"] for m in bob.ok("team", "members", "ops")["members"]}
    assert members == {alice.email, bob.email}
    # Across a restart the agent remembers the team and still opens it.
    bob.restart()
    assert bob.ok("get", "ops/after")["value"] == after


def test_a_demoted_writer_reads_the_vault_he_wrote_but_cannot_write(team: Team) -> None:
    alice, bob = team.alice, team.bob
    token = "last-" + secrets.token_urlsafe(16)
    add_item(bob, "last", token, "--vault", "ops")  # bob wrote the vault served now
    alice.ok("team", "role", "ops", bob.email, "reader")
    # Signed again by alice at the new head, with the role entry: it still opens for all.
    assert bob.ok("get", "ops/last")["value"] == token
    assert alice.ok("get", "ops/last")["value"] == token
    roles = {m["email"]: m["role"] for m in bob.ok("team", "members", "ops")["members"]}
    assert roles[bob.email] == "reader"
    refused = bob.fails(
        "add", "more", "--kind", "generic", "--secret-stdin", "--vault", "ops", input="x"
    )
    assert refused == (USAGE, "team_permission")
    assert alice.zk("team", "role", "ops", bob.email, "boss").returncode == USAGE


def test_invitations_declined_and_withdrawn(team: Team) -> None:
    alice, carol = team.alice, team.carol
    alice.ok("team", "create", "side")
    alice.ok("team", "invite", "side", carol.email, "--role", "reader")
    assert [i["team_name"] for i in carol.ok("team", "invitations")["received"]] == ["side"]
    declined = carol.ok("team", "decline", "side")["invitation"]
    assert declined["status"] == "declined"
    assert carol.ok("team", "invitations")["received"] == []
    assert alice.fails("team", "add", "side", carol.email, "--tofu")[1] == "not_found"

    alice.ok("team", "invite", "side", carol.email, "--role", "writer")
    sent = alice.ok("team", "invitations")["sent"]
    assert [(i["email"], i["role"]) for i in sent] == [(carol.email, "writer")]
    withdrawn = alice.ok("team", "withdraw", "side", carol.email)["invitation"]
    assert withdrawn["status"] == "withdrawn"
    assert carol.fails("team", "accept", "side") == (NOT_FOUND, "not_found")
    assert alice.ok("team", "invitations")["sent"] == []


def test_offline_the_teams_checked_before_still_answer(team: Team) -> None:
    """Last in this module: the network goes down for good."""
    bob = team.bob
    assert bob.ok("get", "ops/deploy")["value"] == team.secret  # checked while online
    team.stage.proxy.cut()
    assert bob.ok("get", "ops/deploy")["value"] == team.secret
    assert "ops/deploy" in [i["name"] for i in bob.ok("list")["items"]]
    assert bob.fails("get", "nowhere")[1] == "not_found"  # not a network error
