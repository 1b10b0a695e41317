"""Failures the person must understand: a concurrent edit from another device (merged, the
local edit kept), the server unreachable mid-save, a save over the write limit, a tampered
or rolled-back vault, and an expired session. The server is the real process; tampering
edits its real database.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Route

from tests.e2e.conftest import (
    STRONG,
    App,
    account_id_of,
    api_sign_in,
    b64d,
    b64e,
    new_app,
    server_vault,
)
from tests.support.processes import start_server, stop
from vault_core import Item, Vault

SUB = "margaret"
TOKEN = "ghp_" + "errflow0123456789AB" * 2


def _other_device_edit(app: App, edit: str) -> int:
    """Another signed-in device (native vault_core) edits and saves the vault."""
    account_id, auth = api_sign_in(app.server, app.idp, SUB)
    current = httpx.get(f"{app.server.url}/api/vault", auth=auth).json()
    vault = Vault.open(b64d(current["blob"]), STRONG, account_id=uuid.UUID(account_id))
    if edit == "add":
        vault.add(
            Item(
                name="from-laptop",
                kind="git",
                url="https://git.example.test",
                secret="laptop-token-value",
            )
        )
    else:
        vault.remove(vault.lookup(edit).id)
    r = httpx.put(
        f"{app.server.url}/api/vault",
        auth=auth,
        json={"base_revision": current["revision"], "blob": b64e(vault.save())},
    )
    assert r.status_code == 200, r.text
    return int(r.json()["revision"])


def _hex_account(app: App) -> str:
    return account_id_of(app.server, SUB).hex


@pytest.fixture(scope="module")
def vault(app: App) -> App:
    """Margaret's vault, made once for the module: one credential, "shared"."""
    app.open("/")
    app.sign_in(SUB, name="Margaret")
    app.wait_engine()
    app.create_vault(STRONG)
    app.add_item("shared", TOKEN)
    return app


@pytest.fixture
def ready(vault: App) -> App:
    """Each test starts unlocked on the credentials, whatever ran before it."""
    vault.ensure_unlocked(SUB, STRONG)
    return vault


def test_concurrent_add_is_merged_without_losing_the_local_edit(ready: App) -> None:
    app = ready
    _other_device_edit(app, "add")  # the page still holds the previous revision
    app.page.get_by_role("button", name="Add a credential").click()
    form = app.page.locator("#item-form")
    form.get_by_label("Name", exact=True).fill("from-browser")
    form.get_by_label("Token").fill("browser-token-value")
    app.page.get_by_role("button", name="Save", exact=True).click()
    text = app.notice("Added “from-browser”")  # after the merge and the save
    assert "Another device changed the vault meanwhile; your edit was merged on top." in text
    app.row("from-browser").wait_for()
    names = app.item_names()
    assert {"from-browser", "from-laptop"} <= set(names) and names == sorted(names)


def test_edit_of_an_item_removed_elsewhere_is_kept(ready: App) -> None:
    app = ready
    if not app.row("shared").count():  # the module's "shared" is back after each run
        app.add_item("shared", TOKEN)
    _other_device_edit(app, "shared")
    app.item_menu("shared", "Edit")
    app.page.locator("#item-form").get_by_label("Username").fill("kept")
    app.page.get_by_role("button", name="Save", exact=True).click()
    app.notice("was removed elsewhere; your edit re-adds it")
    app.page.locator('#items-body [data-item="shared"]', has_text="kept").wait_for()


def test_server_unreachable_keeps_the_edit_and_saves_it_later(ready: App) -> None:
    app = ready
    app.context.route("**/api/vault", lambda route: route.abort("connectionrefused"))
    app.page.get_by_role("button", name="Add a credential").click()
    form = app.page.locator("#item-form")
    form.get_by_label("Name", exact=True).fill("offline-edit")
    form.get_by_label("Token").fill("offline-token-value")
    app.page.get_by_role("button", name="Save", exact=True).click()
    app.error("Cannot reach the server")
    app.error("Your edit is kept in this tab")
    app.context.unroute("**/api/vault")
    app.page.get_by_role("button", name="Cancel").click()
    app.add_item("online-edit", "online-token-value")
    app.row("offline-edit").wait_for()
    account_id, token = api_sign_in(app.server, app.idp, SUB)
    blob = httpx.get(f"{app.server.url}/api/vault", auth=token).json()["blob"]
    names = {
        i.name for i in Vault.open(b64d(blob), STRONG, account_id=uuid.UUID(account_id)).items()
    }
    assert {"offline-edit", "online-edit"} <= names


