"""Runner grants of team items (format.md §15.8, docs/teams.md "Runners"), through the real
CLI, agents and a real runner process on the real server, behind the proxy that lies when
asked: alice (an owner, then removed) grants her runner team items; the runner reads them
with `get`, `run` and git's helper; bob, a writer, cannot grant; an older grant, a log
shorter than the runner replayed, a grant relabelled to another team, and a grant served
after alice's removal are each refused by the runner."""

from __future__ import annotations

import json
import secrets
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.hostile import lies
from tests.hostile.stage import CODE, Stage, decode_credential, pair_laptop, person_with_vault
from tests.native.support import Env, make_env, start_pairing
from tests.native.teams_stage import Member, add_item, leave_all, member, team_stage
from tests.support.httpproxy import Answer, Lie, Request
from vault_core import RunnerKeyPair, fingerprint

pytestmark = pytest.mark.slow

GRANTS = "/api/runner/team-grants"


@dataclass
class Runner:
    env: Env
    credential: str
    id: str

    def zk(self, *args: str, input: str | None = None) -> Any:
        return self.env.zk(
            *args, input=input, extra={"ZKVAULT_RUNNER_CREDENTIAL": self.credential}, timeout=60
        )

    def get(self, name: str) -> tuple[str, str]:
        """("ok", the value) or (the error code, "")."""
        reply = json.loads(self.zk("get", name, "--json").stdout)
        return ("ok", str(reply["value"])) if reply["ok"] else (str(reply["error"]), "")


@dataclass
class Scene:
    stage: Stage
    alice: Member  # owner of ops and infra, the runner's owner
    bob: Member  # writer of ops
    carol: Member  # owner of ops
    runner: Runner
    secret: str  # ops/deploy
    other: str  # infra/deploy-infra


def enrol_and_pin(stage: Stage) -> tuple[Member, Runner]:
    """Alice's vault, her runner enrolled and pinned in it (as the web app pins it at
    approval), then her laptop paired: it sees the pin."""
    person, vault = person_with_vault(stage, "alice")
    env = make_env()
    proc, code, _ = start_pairing(
        env,
        *("runner", "enroll", "--name", "ci-team", "--server", stage.url),
        *("--owner-fingerprint", fingerprint("owner-grant", vault.owner_verify_key)),
        show=CODE,
    )
    person.approve(code, grant_public_key=lies.b64e(vault.owner_verify_key))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    credential = out.strip()
    body = decode_credential(credential)
    pins = vault.runner_pins()
    pins.pin(body["r"], RunnerKeyPair(lies.b64d(body["k"])).public_key, "ci-team")
    vault.set_runner_pins(pins)
    person.save(vault)
    alice = Member(person, pair_laptop(stage, person))
    alice.unlock()
    return alice, Runner(env, credential, body["r"])


@pytest.fixture(scope="module")
def scene() -> Iterator[Scene]:
    with team_stage() as stage:
        alice, runner = enrol_and_pin(stage)
        bob, carol = member(stage, "bob"), member(stage, "carol")
        people = [alice, bob, carol]
        try:
            alice.ok("team", "create", "ops")
            alice.ok("team", "create", "infra")
            secret, other = ("team-" + secrets.token_urlsafe(16) for _ in "ab")
            add_item(alice, "deploy", secret, "--vault", "ops")
            add_item(alice, "deploy-infra", other, "--vault", "infra")
            forge = ("--url", "https://forge.example.test/acme", "--username", "ci-bot")
            add_item(alice, "forge", secret + "-git", *forge, "--vault", "ops")
            for someone, role in ((bob, "writer"), (carol, "owner")):
                alice.ok("team", "invite", "ops", someone.email, "--role", role)
                someone.ok("team", "accept", "ops")
                alice.ok("team", "add", "ops", someone.email, "--tofu")
            yield Scene(stage, alice, bob, carol, runner, secret, other)
        finally:
            leave_all(people)
            shutil.rmtree(runner.env.root, ignore_errors=True)


def _team_id(someone: Member, name: str) -> str:
    return str(next(t["team_id"] for t in someone.ok("team", "list")["teams"] if t["name"] == name))


def test_a_granted_team_item_reaches_the_runner(scene: Scene) -> None:
    alice, runner = scene.alice, scene.runner
    assert runner.get("deploy")[0] == "no_grant"  # nothing granted yet
    before = int(time.time())
    done = alice.ok("team", "grant", "ops", "ci-team", "deploy", "forge")
    assert done["runner_id"] == runner.id
    assert done["revision"] >= before  # never below the grantor's clock (docs/teams.md)
    assert done["items"] == ["deploy", "forge"]
    assert runner.get("deploy") == ("ok", scene.secret)
    assert runner.get("ops/deploy") == ("ok", scene.secret)
    ran = runner.zk(
        "run", "--env", "T=ops/deploy", "--", "sh", "-c", 'test "$T" = "$0"', scene.secret
    )
    assert ran.returncode == 0, ran.stderr
    asked = "protocol=https\nhost=forge.example.test\npath=acme/app.git\n\n"
    filled = runner.zk("git-credential", "get", input=asked)
    assert filled.returncode == 0, filled.stderr
    assert f"username=ci-bot\npassword={scene.secret}-git\n" in filled.stdout
    listed = alice.ok("team", "grants", "ops")["grants"]
    assert [(g["runner"], g["grantor"], g["revision"]) for g in listed] == [
        ("ci-team", alice.email, done["revision"])
    ]
    assert alice.fails("team", "grant", "ops", "no-such-runner", "deploy")[1] == "key_not_pinned"


