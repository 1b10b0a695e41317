"""A team's admin panes in real Chromium against the real server (docs/web.md, "Teams"):
its audit trail in words with paging, the export whose hash chain verifies, nothing for a
reader and the server's refusal shown to a demoted admin; and runner grants of team items
sealed in the browser to the admin's pinned runners (one read over HTTP and opened with
vault_core as a runner opens it, one a real `zkvault` runner process), never sealed to a
key the server substitutes, and refused once the admin is removed from the team. Ada owns
the team "Ops", Bob is an admin, Cy a reader. One story, run in order."""

from __future__ import annotations

import json
import re
import secrets
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser

from tests.e2e.conftest import (
    STRONG,
    App,
    account_id_of,
    api_sign_in,
    b64d,
    b64e,
    new_app,
    poll,
    request_pairing,
)
from tests.e2e.test_teams import _axe, email, open_team, open_teams
from tests.hostile.stage import CODE
from tests.native.support import Env, make_env, start_pairing
from tests.support.processes import ServerProcess
from tests.support.report import record
from vault_core import (
    RunnerKeyPair,
    Vault,
    check_team_grant_log,
    errors,
    fingerprint,
    open_team_grant,
)
from vault_core.audit_chain import verify_export
from vault_core.teams import IdentityKeys, replay_states
from vault_core.teams.session import TeamSession

TEAM = "Ops"
TOKEN = "ghp_" + secrets.token_urlsafe(27)
CYCLES = 26  # invitations made and withdrawn over HTTP: 52 events, more than a page


@dataclass
class Cast:
    ada: App
    bob: App
    cy: App
    team_id: str
    ada_auth: Any  # Ada's own session over HTTP, as another browser of hers


@dataclass
class Runner:
    keys: RunnerKeyPair
    enrolled: dict[str, Any]

    @property
    def id(self) -> uuid.UUID:
        return uuid.UUID(self.enrolled["client_id"])

    def auth(self, server: ServerProcess) -> Any:
        """A fresh access token, proved with the runner's DPoP key, as the runner gets one."""
        r = httpx.post(
            f"{server.url}/auth/token",
            json={
                "grant_type": "runner_credential",
                "credential": self.enrolled["runner_credential"],
            },
            auth=self.enrolled["dpop"].auth(),
        )
        assert r.status_code == 200, r.text
        return self.enrolled["dpop"].auth(r.json()["access_token"])


def _add_invitee(ada: App, who: App) -> None:
    row = ada.page.locator(f'#team-invitations [data-invitation="{email(who)}"]')
    row.get_by_role("button", name="Verify and add").click()
    ada.page.locator("#sn-dialog").get_by_role("button", name="Trust without comparing").click()
    ada.notice(f"Added {email(who)}")


def _invite(ada: App, who: App, role: str) -> None:
    ada.page.get_by_label("Invite by email").fill(email(who))
    ada.page.get_by_label("Role").select_option(role)
    ada.page.get_by_role("button", name="Invite", exact=True).click()
    ada.notice(f"Invited {email(who)}")


def _accept(who: App) -> None:
    open_teams(who)
    who.page.locator(f'#my-invitations [data-invitation="{TEAM}"]').get_by_role(
        "button", name="Accept"
    ).click()
    who.page.locator("#sn-dialog").get_by_role("button", name="Done").click()


