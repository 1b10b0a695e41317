"""Teams in real Chromium, three people in three browser profiles against the real server:
create a team, invite, compare safety numbers (and once trust on first use, recorded as
such), share a credential, a reader who cannot write, a removal that rotates the key and
lists what to rotate at the provider, the others still reading the re-encrypted vault.
One story, run in order (docs/web.md, "Teams")."""

from __future__ import annotations

import re
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from tests.e2e.conftest import STRONG, App, new_app
from tests.e2e.test_screens import AXE
from tests.e2e.test_ssh_keys import KEY_BODY, _key_lines, _keygen_fingerprint, _page_holds
from tests.support.processes import ServerProcess

SAFETY = re.compile(r"^[A-Z2-7]{4}(-[A-Z2-7]{4}){5}$")
TOKEN = "ghp_" + secrets.token_urlsafe(27)


@dataclass
class People:
    ada: App
    bob: App
    cy: App


@pytest.fixture(scope="module")
def people(browser: Browser, server: ServerProcess, idp: str) -> Iterator[People]:
    apps = []
    try:
        for name in ("ada", "bob", "cy"):
            app = new_app(browser, server, idp)
            apps.append(app)
            app.open("/")
            app.sign_in(f"{name}-{secrets.token_hex(3)}", name=name.title())
            app.wait_engine()
            app.create_vault(STRONG)
        yield People(*apps)
    finally:
        for app in apps:
            assert not app.csp_violations(), app.csp_violations()
            assert not app.rec.page_errors, app.rec.page_errors
            assert not app.rec.foreign(), app.rec.foreign()
            app.context.close()


def email(app: App) -> str:
    return f"{app.sub}@example.test"


def open_teams(app: App) -> str:
    """The Teams section, once it has read the teams again from the server; returns this
    person's safety number as their screen shows it."""
    app.go("Teams")
    app.visible("teams")
    app.page.wait_for_function(
        "re => new RegExp(re).test(document.getElementById('my-safety-number').textContent)",
        arg=SAFETY.pattern,
    )
    app.page.wait_for_selector("#view-teams[data-loaded]", state="attached", timeout=60_000)
    return app.page.locator("#my-safety-number").text_content() or ""


def open_team(app: App, name: str) -> None:
    app.page.locator(f'#teams-list [data-team="{name}"]').get_by_role("button", name="Open").click()
    app.page.wait_for_selector("#team-detail:not([hidden])")
    app.page.wait_for_function(
        "n => document.getElementById('team-name').textContent === n", arg=name
    )


def member_row(app: App, who: App) -> str:
    return app.page.locator(f'#team-members [data-member="{email(who)}"]').inner_text()


def _axe(app: App) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is. Loaded through the DevTools protocol,
    which the page's CSP does not govern (a script tag would be a violation itself)."""
    if not app.page.evaluate("typeof window.axe === 'object'"):
        cdp = app.context.new_cdp_session(app.page)
        cdp.send("Runtime.evaluate", {"expression": AXE.read_text(encoding="utf-8")})
        cdp.detach()
    found = app.page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:5]} for v in found]


def _public_half(app: App, name: str) -> tuple[str, str]:
    """A team ssh-key row's public key line and fingerprint, once the worker filled them."""
    row = app.page.locator(f'#team-items [data-team-item="{name}"] .team-ssh')
    row.locator(".fingerprint", has_text="SHA256:").wait_for()
    return (
        row.locator(".public-key").text_content() or "",
        row.locator(".fingerprint").text_content() or "",
    )