def test_a_writer_cannot_grant(scene: Scene) -> None:
    bob, runner = scene.bob, scene.runner
    r = bob.person.call(
        "PUT",
        f"/api/teams/{_team_id(bob, 'ops')}/grants/{runner.id}",
        json={"revision": 9, "blob": lies.b64e(b"x" * 64)},
    )
    assert r.status_code == 403, r.text
    assert runner.get("deploy") == ("ok", scene.secret)  # alice's grant is untouched


def _put_blobs(stage: Stage, team_id: str) -> list[str]:
    """Every grant blob alice's laptop stored for this team, oldest first (what the server
    holds, and so may replay)."""
    return [
        str(x.request.json()["blob"])
        for x in stage.proxy.exchanges
        if x.request.method == "PUT" and x.request.path.startswith(f"/api/teams/{team_id}/grants/")
    ]


def test_an_older_team_grant_is_refused(scene: Scene) -> None:
    alice, runner, stage = scene.alice, scene.runner, scene.stage
    ops = _team_id(alice, "ops").replace("-", "")
    earlier = alice.ok("team", "grants", "ops")["grants"][0]["revision"]
    assert alice.ok("team", "grant", "ops", "ci-team", "deploy")["revision"] > earlier
    assert runner.get("deploy") == ("ok", scene.secret)  # the second opened: its floor
    first = _put_blobs(stage, ops)[0]
    older = lies.json_body(
        "the first team grant again",
        "GET",
        GRANTS,
        lambda grants: [{**g, "blob": first, "revision": 1} for g in grants],
    )
    with stage.proxy.telling(older):
        assert runner.get("deploy")[0] == "rollback"
    assert runner.get("deploy") == ("ok", scene.secret)
    # The log cut before its last entry: shorter than the one the runner replayed last.
    shorter = lies.json_body(
        "the team's log without its last entry",
        "GET",
        rf"/api/teams/({uuid.UUID(ops)}|{ops})/log",
        lambda log: {**log, "entries": log["entries"][:-1], "head_seq": log["head_seq"] - 1},
    )
    with stage.proxy.telling(shorter):
        assert runner.get("deploy")[0] == "team_log_rollback"
    assert runner.get("deploy") == ("ok", scene.secret)


def test_a_grant_relabelled_to_another_team_is_refused(scene: Scene) -> None:
    alice, runner, stage = scene.alice, scene.runner, scene.stage
    alice.ok("team", "grant", "infra", "ci-team", "deploy-infra")
    assert runner.get("infra/deploy-infra") == ("ok", scene.other)

    def swap(grants: list[dict[str, Any]]) -> list[dict[str, Any]]:
        assert len(grants) == 2
        a, b = grants
        return [{**a, "team_id": b["team_id"]}, {**b, "team_id": a["team_id"]}]

    with stage.proxy.telling(lies.json_body("team ids swapped", "GET", GRANTS, swap)):
        assert runner.get("deploy")[0] == "grant_binding"


def test_the_grant_ends_with_the_grantors_role_even_if_the_server_lies(scene: Scene) -> None:
    alice, carol, runner, stage = scene.alice, scene.carol, scene.runner, scene.stage
    ops = _team_id(carol, "ops")
    before = runner.zk("status", "--json")
    assert json.loads(before.stdout)["teams"] == ["infra", "ops"], before.stdout
    served = next(
        x.answer.json() for x in reversed(stage.proxy.exchanges) if x.request.path == GRANTS
    )
    carol.ok("team", "remove", "ops", alice.email)
    # The server deleted the grant with the removal: the runner has only infra's now.
    assert runner.get("ops/deploy")[0] == "not_granted"
    assert runner.get("infra/deploy-infra") == ("ok", scene.other)
    assert alice.fails("team", "grant", "ops", "ci-team", "deploy")[1] in (
        "not_found",
        "team_permission",
    )

    # A lying server keeps serving alice's grant, and the log the runner may no longer read
    # (it serves it as it is: genuinely signed, showing alice removed).
    log = carol.person.call("GET", f"/api/teams/{ops}/log")
    assert log.status_code == 200, log.text

    def old_grants(grants: list[dict[str, Any]]) -> Any:
        return served

    def the_log(request: Request, answer: Answer) -> None:
        answer.status = 200
        answer.set_json(log.json())

    ops_hex = uuid.UUID(ops)
    path = rf"/api/teams/({ops_hex}|{ops_hex.hex})/log"
    with stage.proxy.telling(
        lies.json_body("alice's grant kept", "GET", GRANTS, old_grants),
        Lie("the log shown to the runner", "GET", path, the_log),
    ):
        assert runner.get("ops/deploy")[0] == "grant_ended"
        assert runner.get("deploy")[0] == "grant_ended"
        assert runner.get("infra/deploy-infra") == ("ok", scene.other)
    alice.ok("team", "grant", "infra", "ci-team", "deploy-infra")  # a second revision
    assert runner.get("infra/deploy-infra") == ("ok", scene.other)  # opened: the floor
    alice.ok("team", "ungrant", "infra", "ci-team")
    assert alice.ok("team", "grants", "infra")["grants"] == []
    assert runner.get("infra/deploy-infra")[0] == "no_grant"  # nothing granted any more
    # Granted again after the server forgot the old row: still above what the runner opened.
    alice.ok("team", "grant", "infra", "ci-team", "deploy-infra")
    assert runner.get("infra/deploy-infra") == ("ok", scene.other)