@pytest.fixture(scope="module")
def cast(browser: Browser, server: ServerProcess, idp: str) -> Iterator[Cast]:
    apps = []
    try:
        for name in ("ada", "bob", "cy"):
            app = new_app(browser, server, idp)
            apps.append(app)
            app.open("/")
            app.sign_in(f"{name}-{secrets.token_hex(3)}", name=name.title())
            app.wait_engine()
            app.create_vault(STRONG)
            open_teams(app)  # publishes the identity an invitation needs
        ada, bob, cy = apps
        ada.page.get_by_role("button", name="Create a team").click()
        ada.page.get_by_label("Team name").fill(TEAM)
        ada.page.get_by_role("button", name="Create team").click()
        ada.notice(f"Created “{TEAM}”")
        team_id = ada.page.locator("#team-detail").get_attribute("data-team") or ""
        # More events than one page: Cy invited and the invitation withdrawn, over HTTP.
        _, ada_auth = api_sign_in(server, idp, ada.sub)
        base = f"{server.url}/api/teams/{team_id}/invitations"
        for _ in range(CYCLES):
            r = httpx.post(base, json={"email": email(cy), "role": "reader"}, auth=ada_auth)
            assert r.status_code == 201, r.text
            r = httpx.delete(f"{base}/{r.json()['invitation_id']}", auth=ada_auth)
            assert r.status_code in (200, 204), r.text
        _invite(ada, bob, "admin")
        _invite(ada, cy, "reader")
        _accept(bob)
        _accept(cy)
        open_teams(ada)
        open_team(ada, TEAM)
        _add_invitee(ada, bob)
        _add_invitee(ada, cy)
        yield Cast(ada, bob, cy, team_id, ada_auth)
    finally:
        for app in apps:
            assert not app.csp_violations(), app.csp_violations()
            assert not app.rec.page_errors, app.rec.page_errors
            assert not app.rec.foreign(), app.rec.foreign()
            app.context.close()


def _rows(app: App) -> list[dict[str, str]]:
    return list(
        app.page.evaluate(
            """() => [...document.querySelectorAll('#team-audit-body tr')].map((tr) => ({
                action: tr.dataset.action,
                what: tr.children[1].firstChild.textContent,
                who: tr.children[2].textContent,
                target: tr.children[3].textContent,
                outcome: tr.children[4].textContent,
            }))"""
        )
    )


def _wait_rows(app: App, action: str) -> None:
    app.page.locator(f'#team-audit-body tr[data-action="{action}"]').first.wait_for()


def test_an_owner_reads_the_audit_trail_in_words_a_page_at_a_time(cast: Cast) -> None:
    ada, bob = cast.ada, cast.bob
    open_teams(ada)
    open_team(ada, TEAM)
    ada.page.locator("#team-audit").wait_for(state="visible")
    _wait_rows(ada, "member.add")
    rows = _rows(ada)
    assert len(rows) == 50  # one page, newest first
    newest = rows[0]
    assert newest == {
        "action": "member.add",
        "what": "Added a member",
        "who": f"You ({email(ada)})",
        "target": newest["target"],
        "outcome": "Succeeded",
    }
    assert newest["target"].startswith(f"{email(cast.cy)} (seq ")
    added_bob = next(r for r in rows if r["action"] == "member.add" and email(bob) in r["target"])
    assert "role admin" in added_bob["target"] and "verified by tofu" in added_bob["target"]
    assert any(r["what"] == "Accepted an invitation" and r["who"] == email(bob) for r in rows)
    # No raw label stands in for a person the team knows.
    assert not [r for r in rows if "account:" in r["who"] + r["target"]]
    status = ada.page.locator("#team-audit-status").inner_text()
    assert "50 events loaded" in status and "Older events" in status
    ada.page.locator("#team-audit").get_by_role("button", name="Older events").click()
    _wait_rows(ada, "team.create")
    rows = _rows(ada)
    # Every event the server holds, in its order, newest first.
    r = httpx.get(f"{ada.server.url}/api/teams/{cast.team_id}/audit/export", auth=cast.ada_auth)
    held = [e["action"] for e in reversed(r.json()["events"])]
    assert [row["action"] for row in rows] == held
    total = len(held)
    assert total > 2 * CYCLES + 6
    assert rows[-1]["what"] == "Created the team" and rows[-1]["target"].startswith("The team")
    assert ada.page.locator("#team-audit-more").is_hidden()
    assert ada.page.locator("#team-audit-status").inner_text().startswith(f"{total} events")
    assert _axe(ada) == []


