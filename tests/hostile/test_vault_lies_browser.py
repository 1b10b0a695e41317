"""The web app in Chromium against a server that lies about the vault: each lie is
refused with its documented code (shown in the page), and the genuine vault opens after.

Each case locks the page (it fetches the vault again) with the lie on, unlocks, then
unlocks again with the lie off: no reload, so one engine start for the module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser

from tests.e2e.conftest import App, new_app
from tests.hostile import lies
from tests.hostile.cases import VAULT_LIES, VaultLie
from tests.hostile.stage import Person, Stage, person_with_vault
from tests.support.report import record
from vault_core import KdfParams

pytestmark = pytest.mark.slow


@dataclass
class Tab:
    alice: Person
    app: App
    other: bytes
    older: bytes


def unlock(tab: Tab) -> str:
    """Submit the passphrase: the error code the page shows, or ok."""
    page = tab.app.page
    # The previous answer's message goes first, so the one read below is this attempt's.
    page.evaluate("document.getElementById('error').hidden = true")
    tab.app.unlock(tab.alice.passphrase)
    page.wait_for_selector("#error:not([hidden]), #view-items:not([hidden])", timeout=60_000)
    if page.locator("#view-items").is_visible():
        return "ok"
    return str(page.locator("#error").get_attribute("data-code"))


def relock(tab: Tab) -> str:
    """Lock (the page fetches the vault again), then unlock."""
    tab.app.lock()
    return unlock(tab)


@pytest.fixture(scope="module")
def tab(stage: Stage, browser: Browser) -> Iterator[Tab]:
    # The web app's own parameters (a weaker vault it would re-wrap on the first unlock).
    kdf = KdfParams.default()
    alice, _ = person_with_vault(stage, "alice", kdf)
    bob, _ = person_with_vault(stage, "bob", kdf)
    older = alice.call("GET", "/api/vault/history/1")
    assert older.status_code == 200, older.text
    app = new_app(browser, stage.public, stage.idp)
    try:
        app.open("/")
        app.sign_in(alice.sub)
        app.wait_engine()
        made = Tab(alice, app, lies.b64d(bob.stored()["blob"]), lies.b64d(older.json()["blob"]))
        # The first unlock records the revision seen: the cases start from there.
        assert unlock(made) == "ok"
        yield made
    finally:
        app.context.close()


@pytest.mark.parametrize("case", VAULT_LIES, ids=lambda c: c.name)
def test_browser_refuses_the_lie_and_keeps_the_vault(
    stage: Stage, tab: Tab, case: VaultLie
) -> None:
    genuine = tab.alice.stored()
    lie = lies.vault_blob(case.name, lambda served: case.forge(served, tab.other, tab.older))
    with stage.proxy.telling(lie):
        got = relock(tab)
    after = unlock(tab)  # the lie switched off: fetched again, the genuine vault opens
    item = tab.alice.items[0]
    listed = item.name in tab.app.item_names()
    unchanged = tab.alice.stored()["sha256"] == genuine["sha256"]
    record(
        "hostile server",
        f"{case.name} (browser)",
        tried=1,
        refused=int(got == case.expect),
        lost=int(after != "ok" or not listed or not unchanged),
    )
    assert got == case.expect
    assert after == "ok" and listed
    assert unchanged, "the page saved something while lied to"
