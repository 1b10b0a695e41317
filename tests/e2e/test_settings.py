"""Settings a vault owner expects (issue 21, part 4): the account and its identity
provider; the signed-in browsers, with sign-out of the others; the grant-key fingerprint
with a copy button; an encrypted export that the command line alone opens (adopt, unlock,
get); a printable emergency kit that holds no secret.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import STRONG, App, api_sign_in
from tests.native.support import make_env, stop_agent

SUB = "dorothy-settings"
TOKEN = "ghp_" + "E" * 36


@pytest.fixture(scope="module")
def vault(app: App) -> App:
    app.open("/")
    app.sign_in(SUB, name="Dorothy Vaughan")
    app.wait_engine()
    app.create_vault(STRONG)
    app.add_item("export-me", TOKEN)
    return app


@pytest.fixture
def settings(vault: App) -> App:
    vault.ensure_unlocked(SUB, STRONG)
    vault.go("Settings")
    vault.visible("settings")
    return vault


def test_the_account_and_its_identity_provider(settings: App) -> None:
    page = settings.page
    me = page.locator("#settings-account")
    me.get_by_text("Dorothy Vaughan").wait_for()
    assert page.locator("#account-email").text_content() == f"{SUB}@example.test"
    assert page.locator("#account-issuer").text_content() == settings.idp
    assert page.locator("#account-server").text_content() == settings.server.url


def test_sessions_list_and_sign_out_the_others(settings: App) -> None:
    page = settings.page
    _, other = api_sign_in(settings.server, settings.idp, SUB)  # the same person elsewhere
    settings.go("Credentials")
    settings.go("Settings")
    sessions = page.locator("#sessions-body li")
    sessions.nth(1).wait_for()
    assert sessions.count() == 2
    assert (
        page.locator('#sessions-body li[data-current="1"]').get_by_text("This browser").is_visible()
    )
    button = page.get_by_role("button", name="Sign out the other browser")
    button.click()
    dialog = page.locator("#confirm-dialog")
    dialog.wait_for(state="visible")
    page.keyboard.press("Escape")  # cancels
    dialog.wait_for(state="hidden")
    assert httpx.get(f"{settings.server.url}/api/me", auth=other).status_code == 200
    button.click()
    settings.confirm_dialog("Sign out others")
    settings.notice("Signed out 1 other browser.")
    assert sessions.count() == 1 and button.is_hidden()
    assert httpx.get(f"{settings.server.url}/api/me", auth=other).status_code == 401
    # This browser goes on.
    settings.go("Credentials")
    settings.row("export-me").wait_for()


def test_grant_key_fingerprint_copies(settings: App) -> None:
    page = settings.page
    shown = page.locator("#settings-fingerprint").text_content() or ""
    assert shown and "unlock" not in shown
    page.get_by_role("button", name="Copy fingerprint").click()
    page.locator("#settings-fingerprint-status").get_by_text("Fingerprint copied.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == shown


def test_the_encrypted_export_opens_with_the_cli_alone(settings: App, tmp_path: Path) -> None:
    page = settings.page
    commands = page.locator("#export-commands").text_content() or ""
    with page.expect_download() as got:
        page.get_by_role("button", name="Download the encrypted vault").click()
    download = got.value
    name = download.suggested_filename
    assert name.startswith("zkvault-vault-r") and name.endswith(".zkv")
    exported = tmp_path / name
    download.save_as(exported)
    assert TOKEN.encode() not in exported.read_bytes()  # encrypted
    # The commands the page shows, run as written, in an environment that knows no server.
    lines = [line.split("#")[0].split() for line in commands.splitlines()]
    assert [w[:2] for w in lines] == [
        ["zkvault", "adopt"],
        ["zkvault", "unlock"],
        ["zkvault", "list"],
    ]
    env = make_env()
    try:
        assert lines[0][2] == name  # the file as downloaded, here with its full path
        imported = env.zk("adopt", str(exported), *lines[0][3:])
        assert imported.returncode == 0, imported.stderr
        assert env.unlock(passphrase=STRONG).returncode == 0
        listed = env.zk("list")
        assert listed.returncode == 0 and "export-me" in listed.stdout, listed.stderr
        got_token = env.zk("get", "export-me")
        assert got_token.returncode == 0 and got_token.stdout.strip() == TOKEN
    finally:
        stop_agent(env)


def test_the_emergency_kit_prints_alone_and_holds_no_secret(settings: App) -> None:
    page = settings.page
    page.get_by_role("button", name="Show the emergency kit").click()
    kit = page.locator("#kit-dialog")
    kit.wait_for(state="visible")
    text = kit.text_content() or ""
    for expected in (settings.server.url, f"{SUB}@example.test", settings.idp, "zkvault unlock"):
        assert expected in text, expected
    assert page.locator("#kit-fingerprint").text_content()
    assert STRONG not in text and TOKEN not in text
    page.emulate_media(media="print")
    try:
        assert page.locator("#kit-page").is_visible()
        assert page.locator("#kit-print").is_hidden()  # the buttons are not printed
        assert page.locator("#nav").is_hidden() and page.locator(".topbar").is_hidden()
        assert page.locator("#settings-account").is_hidden()
    finally:
        page.emulate_media(media="screen")
    page.keyboard.press("Escape")
    kit.wait_for(state="hidden")
    assert page.evaluate("() => document.activeElement.id") == "kit-open"


def test_no_page_errors_foreign_requests_or_csp_violations(settings: App) -> None:
    assert settings.rec.page_errors == []
    assert settings.rec.foreign() == []
    assert settings.csp_violations() == []