def test_the_export_downloads_a_chain_that_verifies(cast: Cast, tmp_path: Path) -> None:
    ada = cast.ada
    with ada.page.expect_download() as info:
        ada.page.locator("#team-audit").get_by_role("button", name="Export as JSON").click()
    path = tmp_path / "export.json"
    info.value.save_as(path)
    assert info.value.suggested_filename.startswith("zkvault-team-ops-audit-")
    ada.notice("Exported")
    document = json.loads(path.read_text())
    report = verify_export(document, [], chain=str(uuid.UUID(hex=cast.team_id)))
    assert report.consistent, report.summary()
    assert report.checked == document["head_seq"] == len(document["events"])
    # The chain is the team's: a byte changed in it no longer verifies.
    document["events"][3]["actor"] = "account:" + str(uuid.uuid4())
    assert not verify_export(document, [], chain=str(uuid.UUID(hex=cast.team_id))).consistent


def test_a_team_save_in_the_browser_anchors_the_audit_chain(cast: Cast) -> None:
    """format.md §15.9: the team vault Ada's browser saves seals the team chain's head the
    server last named; opened here with Ada's own keys, the export verifies against it."""
    ada, server, auth = cast.ada, cast.ada.server, cast.ada_auth
    ada.page.get_by_role("button", name="Add a team credential").click()
    form = ada.page.locator("#team-item-form")
    form.get_by_label("Name", exact=True).fill("anchored")
    form.get_by_label("Token").fill("glpat-" + secrets.token_urlsafe(15))
    form.get_by_role("button", name="Save to the team").click()
    ada.notice(f"Saved “anchored” to team {TEAM}")

    account = account_id_of(server, ada.sub)
    mine = httpx.get(f"{server.url}/api/vault", auth=auth).json()
    personal = Vault.open(b64d(mine["blob"]), STRONG, account_id=account)
    try:
        held = personal.identity_keys()
        assert held is not None
        keys = IdentityKeys(account, held.seed_bytes())
    finally:
        personal.lock()
    base = f"{server.url}/api/teams/{cast.team_id}"
    entries = [b64d(e) for e in httpx.get(f"{base}/log?after=0", auth=auth).json()["entries"]]
    blob = b64d(httpx.get(f"{base}/vault", auth=auth).json()["blob"])
    session = TeamSession.open(keys, entries, blob)
    try:
        anchor = session.vault.audit_anchor
    finally:
        session.vault.lock()
    assert anchor is not None, "the browser's team save sealed no audit head"
    export = httpx.get(f"{base}/audit/export", auth=auth).json()
    report = verify_export(export, [anchor], chain=str(uuid.UUID(hex=cast.team_id)))
    assert report.consistent and anchor.seq <= export["head_seq"], report.summary()


def test_a_reader_is_shown_no_audit_trail(cast: Cast) -> None:
    cy = cast.cy
    open_teams(cy)
    open_team(cy, TEAM)
    assert cy.page.locator("#team-detail").get_attribute("data-role") == "reader"
    assert cy.page.locator("#team-audit").count() == 0 or cy.page.locator("#team-audit").is_hidden()
    assert (
        cy.page.locator("#team-grants").count() == 0 or cy.page.locator("#team-grants").is_hidden()
    )
    asked = [url for url, _ in cy.rec.requests if "/api/teams/" in url]
    assert asked and not [url for url in asked if "/audit" in url or "/grants" in url]


def test_a_demoted_admin_is_told_the_server_refused(cast: Cast) -> None:
    """Cy, made admin, sees the trail; demoted from another browser, her page still offers
    it: the server's 403 is said in words, the table emptied, nothing crashes."""
    ada, cy = cast.ada, cast.cy
    ada.page.get_by_label(f"Role of {email(cy)}").select_option("admin")
    ada.notice(f"{email(cy)} is now Admin")
    open_teams(cy)
    open_team(cy, TEAM)
    _wait_rows(cy, "member.role")
    ada.page.get_by_label(f"Role of {email(cy)}").select_option("reader")
    ada.notice(f"{email(cy)} is now Reader")
    cy.page.locator("#team-audit").get_by_role("button", name="Export as JSON").click()
    said = cy.error("admin role")
    assert said.startswith("Team audit trail:")
    assert cy.page.locator("#error").get_attribute("data-code") == "team_role"
    assert "only admins and owners" in cy.page.locator("#team-audit-status").inner_text()
    assert cy.page.locator("#team-audit-body tr").count() == 0
    open_teams(cy)
    open_team(cy, TEAM)
    assert cy.page.locator("#team-audit").is_hidden()