def test_create_invite_compare_and_add(people: People) -> None:
    ada, bob, cy = people.ada, people.bob, people.cy
    ada_number = open_teams(ada)
    bob_number = open_teams(bob)
    open_teams(cy)
    assert ada_number != bob_number

    ada.page.get_by_role("button", name="Create a team").click()
    ada.page.get_by_label("Team name").fill("Platform")
    ada.page.get_by_role("button", name="Create team").click()
    ada.notice("Created “Platform”")
    assert "Owner" in ada.page.locator("#team-facts").inner_text()

    for who, role in ((bob, "writer"), (cy, "reader")):
        ada.page.get_by_label("Invite by email").fill(email(who))
        ada.page.get_by_label("Role").select_option(role)
        ada.page.get_by_role("button", name="Invite", exact=True).click()
        ada.notice(f"Invited {email(who)}")

    # Each invitee accepts and is shown their own number to read out, and the inviter's.
    for who in (bob, cy):
        open_teams(who)
        invitation = who.page.locator('#my-invitations [data-invitation="Platform"]')
        invitation.get_by_role("button", name="Accept").click()
        dialog = who.page.locator("#sn-dialog")
        dialog.wait_for(state="visible")
        assert dialog.locator("#sn-mine").inner_text() == (
            who.page.locator("#my-safety-number").inner_text()
        )
        assert dialog.locator("#sn-theirs").inner_text() == ada_number
        dialog.get_by_role("button", name="Done").click()

    # Ada adds Bob after he read his number to her (typed as heard: lower case, spaces)...
    open_teams(ada)
    open_team(ada, "Platform")
    row = ada.page.locator(f'#team-invitations [data-invitation="{email(bob)}"]')
    row.get_by_role("button", name="Verify and add").click()
    dialog = ada.page.locator("#sn-dialog")
    dialog.wait_for(state="visible")
    assert dialog.locator("#sn-theirs").inner_text() == bob_number
    assert dialog.locator("#sn-mine").inner_text() == ada_number
    dialog.get_by_label("The safety number they read to you").fill(
        bob_number.lower().replace("-", " ")
    )
    dialog.get_by_role("button", name="Numbers match").click()
    ada.notice(f"Added {email(bob)} as Writer")
    # ... and Cy on first use, which the log and her screen record as such.
    row = ada.page.locator(f'#team-invitations [data-invitation="{email(cy)}"]')
    row.get_by_role("button", name="Verify and add").click()
    dialog.get_by_role("button", name="Trust without comparing").click()
    ada.notice(f"Added {email(cy)} as Reader")

    assert "safety numbers compared by" in member_row(ada, bob)
    assert "trusted on first use by" in member_row(ada, cy)
    assert SAFETY.match(
        ada.page.locator(f'#team-members [data-member="{email(bob)}"] td.safety').inner_text()
    )
    assert "No open invitation" in ada.page.locator("#team-invitations").inner_text()


def test_share_a_credential_and_a_reader_cannot_write(people: People) -> None:
    ada, bob, cy = people.ada, people.bob, people.cy
    ada.page.get_by_role("button", name="Add a team credential").click()
    form = ada.page.locator("#team-item-form")
    form.get_by_label("Name", exact=True).fill("deploy")
    form.get_by_label("Host or endpoint URL").fill("https://github.com")
    form.get_by_label("Token").fill(TOKEN)
    form.get_by_role("button", name="Save to the team").click()
    ada.notice("Saved “deploy” to team Platform")

    open_teams(bob)
    open_team(bob, "Platform")
    row = bob.page.locator('#team-items [data-team-item="deploy"]')
    row.get_by_role("button", name="Show").click()
    bob.page.wait_for_function(
        "t => document.querySelector('#team-items [data-team-item=\"deploy\"] .secret')"
        ".textContent === t",
        arg=TOKEN,
    )
    # A writer writes.
    bob.page.get_by_role("button", name="Add a team credential").click()
    form = bob.page.locator("#team-item-form")
    form.get_by_label("Name", exact=True).fill("npm")
    form.get_by_label("Kind").select_option("generic")
    form.get_by_label("Token").fill("npm_" + secrets.token_urlsafe(20))
    form.get_by_role("button", name="Save to the team").click()
    bob.notice("Saved “npm” to team Platform")

    # Team items beside the personal ones, labelled with their team.
    bob.go("Credentials")
    labelled = bob.page.locator('#team-credentials [data-team-item="deploy"]')
    labelled.wait_for()
    assert "Team: Platform" in labelled.inner_text()

    # A reader reads, and is offered nothing to write with.
    open_teams(cy)
    open_team(cy, "Platform")
    cy.page.locator('#team-items [data-team-item="npm"]').wait_for()
    assert cy.page.locator("#team-detail").get_attribute("data-role") == "reader"
    assert cy.page.locator("#team-item-new").is_hidden()
    assert cy.page.locator("#team-items").get_by_role("button", name="Edit").count() == 0
    assert cy.page.locator("#team-items").get_by_role("button", name="Remove").count() == 0


