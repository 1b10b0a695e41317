"""An item has a home (issue 21, part 1): a detail sheet with every field, its history and
the runners that receive it; Copy in the row and the rest in a "⋯" menu that works by
keyboard; a token shown only on request and masked again on blur and after 15 s; show/hide
of the token being typed; and in-app confirmation dialogs (Escape cancels) for Remove and
Revoke, never the browser's confirm().
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import STRONG, App, poll, request_pairing
from vault_core import RunnerKeyPair

SUB = "hedy-detail"
TOKEN = "glpat-" + "Q7w" * 7
RUNNER = "ci-detail-1"


def _focused(app: App) -> str:
    return str(
        app.page.evaluate(
            "() => { const a = document.activeElement; return a.getAttribute('aria-label') "
            "|| a.id || a.textContent.trim(); }"
        )
    )


@pytest.fixture(scope="module")
def vault(app: App) -> App:
    app.open("/")
    app.sign_in(SUB, name="Hedy Lamarr")
    app.wait_engine()
    app.create_vault(STRONG)
    app.add_item(
        "deploy token",
        TOKEN,
        kind="gitlab",
        url="https://gitlab.example.test",
        username="deploy-bot",
        scopes="read_repository write_repository",
        expires="2031-01-31",
        note="rotate with the release\nowner: platform team",
    )
    app.add_item("spare", "ghp_" + "s" * 36)
    # A runner that receives "deploy token".
    pairing = request_pairing(app.server, "runner", RUNNER, RunnerKeyPair.generate().public_key)
    app.go("Approve a pairing")
    app.page.get_by_label("Pairing code").fill(pairing["code"])
    app.page.get_by_role("button", name="Look up").click()
    app.page.get_by_role("button", name="Approve", exact=True).click()
    app.notice(f"Approved “{RUNNER}”")
    assert poll(app.server, pairing)["status"] == "approved"
    app.go("Machines & runners")
    app.page.get_by_role("button", name=f"Grant items to {RUNNER}").click()
    app.page.get_by_role("checkbox", name="deploy token", exact=True).check()
    app.page.get_by_role("button", name="Save grant").click()
    app.notice("Granted 1 item(s)")
    return app


@pytest.fixture
def ready(vault: App) -> App:
    vault.ensure_unlocked(SUB, STRONG)
    return vault


def test_clicking_a_credential_opens_every_field(ready: App) -> None:
    page = ready.page
    ready.row("deploy token").get_by_role("button", name="deploy token: details").click()
    sheet = page.locator("#item-detail")
    sheet.wait_for(state="visible")
    assert sheet.get_by_role("heading", name="deploy token").is_visible()
    for text in (
        "GitLab",
        "gitlab.example.test",
        "deploy-bot",
        "read_repository",
        "write_repository",
        "2031-01-31",
        "owner: platform team",
    ):
        assert text in (sheet.text_content() or ""), text
    # Which runner gets it, under which variable (zkvault run's upper-cased name).
    runners = page.locator("#detail-runners")
    assert runners.locator(f'[data-runner="{RUNNER}"]').is_visible()
    assert "DEPLOY_TOKEN" in (runners.text_content() or "")
    # Its history, read from the kept revisions: created, then nothing else yet.
    page.locator("#detail-history li[data-revision]").first.wait_for()
    assert page.locator("#detail-history").get_by_text("Created").is_visible()
    assert page.locator("#detail-created .time").is_visible()
    # The token is not on the page until asked for.
    assert TOKEN not in (sheet.text_content() or "")
    assert page.locator("#detail-secret").text_content() == "••••••••"
    page.keyboard.press("Escape")
    sheet.wait_for(state="hidden")
    assert _focused(ready) == "deploy token: details"  # back where it was opened


def test_a_spare_credential_says_no_runner_receives_it(ready: App) -> None:
    ready.item_menu("spare", "Details")
    runners = ready.page.locator("#detail-runners")
    runners.get_by_text("No runner receives it").wait_for()
    ready.page.get_by_role("button", name="Close", exact=True).click()


def test_show_hides_again_on_blur_and_after_fifteen_seconds_copy_never_shows(
    ready: App,
) -> None:
    page = ready.page
    ready.item_menu("deploy token", "Details")
    secret = page.locator("#detail-secret")
    page.locator("#item-detail").get_by_role("button", name="Show", exact=True).click()
    page.wait_for_function(
        "t => document.getElementById('detail-secret').textContent === t", arg=TOKEN
    )
    # Another window takes the focus: masked at once.
    page.evaluate("() => window.dispatchEvent(new Event('blur'))")
    page.wait_for_function(
        "() => document.getElementById('detail-secret').textContent === '••••••••'"
    )
    page.locator("#item-detail").get_by_role("button", name="Show", exact=True).click()
    page.wait_for_function(
        "t => document.getElementById('detail-secret').textContent === t", arg=TOKEN
    )
    page.clock.fast_forward(16_000)
    page.wait_for_function(
        "() => document.getElementById('detail-secret').textContent === '••••••••'"
    )
    # Copy fills the clipboard and never puts the token on the page.
    page.locator("#item-detail").get_by_role("button", name="Copy", exact=True).click()
    page.locator("#detail-copy-status").get_by_text("Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == TOKEN
    assert secret.text_content() == "••••••••"
    assert TOKEN not in (page.locator("main").text_content() or "")
    page.keyboard.press("Escape")


def test_the_row_keeps_copy_and_the_rest_is_in_a_keyboard_menu(ready: App) -> None:
    page = ready.page
    row = ready.row("deploy token")
    visible = [b for b in row.get_by_role("button").all() if b.is_visible()]
    labels = [b.get_attribute("aria-label") for b in visible]
    assert labels == [
        "deploy token: details",
        "Copy token of deploy token",
        "More actions for deploy token",
    ]
    more = row.get_by_role("button", name="More actions for deploy token")
    more.focus()
    page.keyboard.press("Enter")
    assert more.get_attribute("aria-expanded") == "true"
    assert _focused(ready) == "Details of deploy token"
    page.keyboard.press("ArrowDown")
    assert _focused(ready) == "Show token of deploy token"
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")  # wraps to the last
    assert _focused(ready) == "Remove deploy token"
    page.keyboard.press("Escape")
    assert more.get_attribute("aria-expanded") == "false"
    assert _focused(ready) == "More actions for deploy token"
    # Show token from the menu: shown in the row with its Hide, masked again by Hide.
    page.keyboard.press("Enter")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "t => document.querySelector('[data-item=\"deploy token\"]').textContent.includes(t)",
        arg=TOKEN,
    )
    row.get_by_role("button", name="Hide token of deploy token").click()
    assert TOKEN not in (row.text_content() or "")
    assert not row.get_by_role("button", name="Hide token of deploy token").is_visible()


def test_remove_asks_in_a_dialog_escape_cancels(ready: App) -> None:
    page = ready.page
    confirms: list[str] = []
    page.on("dialog", lambda d: confirms.append(d.type))
    ready.add_item("short-lived", "ghp_" + "t" * 36)
    ready.item_menu("short-lived", "Remove")
    dialog = page.locator("#confirm-dialog")
    dialog.wait_for(state="visible")
    assert dialog.get_by_role("heading", name="Remove “short-lived”?").is_visible()
    assert _focused(ready) == "confirm-cancel"  # Enter, Enter never removes unread
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert "short-lived" in ready.item_names()
    # Cancel by keyboard too, then confirm.
    ready.item_menu("short-lived", "Remove")
    page.keyboard.press("Enter")  # on Cancel
    dialog.wait_for(state="hidden")
    assert "short-lived" in ready.item_names()
    ready.item_menu("short-lived", "Remove")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # on Remove
    ready.notice("Removed “short-lived”")
    assert "short-lived" not in ready.item_names()
    assert confirms == []  # never the browser's own dialog


def test_revoke_asks_in_a_dialog(ready: App) -> None:
    page = ready.page
    pairing = request_pairing(ready.server, "machine", "old-laptop")
    ready.go("Approve a pairing")
    page.get_by_label("Pairing code").fill(pairing["code"])
    page.get_by_role("button", name="Look up").click()
    page.get_by_role("button", name="Approve", exact=True).click()
    ready.notice("Approved “old-laptop”")
    assert poll(ready.server, pairing)["status"] == "approved"
    ready.go("Machines & runners")
    page.get_by_role("button", name="Revoke old-laptop").click()
    dialog = page.locator("#confirm-dialog")
    dialog.wait_for(state="visible")
    assert "loses access" in (dialog.text_content() or "")
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert page.locator('[data-machine="old-laptop"] .badge').text_content() == "Active"
    page.get_by_role("button", name="Revoke old-laptop").click()
    ready.confirm_dialog("Revoke")
    ready.notice("Revoked “old-laptop”")


def test_the_token_being_typed_can_be_shown_and_hidden(ready: App) -> None:
    page = ready.page
    page.get_by_role("button", name="Add a credential").click()
    field = page.locator("#item-form").get_by_label("Token", exact=True)
    field.fill("glpat-typed-value")
    assert "masked" in (field.get_attribute("class") or "")
    toggle = page.get_by_role("button", name="Show what is typed")
    toggle.click()
    assert "masked" not in (field.get_attribute("class") or "")
    assert (
        page.get_by_role("button", name="Hide what is typed").get_attribute("aria-pressed")
        == "true"
    )
    page.get_by_role("button", name="Hide what is typed").click()
    assert "masked" in (field.get_attribute("class") or "")
    page.keyboard.press("Escape")


def test_no_page_errors_foreign_requests_or_csp_violations(ready: App) -> None:
    assert ready.rec.page_errors == []
    assert ready.rec.foreign() == []
    assert ready.csp_violations() == []