def _approve(app: App, code: str, name: str) -> None:
    """Approve a runner's pairing in this browser, which pins its key in the vault."""
    app.go("Approve a pairing")
    app.page.get_by_label("Pairing code").fill(code)
    app.page.get_by_role("button", name="Look up").click()
    app.page.wait_for_selector("#pair-details:not([hidden])")
    app.page.get_by_role("button", name="Approve", exact=True).click()
    app.notice(f"Approved “{name}”")


def _enrol_runner(app: App, name: str) -> Runner:
    """A runner enrolled over HTTP as the CLI enrols one, approved in this browser."""
    keys = RunnerKeyPair.generate()
    pairing = request_pairing(app.server, "runner", name, keys.public_key)
    _approve(app, pairing["code"], name)
    enrolled = poll(app.server, pairing)
    assert enrolled["status"] == "approved", enrolled
    return Runner(keys, enrolled)


def _team_grants(server: ServerProcess, runner: Runner) -> list[dict[str, Any]]:
    r = httpx.get(f"{server.url}/api/runner/team-grants", auth=runner.auth(server))
    assert r.status_code == 200, r.text
    return list(r.json())


@pytest.fixture(scope="module")
def granted(cast: Cast) -> Runner:
    """Ada shares "deploy"; Bob enrols a runner and grants it "deploy" from the team view."""
    ada, bob = cast.ada, cast.bob
    ada.page.get_by_role("button", name="Add a team credential").click()
    form = ada.page.locator("#team-item-form")
    form.get_by_label("Name", exact=True).fill("deploy")
    form.get_by_label("Host or endpoint URL").fill("https://github.com")
    form.get_by_label("Token").fill(TOKEN)
    form.get_by_role("button", name="Save to the team").click()
    ada.notice(f"Saved “deploy” to team {TEAM}")
    runner = _enrol_runner(bob, "team-ci")
    open_teams(bob)
    open_team(bob, TEAM)
    pane = bob.page.locator("#team-grants")
    pane.wait_for(state="visible")
    pane.get_by_label("Runner (yours, approved in this vault)").select_option(label="team-ci")
    pane.get_by_role("checkbox", name="deploy").check()
    pane.get_by_role("button", name="Grant", exact=True).click()
    bob.notice(f"Granted “team-ci” 1 credential of team {TEAM}")
    return runner


def test_an_admin_grants_a_runner_team_items_sealed_to_its_pinned_key(
    cast: Cast, granted: Runner
) -> None:
    ada, bob, server = cast.ada, cast.bob, cast.ada.server
    row = bob.page.locator(f'#team-grants-list [data-grant-runner="{granted.id}"]')
    assert re.search(r"Granted by you · revision \d+", row.inner_text())
    assert row.get_by_role("button", name="Remove the grant of team-ci").is_visible()
    assert _axe(bob) == []
    # As the runner reads it: sealed to its key, signed with Bob's grant key, at the head
    # of a log that shows Bob an admin.
    grants = _team_grants(server, granted)
    assert [g["team_id"] for g in grants] == [cast.team_id]
    team = uuid.UUID(hex=cast.team_id)
    grant = open_team_grant(
        b64d(grants[0]["blob"]),
        keypair=granted.keys,
        account_id=uuid.UUID(granted.enrolled["account_id"]),
        runner_id=granted.id,
        team_id=team,
        owner_verify_key=b64d(granted.enrolled["grant_public_key"]),
    )
    assert [(g.item.name, g.item.secret) for g in grant.items] == [("deploy", TOKEN)]
    r = httpx.get(f"{server.url}/api/teams/{team}/log?after=0", auth=granted.auth(server))
    assert r.status_code == 200, r.text
    check_team_grant_log(grant, replay_states(b64d(e) for e in r.json()["entries"]))
    # The owner sees the grant with its grantor, but cannot remove Bob's.
    open_teams(ada)
    open_team(ada, TEAM)
    theirs = ada.page.locator(f'#team-grants-list [data-grant-runner="{granted.id}"]')
    assert f"A runner of {email(bob)}" in theirs.inner_text()
    assert f"Granted by {email(bob)}" in theirs.inner_text()
    assert theirs.get_by_role("button").count() == 0
    ada.page.locator('#team-audit-body tr[data-action="team-grant.write"]').wait_for()
    sealed = _rows(ada)[0]
    assert sealed["what"] == "Sealed a runner's grant of team credentials"
    assert sealed["who"] == email(bob) and sealed["target"].startswith(
        "A runner (not one of yours)"
    )