def test_a_writer_adds_team_ssh_keys_generated_or_pasted_in_the_worker(
    people: People, tmp_path: Path
) -> None:
    """Bob generates one key and pastes another: each row shows the public key and the
    fingerprint ssh-keygen computes for it, to Cy too; the private key leaves Bob's
    browser only inside the sealed team vault, and shows only on Show."""
    bob, cy = people.bob, people.cy
    open_teams(bob)
    open_team(bob, "Platform")
    bob.page.get_by_role("button", name="Add a team credential").click()
    form = bob.page.locator("#team-item-form")
    form.get_by_label("Kind").select_option("ssh-key")
    assert not form.get_by_label("Token").is_visible()
    assert form.get_by_label("Generate a new Ed25519 key").is_checked()
    assert not form.get_by_label("Keep the stored key").is_visible()
    form.get_by_label("Name", exact=True).fill("deploy-key")
    form.get_by_label("Host or endpoint URL").fill("github.com")
    assert _axe(bob) == []
    form.get_by_role("button", name="Save to the team").click()
    bob.notice("Saved “deploy-key” to team Platform")
    generated = _public_half(bob, "deploy-key")
    assert generated[0].startswith("ssh-ed25519 ") and generated[0].endswith(" deploy-key")
    assert _keygen_fingerprint(generated[0], tmp_path) == generated[1]

    key = tmp_path / "pasted"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops@test", "-f", str(key)],
        check=True,
    )
    private = key.read_text()
    public_file = Path(f"{key}.pub").read_text().strip()
    bob.page.get_by_role("button", name="Add a team credential").click()
    form.get_by_label("Kind").select_option("ssh-key")
    form.get_by_label("Name", exact=True).fill("ops-key")
    form.get_by_label("Paste a private key").check()
    form.get_by_label("OpenSSH private key").fill(private)
    check = bob.page.locator("#team-item-ssh-check")
    check.get_by_text(_keygen_fingerprint(public_file, tmp_path)).wait_for()  # read in the worker
    form.get_by_role("button", name="Save to the team").click()
    bob.notice("Saved “ops-key” to team Platform")
    assert _public_half(bob, "ops-key") == (
        public_file,
        _keygen_fingerprint(public_file, tmp_path),
    )
    # No private key byte in any request body (the team vault is sealed), nor on the page.
    for line in _key_lines(private):
        assert not any(line.encode() in body for body in bob.rec.bodies)
        assert not _page_holds(bob, line)
    assert not _page_holds(bob, KEY_BODY)

    # Cy, a reader, sees the same public halves; the private key only on Show.
    open_teams(cy)
    open_team(cy, "Platform")
    assert _public_half(cy, "deploy-key") == generated
    assert not _page_holds(cy, KEY_BODY)
    row = cy.page.locator('#team-items [data-team-item="ops-key"]')
    row.get_by_role("button", name="Show the private key of ops-key").click()
    cy.page.wait_for_function(
        "k => document.querySelector('#team-items [data-team-item=\"ops-key\"] .secret')"
        ".textContent.trim() === k",
        arg=private.strip(),
    )
    row.get_by_role("button", name="Copy public key of ops-key").click()
    row.get_by_text("Public key copied").wait_for()
    assert cy.page.evaluate("navigator.clipboard.readText()") == public_file
    assert _axe(cy) == []


def test_remove_a_member_and_the_rest_still_read(people: People) -> None:
    ada, bob, cy = people.ada, people.bob, people.cy
    # Ada's page still shows the team as she last saved it, before Bob's "npm": her removal
    # meets a newer vault on the server, and is made again on top of it.
    assert ada.page.locator('#team-items [data-team-item="npm"]').count() == 0
    ada.page.locator(f'#team-members [data-member="{email(bob)}"]').get_by_role(
        "button", name="Remove"
    ).click()
    ada.confirm_dialog("Remove member")
    ada.notice(f"Removed {email(bob)}; the team has a new key")
    exposed = ada.page.locator("#team-exposed")
    assert exposed.is_visible()
    link = exposed.locator('[data-exposed="deploy"] a')
    assert link.get_attribute("href") == "https://github.com/settings/tokens"
    assert exposed.locator('[data-exposed="npm"]').count() == 1
    assert "key epoch 2" in ada.page.locator("#team-facts").inner_text()
    assert ada.page.locator(f'#team-members [data-member="{email(bob)}"]').count() == 0

    # Cy opens the rotated vault (a new epoch's key sealed to her) and reads it.
    open_teams(cy)
    open_team(cy, "Platform")
    assert "key epoch 2" in cy.page.locator("#team-facts").inner_text()
    cy.page.locator('#team-items [data-team-item="deploy"]').get_by_role(
        "button", name="Show"
    ).click()
    cy.page.wait_for_function(
        "t => document.querySelector('#team-items [data-team-item=\"deploy\"] .secret')"
        ".textContent === t",
        arg=TOKEN,
    )

    # Bob's browser no longer lists the team.
    open_teams(bob)
    bob.page.wait_for_function("() => !document.querySelector('#teams-list [data-team]')")


def test_a_role_change_and_leaving(people: People) -> None:
    ada, cy = people.ada, people.cy
    open_teams(ada)
    open_team(ada, "Platform")
    ada.page.get_by_label(f"Role of {email(cy)}").select_option("writer")
    ada.notice(f"{email(cy)} is now Writer")
    open_teams(cy)
    open_team(cy, "Platform")
    assert cy.page.locator("#team-detail").get_attribute("data-role") == "writer"
    assert cy.page.locator("#team-item-new").is_visible()

    cy.page.get_by_role("button", name="Leave this team").click()
    cy.confirm_dialog("Leave team")
    cy.notice("You left “Platform”")
    cy.page.wait_for_function("() => !document.querySelector('#teams-list [data-team]')")
    # The key did not change (a leaver would know a new one): the owner is asked to.
    open_teams(ada)
    open_team(ada, "Platform")
    ada.page.locator("#team-left").wait_for(state="visible")
    ada.page.get_by_role("button", name="Change the team key now").click()
    ada.notice("The team has a new key")
    assert "key epoch 3" in ada.page.locator("#team-facts").inner_text()
    assert ada.page.locator("#team-left").is_hidden()
