"""The web app's teams against a server that substitutes an invitee's identity key (the
attack the 2026 ETH Zurich / USI study found in four products): it serves the inviter a
key of its own for the invitee, validly self-signed under the invitee's account id.

- Compared: the inviter types the number the invitee reads out; the page refuses to pin
  or add (identity_changed), and nothing reaches the membership log.
- Pinned earlier: a person whose key the inviter compared once is shown with a WARNING
  naming the number compared then, and nothing is sealed to the new key.
(Trust on first use of a substituted key is refused by the real server behind the proxy,
which checks the added identity is the one the invitee published; the invitee's client
refuses a log holding another key for them: tests/unit/test_teams_session.py.)
"""

from __future__ import annotations

import secrets
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e.conftest import STRONG, App, account_id_of, new_app
from tests.e2e.test_teams import email, open_team, open_teams
from tests.hostile import lies
from tests.hostile.stage import Stage
from tests.support.httpproxy import Lie
from tests.support.report import record
from vault_core.teams import IdentityKeys

pytestmark = pytest.mark.slow


@dataclass
class Pair:
    ada: App
    bob: App
    bob_id: uuid.UUID


@pytest.fixture(scope="module")
def pair(stage: Stage, browser: object) -> Iterator[Pair]:
    apps = []
    try:
        for name in ("ada", "bob"):
            app = new_app(browser, stage.public, stage.idp)  # type: ignore[arg-type]
            apps.append(app)
            app.open("/")
            app.sign_in(f"team-{name}-{secrets.token_hex(3)}", name=name.title())
            app.wait_engine()
            app.create_vault(STRONG)
            open_teams(app)
        stage.secrets["team lies passphrase"] = STRONG
        yield Pair(apps[0], apps[1], account_id_of(stage.server, apps[1].sub))
    finally:
        for app in apps:
            app.context.close()


def substituted(bob_id: uuid.UUID) -> Lie:
    """The server's own key for Bob, self-signed under Bob's account id."""
    forged = lies.b64e(IdentityKeys.generate(bob_id).bundle())
    return lies.json_body(
        "substituted invitee identity",
        "GET",
        rf"/api/identity/{bob_id}",
        lambda body: {**body, "bundle": forged},
    )


def invite_and_accept(pair: Pair, team: str, role: str) -> None:
    ada, bob = pair.ada, pair.bob
    open_teams(ada)
    ada.page.get_by_role("button", name="Create a team").click()
    ada.page.get_by_label("Team name").fill(team)
    ada.page.get_by_role("button", name="Create team").click()
    ada.notice(f"Created “{team}”")
    ada.page.get_by_label("Invite by email").fill(email(bob))
    ada.page.get_by_label("Role").select_option(role)
    ada.page.get_by_role("button", name="Invite", exact=True).click()
    ada.notice(f"Invited {email(bob)}")
    open_teams(bob)
    bob.page.locator(f'#my-invitations [data-invitation="{team}"]').get_by_role(
        "button", name="Accept"
    ).click()
    bob.page.locator("#sn-dialog").get_by_role("button", name="Done").click()
    open_teams(ada)
    open_team(ada, team)


def log_length(stage: Stage, team_id: str) -> int:
    """Entries the server stored for the team (its own database, not the proxy's word)."""
    with sqlite3.connect(stage.server.database) as db:
        (count,) = db.execute(
            "SELECT COUNT(*) FROM team_log WHERE team_id IN (?, ?)",
            (team_id, str(uuid.UUID(hex=team_id))),
        ).fetchone()
    return int(count)


def test_substituted_key_refused_when_numbers_are_compared(stage: Stage, pair: Pair) -> None:
    ada, bob = pair.ada, pair.bob
    invite_and_accept(pair, "Compared", "writer")
    team_id = ada.page.locator("#team-detail").get_attribute("data-team") or ""
    bob_number = bob.page.locator("#my-safety-number").inner_text()
    with stage.proxy.telling(substituted(pair.bob_id)):
        row = ada.page.locator(f'#team-invitations [data-invitation="{email(bob)}"]')
        row.get_by_role("button", name="Verify and add").click()
        dialog = ada.page.locator("#sn-dialog")
        dialog.wait_for(state="visible")
        shown = dialog.locator("#sn-theirs").inner_text()
        dialog.get_by_label("The safety number they read to you").fill(bob_number)
        dialog.get_by_role("button", name="Numbers match").click()
        ada.error("the server may be compromised")
        code = ada.page.locator("#error").get_attribute("data-code")
    dialog.get_by_role("button", name="Cancel").click()
    refused = int(code == "identity_changed" and log_length(stage, team_id) == 1)
    record(
        "hostile server",
        "substituted invitee key, safety numbers compared (browser)",
        tried=1,
        refused=refused,
    )
    assert shown != bob_number, "the page showed the substituted key's own number"
    assert code == "identity_changed"
    assert log_length(stage, team_id) == 1, "something reached the membership log"


def test_a_key_change_is_shown_to_whoever_pinned_the_old_key(stage: Stage, pair: Pair) -> None:
    ada, bob = pair.ada, pair.bob
    bob_number = bob.page.locator("#my-safety-number").inner_text()
    # Honestly first: Ada compares Bob's number and adds him (his key is pinned in her vault).
    invite_and_accept(pair, "Pinned", "reader")
    row = ada.page.locator(f'#team-invitations [data-invitation="{email(bob)}"]')
    row.get_by_role("button", name="Verify and add").click()
    dialog = ada.page.locator("#sn-dialog")
    dialog.get_by_label("The safety number they read to you").fill(bob_number)
    dialog.get_by_role("button", name="Numbers match").click()
    ada.notice(f"Added {email(bob)} as Reader")
    # Then the server hands her another key for him, for another team.
    invite_and_accept(pair, "Later", "reader")
    team_id = ada.page.locator("#team-detail").get_attribute("data-team") or ""
    with stage.proxy.telling(substituted(pair.bob_id)):
        row = ada.page.locator(f'#team-invitations [data-invitation="{email(bob)}"]')
        row.get_by_role("button", name="Verify and add").click()
        dialog.wait_for(state="visible")
        warning = dialog.locator("#sn-pinned").inner_text()
        dialog.get_by_label("The safety number they read to you").fill(bob_number)
        dialog.get_by_role("button", name="Numbers match").click()
        ada.error("the server may be compromised")
        code = ada.page.locator("#error").get_attribute("data-code")
    dialog.get_by_role("button", name="Cancel").click()
    refused = int(
        code == "identity_changed"
        and "not the key you checked" in warning
        and log_length(stage, team_id) == 1
    )
    record(
        "hostile server",
        "invitee key substituted after it was pinned (browser)",
        tried=1,
        refused=refused,
    )
    assert "WARNING" in warning and bob_number in warning, warning
    assert code == "identity_changed"
    assert log_length(stage, team_id) == 1