def _reopen_grants(app: App) -> Any:
    open_teams(app)
    open_team(app, TEAM)
    pane = app.page.locator("#team-grants")
    pane.locator("#team-grants-list [data-grant-runner]").first.wait_for()
    return pane


def test_the_server_cannot_get_a_team_grant_sealed_to_another_key(
    cast: Cast, granted: Runner
) -> None:
    """The server lies about Bob's runners: it lists another key for the pinned runner (the
    seal is refused, nothing is uploaded), and a runner no vault of his pinned (it is not
    offered at all)."""
    bob, server = cast.bob, cast.bob.server
    before = _team_grants(server, granted)
    attacker = RunnerKeyPair.generate()
    planted = uuid.uuid4()
    with sqlite3.connect(server.database) as db:
        db.execute(
            "UPDATE clients SET public_key = ? WHERE id = ?",
            (b64e(attacker.public_key), granted.id.hex),
        )
        db.execute(
            "INSERT INTO clients (id, account_id, kind, name, public_key, created_at)"
            " SELECT ?, account_id, 'runner', 'planted', ?, created_at FROM clients WHERE id = ?",
            (planted.hex, b64e(attacker.public_key), granted.id.hex),
        )
    try:
        pane = _reopen_grants(bob)
        offered = pane.locator("#team-grant-runner option").all_text_contents()
        pane.get_by_label("Runner (yours, approved in this vault)").select_option(label="team-ci")
        pane.get_by_role("checkbox", name="deploy").check()
        pane.get_by_role("button", name="Grant", exact=True).click()
        said = bob.error("the server presented a different key for this runner")
        code = bob.page.locator("#error").get_attribute("data-code")
        after = _team_grants(server, granted)
    finally:
        with sqlite3.connect(server.database) as db:
            db.execute(
                "UPDATE clients SET public_key = ? WHERE id = ?",
                (b64e(granted.keys.public_key), granted.id.hex),
            )
            db.execute("DELETE FROM clients WHERE id = ?", (planted.hex,))
    refusals = [code == "key_mismatch" and after == before, offered == ["team-ci"]]
    record(
        "hostile server (keys)",
        "runner key substituted or runner planted at a team grant",
        tried=len(refusals),
        refused=sum(refusals),
    )
    assert all(refusals), (code, offered)
    assert said.startswith("Runner grant:")


@dataclass
class RealRunner:
    env: Env
    credential: str

    def get(self, name: str) -> tuple[str, str]:
        """`zkvault get NAME --json` in the runner process: ("ok", value) or (code, "")."""
        done = self.env.zk(
            "get",
            name,
            "--json",
            extra={"ZKVAULT_RUNNER_CREDENTIAL": self.credential},
            timeout=60,
        )
        reply = json.loads(done.stdout)
        return ("ok", str(reply["value"])) if reply["ok"] else (str(reply["error"]), "")


@pytest.fixture(scope="module")
def real_runner(cast: Cast, granted: Runner) -> Iterator[RealRunner]:
    """The real runner (`zkvault runner enroll`, then `zkvault get` with its credential),
    approved in Bob's browser and granted "deploy" from the team view."""
    bob = cast.bob
    owner = fingerprint("owner-grant", b64d(granted.enrolled["grant_public_key"]))
    env = make_env()
    try:
        proc, code, _ = start_pairing(
            env,
            *("runner", "enroll", "--name", "team-cli", "--server", bob.server.url),
            *("--owner-fingerprint", owner),
            show=CODE,
        )
        _approve(bob, code, "team-cli")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        runner = RealRunner(env, out.strip())
        assert runner.get("deploy")[0] != "ok"  # nothing granted yet
        pane = _reopen_grants(bob)
        pane.get_by_label("Runner (yours, approved in this vault)").select_option(label="team-cli")
        pane.get_by_role("checkbox", name="deploy").check()
        pane.get_by_role("button", name="Grant", exact=True).click()
        bob.notice(f"Granted “team-cli” 1 credential of team {TEAM}")
        yield runner
    finally:
        shutil.rmtree(env.root, ignore_errors=True)