@pytest.mark.usefixtures("built_assets")  # the server below serves what the build made
def test_a_save_over_the_write_limit_keeps_the_edit_and_saves_it_later(
    browser: Browser, idp: str, tmp_path: Path
) -> None:
    """A server of its own, allowing this browser session two vault writes: the third save
    gets 429 and stores nothing, the page keeps the edit, and once writes are allowed
    again (the server restarted with the default limit) the next save carries it."""
    keys = json.dumps([b64e(secrets.token_bytes(32))])  # the restart keeps the sessions
    window = str(10**9)  # one window for the whole test: the next boundary is in 2033
    server = start_server(
        idp,
        tmp_path,
        ZKVAULT_SIGNING_KEYS=keys,
        ZKVAULT_RATE_VAULT_WRITE_WINDOW_SECONDS=window,
        ZKVAULT_RATE_VAULT_WRITES_PER_CLIENT="2",
    )
    app = new_app(browser, server, idp)
    try:
        app.open("/")
        app.sign_in("limited")
        app.wait_engine()
        app.create_vault(STRONG)  # write 1
        app.add_item("first", TOKEN)  # write 2
        app.page.get_by_role("button", name="Add a credential").click()
        form = app.page.locator("#item-form")
        form.get_by_label("Name", exact=True).fill("over-the-limit")
        form.get_by_label("Token").fill("limited-token-value")
        app.page.get_by_role("button", name="Save", exact=True).click()
        app.error("Your edit is kept in this tab")
        assert app.page.locator("#error").get_attribute("data-code") == "rate_limited"
        app.page.get_by_role("button", name="Cancel").click()
        account_id, token = api_sign_in(server, idp, "limited")
        held = server_vault(server, token)
        assert held["revision"] == 2
        port = int(server.url.rsplit(":", 1)[1])
        stop(server.proc)
        server = start_server(
            idp,
            tmp_path,
            port=port,
            ZKVAULT_SIGNING_KEYS=keys,
            ZKVAULT_RATE_VAULT_WRITE_WINDOW_SECONDS=window,
        )
        app.add_item("after", "after-token-value")
        app.row("over-the-limit").wait_for()
        blob = b64d(server_vault(server, token)["blob"])
        vault = Vault.open(blob, STRONG, account_id=uuid.UUID(account_id))
        assert {i.name for i in vault.items()} >= {"first", "over-the-limit", "after"}
    finally:
        app.context.close()
        stop(server.proc)


# Every text the two message regions show, in order (a MutationObserver in the page).
_RECORD_MESSAGES = """() => {
  window.__messages = [];
  for (const id of ["notice", "error"]) {
    const node = document.getElementById(id);
    new MutationObserver(() => {
      if (!node.hidden) window.__messages.push(`${id}: ${node.textContent}`);
    }).observe(node, { childList: true, characterData: true, subtree: true, attributes: true });
  }
}"""


def _add_while_down(app: App, name: str) -> None:
    app.page.get_by_role("button", name="Add a credential").click()
    form = app.page.locator("#item-form")
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Token").fill(f"{name}-token-value")
    app.page.get_by_role("button", name="Save", exact=True).click()
    text = app.error("Cannot reach the server, so your edit is not saved yet.")
    assert "saved automatically as soon as the server takes it" in text
    assert "locking the vault or closing this tab before then loses it" in text
    assert app.page.locator("#error").get_attribute("data-code") == "unreachable"
    app.page.get_by_role("button", name="Cancel").click()


@pytest.mark.usefixtures("built_assets")  # the server below serves what the build made
def test_saving_while_the_server_is_down_completes_once_it_is_back(
    browser: Browser, idp: str, tmp_path: Path
) -> None:
    """The real server process stops; two edits are saved meanwhile (the second stacked on
    the first, which the server never took). Once the server runs again the page saves
    both by itself, and never claims another device changed the vault: none did."""
    keys = json.dumps([b64e(secrets.token_bytes(32))])  # the restart keeps the session
    server = start_server(idp, tmp_path, ZKVAULT_SIGNING_KEYS=keys)
    app = new_app(browser, server, idp)
    try:
        app.open("/")
        app.sign_in("offline")
        app.wait_engine()
        app.create_vault(STRONG)  # revision 1
        app.add_item("first", TOKEN)  # revision 2
        app.page.evaluate(_RECORD_MESSAGES)
        port = int(server.url.rsplit(":", 1)[1])
        stop(server.proc)
        _add_while_down(app, "while-down-1")
        _add_while_down(app, "while-down-2")
        server = start_server(idp, tmp_path, port=port, ZKVAULT_SIGNING_KEYS=keys)
        app.page.wait_for_function(
            "() => !document.getElementById('notice').hidden && document.getElementById"
            "('notice').textContent.includes('The server answers again: your unsaved edit "
            "is now saved.')",
            timeout=90_000,
        )
        account_id, token = api_sign_in(server, idp, "offline")
        held = server_vault(server, token)
        assert held["revision"] == 3  # one save carried both edits
        vault = Vault.open(b64d(held["blob"]), STRONG, account_id=uuid.UUID(account_id))
        assert sorted(i.name for i in vault.items()) == ["first", "while-down-1", "while-down-2"]
        shown = app.page.evaluate("window.__messages")
        assert shown and not [m for m in shown if "Another device" in m or "merged" in m], shown
        assert app.item_names() == ["first", "while-down-1", "while-down-2"]
        # The page goes on as normal: the next edit is saved at once, still no conflict.
        app.add_item("after", "after-token-value")
        assert server_vault(server, token)["revision"] == 4
        shown = app.page.evaluate("window.__messages")
        assert not [m for m in shown if "Another device" in m], shown
    finally:
        app.context.close()
        stop(server.proc)