def test_a_real_runner_process_reads_the_team_item_bob_granted(real_runner: RealRunner) -> None:
    assert real_runner.get("deploy") == ("ok", TOKEN)
    assert real_runner.get(f"{TEAM}/deploy") == ("ok", TOKEN)


def test_an_admin_removes_a_grant_of_theirs_and_grants_again(
    cast: Cast, real_runner: RealRunner
) -> None:
    bob = cast.bob
    pane = _reopen_grants(bob)
    pane.get_by_role("button", name="Remove the grant of team-cli").click()
    bob.confirm_dialog("Remove grant")
    bob.notice("Removed the grant of “team-cli”")
    assert pane.get_by_role("button", name="Remove the grant of team-cli").count() == 0
    assert real_runner.get("deploy")[0] == "no_grant"
    pane.get_by_label("Runner (yours, approved in this vault)").select_option(label="team-cli")
    pane.get_by_role("checkbox", name="deploy").check()
    pane.get_by_role("button", name="Grant", exact=True).click()
    bob.notice(f"Granted “team-cli” 1 credential of team {TEAM}")
    assert real_runner.get("deploy") == ("ok", TOKEN)


def test_the_runner_is_refused_once_its_grantor_is_removed(
    cast: Cast, granted: Runner, real_runner: RealRunner
) -> None:
    ada, bob, server = cast.ada, cast.bob, cast.ada.server
    assert real_runner.get("deploy") == ("ok", TOKEN)
    first = _team_grants(server, granted)[0]
    ada.page.locator(f'#team-members [data-member="{email(bob)}"]').get_by_role(
        "button", name="Remove"
    ).click()
    ada.confirm_dialog("Remove member")
    ada.notice(f"Removed {email(bob)}")
    # The server ended the grant with the removal: the runner's next read finds none, and
    # the team's log is closed to it.
    assert _team_grants(server, granted) == []
    refused, value = real_runner.get("deploy")
    assert refused in ("no_grant", "grant_ended") and value == "", refused
    team = uuid.UUID(hex=cast.team_id)
    r = httpx.get(f"{server.url}/api/teams/{team}/log?after=0", auth=granted.auth(server))
    assert r.status_code == 404 and r.json()["code"] == "no_such_team", r.text
    # A runner that kept the old grant refuses it by itself against the log as it is now.
    grant = open_team_grant(
        b64d(first["blob"]),
        keypair=granted.keys,
        account_id=uuid.UUID(granted.enrolled["account_id"]),
        runner_id=granted.id,
        team_id=team,
        owner_verify_key=b64d(granted.enrolled["grant_public_key"]),
    )
    r = httpx.get(f"{server.url}/api/teams/{team}/log?after=0", auth=cast.ada_auth)
    with pytest.raises(errors.TeamPermissionError):
        check_team_grant_log(grant, replay_states(b64d(e) for e in r.json()["entries"]))
    # The audit trail says why, in words.
    open_teams(ada)
    open_team(ada, TEAM)
    ada.page.locator('#team-audit-body tr[data-action="team-grant.revoke"]').first.wait_for()
    assert (
        "No runner has credentials of this team."
        in ada.page.locator("#team-grants-list").inner_text()
    )
    ended = [r for r in _rows(ada) if r["action"] == "team-grant.revoke"]
    assert len(ended) == 2  # the HTTP runner's and the real runner's
    # Bob, no longer a member, is still named by the email the verified log gave him.
    assert any(r["action"] == "team-grant.delete" and r["who"] == email(bob) for r in _rows(ada))
    for row in ended:
        assert row["what"] == "Ended a runner's grant: its grantor is no longer an admin"
        assert row["who"] == f"You ({email(ada)})"