def test_tampered_vault_is_refused(ready: App) -> None:
    app = ready
    with sqlite3.connect(app.server.database) as db:
        (revision,) = db.execute(
            "SELECT revision FROM vaults WHERE account_id = ?", (_hex_account(app),)
        ).fetchone()
        (blob,) = db.execute(
            "SELECT blob FROM vault_versions WHERE account_id = ? AND revision = ?",
            (_hex_account(app), revision),
        ).fetchone()
        tampered = bytes(blob[:-1]) + bytes([blob[-1] ^ 1])  # last byte: an item's tag
        db.execute(
            "UPDATE vault_versions SET blob = ? WHERE account_id = ? AND revision = ?",
            (tampered, _hex_account(app), revision),
        )
    app.lock()
    app.unlock(STRONG)
    app.error("The vault was tampered with: an item failed authentication.")
    with sqlite3.connect(app.server.database) as db:  # put it back
        db.execute(
            "UPDATE vault_versions SET blob = ? WHERE account_id = ? AND revision = ?",
            (blob, _hex_account(app), revision),
        )


def test_rolled_back_vault_is_refused_even_after_a_reload(ready: App) -> None:
    app = ready
    app.add_item(f"rollback-probe-{uuid.uuid4().hex[:6]}", TOKEN)  # at least revision 3
    with sqlite3.connect(app.server.database) as db:
        (revision,) = db.execute(
            "SELECT revision FROM vaults WHERE account_id = ?", (_hex_account(app),)
        ).fetchone()
        db.execute(
            "UPDATE vaults SET revision = ? WHERE account_id = ?", (revision - 2, _hex_account(app))
        )
    app.open("/")  # a fresh page and worker: the floor comes from what this browser saw
    app.unlock(STRONG)
    app.error("older vault than this device has already seen (rolled back")
    with sqlite3.connect(app.server.database) as db:
        db.execute(
            "UPDATE vaults SET revision = ? WHERE account_id = ?", (revision, _hex_account(app))
        )
    app.open("/")
    app.unlock(STRONG)
    app.visible("items")


def test_expired_session_says_so_and_offers_sign_in(ready: App) -> None:
    app = ready
    with sqlite3.connect(app.server.database) as db:
        db.execute(
            "UPDATE clients SET revoked_at = ? WHERE account_id = ? AND kind = 'web'",
            (datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"), _hex_account(app)),
        )
    app.go("Machines & runners")
    app.error("Your session has expired. Sign in again to continue.")
    app.visible("signin")
    assert app.page.locator("#nav").is_hidden()
    assert (
        app.page.locator("#items-body [data-item]").count() == 0
        or app.page.locator("#view-items").is_hidden()
    )
    app.sign_in(SUB)
    app.unlock(STRONG)
    app.visible("items")


def test_sections_that_do_not_load_say_so_and_the_next_unlock_loads_them(vault: App) -> None:
    """The unlocked sections load once the engine is ready (docs/web.md, "Who holds what").
    If that fetch fails, the page says what happened and what to do, and the unlock that
    follows fetches them again and opens the vault."""
    other = new_app(vault.page.context.browser, vault.server, vault.idp)  # type: ignore[arg-type]
    network = {"up": False}
    refused: list[str] = []

    def sections(route: Route) -> None:
        if network["up"]:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    other.context.route("**/assets/sections.*.js", sections)
    try:
        other.open("/")
        other.sign_in(SUB, name="Margaret")
        other.wait_engine()
        assert other.error("Part of this page did not load") == (
            "Part of this page did not load from the server. Check your connection and "
            "unlock again; nothing was lost."
        )
        assert other.page.locator("#error").get_attribute("data-code") == "unreachable"
        assert refused
        network["up"] = True
        other.unlock(STRONG)
        other.visible("items")
        other.row("shared").wait_for()
    finally:
        other.context.close()


def test_no_foreign_requests_and_no_csp_violations(ready: App) -> None:
    app = ready
    assert app.rec.foreign() == []
    assert app.csp_violations() == []
    assert app.rec.page_errors == []
