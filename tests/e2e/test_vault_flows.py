"""One person's vault in the browser, flow by flow.

The flows share one page and one vault (the `story` fixture); each test's fixtures bring
them to the state it needs, so any test runs alone or in any order. First-run checks get a
new person in a browser of their own.

Sign in through the real IdP, create a vault (a weak passphrase is refused with a
reason), add/edit/remove credentials, reveal and copy, lock/unlock, wrong passphrase,
auto-lock, change passphrase, revisions and restore, the audit trail; the vault made
here opens in native vault_core. The module ends by checking the recorded traffic and
storage for secrets, foreign origins and CSP violations.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from playwright.sync_api import Browser, Locator

from tests.e2e.conftest import (
    STRONG,
    STRONG_2,
    App,
    account_id_of,
    api_sign_in,
    b64d,
    new_app,
    server_put_vault,
    server_vault,
)
from tests.support.dpop import DpopAuth
from tests.support.leaks import scan
from tests.support.processes import ROOT, ServerProcess
from vault_core import Vault, errors, is_reserved
from vault_core.header import encode_public_header, peek_header

SUB = "ada"
TOKEN_1 = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2
TOKEN_2 = "glpat-" + "zYxWvUtSrQpOnMlK" * 2
TOKEN_2_NEW = "glpat-" + "NEWNEWnewnew1234" * 2
SECRETS = [STRONG, STRONG_2, TOKEN_1, TOKEN_2, TOKEN_2_NEW]

# Each credential as first added; "gitlab-deploy" may later be edited (see _edit_gitlab_deploy).
ITEMS: dict[str, dict[str, str]] = {
    "github-ci": {
        "secret": TOKEN_1,
        "scopes": "repo, read:org",
        "expires": "2031-01-31",
        "note": "for the CI",
    },
    "gitlab-deploy": {"secret": TOKEN_2, "kind": "gitlab", "url": "https://gitlab.example.test"},
    "github-docs": {"secret": "ghp_docs_token_value_000000000000000000"},
}
ORIGINAL, EDITED = "original", "edited"
# The vault as the story leaves it after adding, editing and removing.
SETTLED = {"github-ci": ORIGINAL, "gitlab-deploy": EDITED}


@dataclass
class Story:
    """Ada's shared page and what earlier tests changed in her vault, whatever their order."""

    app: App
    passphrase: str = STRONG
    items: dict[str, str] = field(default_factory=dict)  # name -> ORIGINAL or EDITED
    # (revision, passphrase): the last revision saved under a passphrase since changed.
    superseded: list[tuple[int, str]] = field(default_factory=list)
    restored: bool = False

    def secret(self, name: str) -> str:
        if name == "gitlab-deploy" and self.items[name] == EDITED:
            return TOKEN_2_NEW
        return ITEMS[name]["secret"]

    def add(self, name: str) -> None:
        spec = dict(ITEMS[name])
        self.app.add_item(name, spec.pop("secret"), **spec)
        self.items[name] = ORIGINAL

    def remove(self, name: str) -> None:
        self.app.item_menu(name, "Remove")
        self.app.confirm_dialog("Remove")
        self.app.notice(f"Removed “{name}”")
        self.app.row(name).wait_for(state="detached")
        del self.items[name]

    def ensure_items(self, wanted: dict[str, str | None]) -> None:
        """Bring the vault to exactly these credentials (None: either version)."""
        shown = set(self.app.item_names())
        self.items = {n: v for n, v in self.items.items() if n in shown}
        for name in sorted(shown - set(self.items)):  # left by a test that failed midway
            self.items[name] = "unknown"
        for name, have in list(self.items.items()):
            if name not in wanted or wanted[name] not in (None, have):
                self.remove(name)
        for name, want in wanted.items():
            if name not in self.items:
                self.add(name)
            if want == EDITED and self.items[name] == ORIGINAL:
                _edit_gitlab_deploy(self.app)
                self.items[name] = EDITED

    def revision(self) -> int:
        _, token = api_sign_in(self.app.server, self.app.idp, SUB)
        return int(server_vault(self.app.server, token)["revision"])

    def changed_passphrase(self, before: int, new: str) -> None:
        self.superseded.append((before, self.passphrase))
        self.passphrase = new

    def ensure_passphrase_changed(self) -> None:
        """At least one revision is saved under a passphrase other than the current one."""
        if any(p != self.passphrase for _, p in self.superseded):
            return
        before = self.revision()
        new = _other(self.passphrase)
        _submit_passphrase_change(self.app, self.passphrase, new)
        self.app.notice("Passphrase changed")
        self.changed_passphrase(before, new)
        self.app.go("Credentials")
        self.app.visible("items")

    def ensure_restored(self) -> None:
        if not self.restored:
            _restore_latest(self.app)
            self.restored = True
            self.app.go("Credentials")
            self.app.visible("items")


def _other(passphrase: str) -> str:
    return STRONG_2 if passphrase == STRONG else STRONG


@pytest.fixture(scope="module")
def story(app: App) -> Story:
    """Ada's vault, created once for the module in one shared page."""
    app.open("/")
    app.sign_in(SUB)
    app.wait_engine()
    app.create_vault(STRONG)
    return Story(app)


@pytest.fixture
def ready(story: Story) -> Story:
    """Each test starts unlocked on the credentials list, whatever ran before it."""
    story.app.ensure_unlocked(SUB, story.passphrase)
    return story


@pytest.fixture
def settled(ready: Story) -> Story:
    """The vault as the story leaves it after adding, editing and removing credentials."""
    ready.ensure_items(dict(SETTLED))
    return ready


@pytest.fixture
def traffic(settled: Story) -> Story:
    """The flows whose traffic and storage the end-of-module checks inspect have run in this
    page: every token typed (and one revealed), both passphrases used."""
    settled.ensure_passphrase_changed()
    app = settled.app
    row = app.row("gitlab-deploy")
    app.item_menu("gitlab-deploy", "Show token")
    app.page.wait_for_function(
        "t => document.getElementById('items-body').textContent.includes(t)", arg=TOKEN_2_NEW
    )
    row.get_by_role("button", name="Hide token of gitlab-deploy").click()
    return settled


def _newcomer(browser: Browser, server: ServerProcess, idp: str) -> App:
    """A person never seen before, in a browser of their own, on the app's first page."""
    a = new_app(browser, server, idp)
    a.sub = f"new-{uuid.uuid4().hex[:12]}"
    a.open("/")
    return a


def _sign_in_first_time(app: App) -> App:
    app.visible("signin")
    app.wait_engine()
    app.sign_in(app.sub)
    app.visible("create")
    return app


@pytest.fixture
def newcomer(browser: Browser, server: ServerProcess, idp: str) -> Iterator[App]:
    a = _newcomer(browser, server, idp)
    yield a
    a.context.close()


@pytest.fixture
def creator(newcomer: App) -> App:
    """A newcomer signed in, asked to create a vault, who will create one."""
    return _sign_in_first_time(newcomer)


@pytest.fixture(scope="module")
def vaultless(browser: Browser, server: ServerProcess, idp: str) -> Iterator[App]:
    """A newcomer signed in and asked to create a vault, shared by the checks that create
    none (so each need not load the engine in a browser of its own)."""
    a = _sign_in_first_time(_newcomer(browser, server, idp))
    yield a
    a.context.close()


@pytest.fixture
def first_run(vaultless: App) -> App:
    """Still asked to create a vault, with empty fields and no banner from an earlier test."""
    vaultless.visible("create")
    for field_ in ("Passphrase", "Confirm passphrase"):
        vaultless.page.locator("#view-create").get_by_label(field_, exact=True).fill("")
    vaultless.page.evaluate(
        "() => { for (const id of ['notice', 'error']) document.getElementById(id).hidden = true; }"
    )
    return vaultless


def _vaults_of(app: App) -> int:
    with sqlite3.connect(app.server.database) as db:
        row = db.execute(
            "SELECT count(*) FROM vaults JOIN accounts ON accounts.id = vaults.account_id "
            "WHERE accounts.subject = ?",
            (app.sub,),
        ).fetchone()
    return int(row[0])


def test_app_loads_and_sign_in_leads_to_vault_creation(newcomer: App) -> None:
    app = newcomer
    app.visible("signin")
    app.wait_engine()  # Pyodide loads while the person signs in
    app.sign_in(app.sub)
    app.visible("create")
    assert "Ada Lovelace" in (app.page.locator("#who").text_content() or "")


@pytest.mark.parametrize(
    ("weak", "reason"),
    [
        ("password123", "most common passwords"),
        ("Summer2024!", "contains a date or year"),
        ("aaaaaaaaaaaaaaaa", "repeats"),
        ("short", "shorter than 10 characters"),
    ],
    ids=["common", "year", "repeats", "short"],  # no spaces: node ids pass through a shell
)
def test_weak_passphrase_is_refused_with_a_reason(first_run: App, weak: str, reason: str) -> None:
    app = first_run
    app.page.locator("#view-create").get_by_label("Passphrase", exact=True).fill(weak)
    app.page.locator("#view-create").get_by_label("Confirm passphrase").fill(weak)
    app.page.get_by_role("button", name="Create vault").click()
    text = app.error(reason)
    assert "Too weak" in text and "guesses" in text and "Argon2id" in text
    app.visible("create")  # nothing was created
    assert _vaults_of(app) == 0


def test_mismatched_confirmation_is_refused(first_run: App) -> None:
    app = first_run
    app.page.locator("#view-create").get_by_label("Passphrase", exact=True).fill(STRONG)
    app.page.locator("#view-create").get_by_label("Confirm passphrase").fill(STRONG + "x")
    app.page.get_by_role("button", name="Create vault").click()
    app.error("The two passphrases differ")


def test_live_strength_meter_explains(first_run: App) -> None:
    app = first_run
    app.page.locator("#view-create").get_by_label("Passphrase", exact=True).fill("asdfghjkl")
    app.page.wait_for_function(
        "() => document.getElementById('create-strength').textContent.includes('keyboard')"
    )
    app.page.locator("#view-create").get_by_label("Passphrase", exact=True).fill(STRONG)
    app.page.wait_for_function(
        "() => document.getElementById('create-strength').textContent.includes('Strong enough')"
    )


def test_create_vault(creator: App) -> None:
    app = creator
    app.create_vault(STRONG)
    app.notice("Vault created")
    assert app.item_names() == []
    assert _vaults_of(app) == 1


def test_add_several_credentials_per_host(ready: Story) -> None:
    ready.ensure_items({})
    app = ready.app
    app.add_item(
        "github-ci", TOKEN_1, scopes="repo, read:org", expires="2031-01-31", note="for the CI"
    )
    ready.items["github-ci"] = ORIGINAL
    app.add_item("gitlab-deploy", TOKEN_2, kind="gitlab", url="https://gitlab.example.test")
    ready.items["gitlab-deploy"] = ORIGINAL
    app.add_item("github-docs", "ghp_docs_token_value_000000000000000000")
    ready.items["github-docs"] = ORIGINAL
    assert app.item_names() == ["github-ci", "github-docs", "gitlab-deploy"]
    row = app.row("github-ci")
    assert "••••" in (row.text_content() or "")
    assert TOKEN_1 not in app.page.content()  # masked: the page does not even hold it


def test_duplicate_name_is_refused_clearly(ready: Story) -> None:
    ready.ensure_items({**ready.items, "github-ci": None})
    p = ready.app.page
    p.get_by_role("button", name="Add a credential").click()
    p.locator("#item-form").get_by_label("Name", exact=True).fill("github-ci")
    p.locator("#item-form").get_by_label("Token").fill("x" * 20)
    p.get_by_role("button", name="Save", exact=True).click()
    ready.app.error("an item with that name already exists")
    p.get_by_role("button", name="Cancel").click()


def test_reserved_name_is_refused_clearly(ready: Story) -> None:
    """Bookkeeping names cannot be taken by an item, look-alikes included: an item named so
    would vanish from every listing (docs/format.md §6.6)."""
    p = ready.app.page
    before = ready.app.item_names()
    for name in (".zkvault-pins", "\u3000\uff0ezkvault-grants"):
        p.get_by_role("button", name="Add a credential").click()
        p.locator("#item-form").get_by_label("Name", exact=True).fill(name)
        p.locator("#item-form").get_by_label("Token").fill("x" * 20)
        p.get_by_role("button", name="Save", exact=True).click()
        ready.app.error("are reserved for zkvault's own records: choose another name")
        p.get_by_role("button", name="Cancel").click()
    assert ready.app.item_names() == before


def test_reveal_masks_again_and_copy_fills_clipboard(ready: Story) -> None:
    ready.ensure_items({**ready.items, "gitlab-deploy": None})
    app, token = ready.app, ready.secret("gitlab-deploy")
    row = app.row("gitlab-deploy")
    app.item_menu("gitlab-deploy", "Show token")
    app.page.wait_for_function(
        "t => document.querySelector('#items-body [data-item=\"gitlab-deploy\"]')"
        ".textContent.includes(t)",
        arg=token,
    )
    row.get_by_role("button", name="Hide token of gitlab-deploy").click()
    assert token not in (row.text_content() or "")
    row.get_by_role("button", name="Copy token of gitlab-deploy").click()
    app.notice("copied")
    assert app.page.evaluate("navigator.clipboard.readText()") == token
    app.page.clock.fast_forward(31_000)  # the clipboard is cleared after 30 s
    app.page.wait_for_function("async () => (await navigator.clipboard.readText()) === ''")


def _edit_gitlab_deploy(app: App) -> None:
    p = app.page
    app.item_menu("gitlab-deploy", "Edit")
    # The page never gets the token for editing: the field starts empty.
    assert p.locator("#item-form").get_by_label("Token").input_value() == ""
    p.locator("#item-form").get_by_label("Username").fill("deploy-bot")
    p.get_by_role("button", name="Save", exact=True).click()
    app.notice("Saved “gitlab-deploy”")
    app.page.wait_for_function(
        "() => document.querySelector('#items-body [data-item=\"gitlab-deploy\"]')"
        ".textContent.includes('deploy-bot')"
    )
    app.item_menu("gitlab-deploy", "Edit")
    p.locator("#item-form").get_by_label("Token").fill(TOKEN_2_NEW)
    p.get_by_role("button", name="Save", exact=True).click()
    app.notice("Saved “gitlab-deploy”")


def test_edit_keeps_or_replaces_the_token(ready: Story) -> None:
    ready.ensure_items({**ready.items, "gitlab-deploy": ORIGINAL})  # username "ada"
    _edit_gitlab_deploy(ready.app)
    ready.items["gitlab-deploy"] = EDITED


def test_remove_credential(ready: Story) -> None:
    ready.ensure_items({**SETTLED, "github-docs": None})
    app = ready.app
    app.item_menu("github-docs", "Remove")
    app.confirm_dialog("Remove")
    app.notice("Removed “github-docs”")
    del ready.items["github-docs"]
    assert app.item_names() == ["github-ci", "gitlab-deploy"]


def test_browser_vault_opens_in_native_vault_core(settled: Story) -> None:
    app = settled.app
    account_id, token = api_sign_in(app.server, app.idp, SUB)
    blob = b64d(httpx.get(f"{app.server.url}/api/vault", auth=token).json()["blob"])
    vault = Vault.open(blob, settled.passphrase, account_id=uuid.UUID(account_id))
    by_name = {i.name: i for i in vault.items()}
    assert set(by_name) == {"github-ci", "gitlab-deploy"}
    ci = vault.get(by_name["github-ci"].id)
    assert (ci.secret, ci.scopes, ci.expires, ci.note) == (
        TOKEN_1,
        ("repo", "read:org"),
        "2031-01-31",
        "for the CI",
    )
    gl = vault.get(by_name["gitlab-deploy"].id)
    assert (gl.secret, gl.username, gl.kind) == (TOKEN_2_NEW, "deploy-bot", "gitlab")
    with pytest.raises(errors.WrongPassphraseError):
        Vault.open(blob, _other(settled.passphrase), account_id=uuid.UUID(account_id))


def test_lock_then_wrong_passphrase_then_unlock(settled: Story) -> None:
    app = settled.app
    _set_idle_minutes(app, "5")  # the default, which an earlier test may have changed
    app.page.get_by_role("button", name="Add a credential").click()
    app.page.locator("#item-form").get_by_label("Token").fill("half-typed-secret-value")
    # Walked away with the form open (a modal: the Lock button is behind it): the idle
    # lock (5 min by default) fires and wipes it.
    app.page.clock.fast_forward(5 * 60_000 + 1_000)
    app.visible("unlock")
    assert app.page.locator("#item-secret").input_value() == ""  # wiped by the lock
    assert app.page.locator("#item-form").is_hidden()
    assert (
        app.page.locator("#items-body [data-item]").count() == 0
    )  # nothing decrypted remains shown
    app.unlock("not the right passphrase at all")
    app.error("Wrong passphrase.")
    # The Argon2id progress bar is shown while the key is derived, and hidden after.
    app.page.evaluate("""() => {
      window.__kdfShown = false;
      new MutationObserver(() => { if (!document.getElementById('kdf').hidden)
        window.__kdfShown = true; }).observe(document.getElementById('kdf'),
        {attributes: true});
    }""")
    app.unlock(settled.passphrase)
    app.visible("items")
    assert app.page.evaluate("window.__kdfShown") is True
    assert app.page.locator("#kdf").is_hidden()
    assert app.item_names() == ["github-ci", "gitlab-deploy"]


def _set_idle_minutes(app: App, minutes: str) -> None:
    app.go("Settings")
    app.page.get_by_label("Lock after this many idle minutes").select_option(minutes)
    app.go("Credentials")
    app.visible("items")


def test_auto_lock_after_idle_time(ready: Story) -> None:
    app = ready.app
    _set_idle_minutes(app, "1")
    app.page.clock.fast_forward(30_000)
    assert app.page.locator("#view-items").is_visible()  # still unlocked at 30 s
    app.page.keyboard.press("Shift")  # activity re-arms the timer
    app.page.clock.fast_forward(45_000)
    assert app.page.locator("#view-items").is_visible()
    app.page.clock.fast_forward(20_000)  # 65 s idle since the key press
    app.visible("unlock")
    app.notice("Locked after inactivity")
    app.unlock(ready.passphrase)
    app.visible("items")
    _set_idle_minutes(app, "15")


def _submit_passphrase_change(app: App, current: str, new: str) -> None:
    app.go("Settings")
    p = app.page
    p.get_by_label("Current passphrase").fill(current)
    p.get_by_label("New passphrase", exact=True).fill(new)
    p.get_by_label("Confirm new passphrase").fill(new)
    p.get_by_role("button", name="Change passphrase").click()


def test_change_passphrase(ready: Story) -> None:
    app, old = ready.app, ready.passphrase
    new = _other(old)
    before = ready.revision()
    _submit_passphrase_change(app, "wrong current passphrase", new)
    app.error("The current passphrase is wrong")
    _submit_passphrase_change(app, old, "password password")
    app.error("Too weak")
    _submit_passphrase_change(app, old, new)
    app.notice("Passphrase changed")
    ready.changed_passphrase(before, new)
    app.lock()
    app.unlock(old)
    app.error("Wrong passphrase.")
    app.unlock(new)
    app.visible("items")


def _open_revisions(app: App) -> Locator:
    """The Revisions section, listed afresh: rows left from an earlier visit are dropped
    first, so the wait below sees this visit's list, not a stale one."""
    app.page.evaluate("() => document.getElementById('history-body').replaceChildren()")
    app.go("Revisions")
    rows = app.page.locator("#history-body tr")
    rows.first.wait_for()
    return rows


def _restore_latest(app: App) -> int:
    """Restore the newest revision from the Revisions section; returns its number."""
    rows = _open_revisions(app)
    latest = int(rows.first.get_attribute("data-revision") or "0")
    app.page.get_by_role("button", name=f"View revision {latest}").click()
    app.page.wait_for_selector("#revision-details:not([hidden])")
    app.page.get_by_role("button", name="Restore this revision").click()
    app.notice(f"Restored the credentials of revision {latest} as revision {latest + 1}")
    return latest


def test_revisions_list_view_and_restore(settled: Story) -> None:
    settled.ensure_passphrase_changed()
    app = settled.app
    rows = _open_revisions(app)
    revisions = [int(r) for r in rows.evaluate_all("rs => rs.map(r => r.dataset.revision)")]
    assert revisions == sorted(revisions, reverse=True) and len(revisions) >= 5
    # A revision saved under an earlier passphrase opens too: the worker reads it with the
    # vault key it holds (the same for the vault's whole life), never with a passphrase.
    old = max(r for r, p in settled.superseded if p != settled.passphrase)
    app.page.get_by_role("button", name=f"View revision {old}").click()
    app.page.wait_for_selector(f"#revision-title:has-text('Revision {old}:')")
    latest = revisions[0]
    app.page.get_by_role("button", name=f"View revision {latest}").click()
    app.page.wait_for_selector("#revision-details:not([hidden])")
    assert "2 credential(s)" in (app.page.locator("#revision-title").text_content() or "")
    app.page.get_by_role("button", name="Restore this revision").click()
    app.notice(f"Restored the credentials of revision {latest} as revision {latest + 1}")
    settled.restored = True
    assert app.item_names() == ["github-ci", "gitlab-deploy"]


HISTORY_PAGE = 50  # web/history.js lists the kept revisions this many at a time


def _server_holds(app: App, token: DpopAuth) -> tuple[int, list[str]]:
    """The server's current revision, and the secrets it holds, opened with vault_core."""
    now = server_vault(app.server, token)
    vault = Vault.open(b64d(now["blob"]), STRONG, account_id=account_id_of(app.server, app.sub))
    try:
        held = sorted(vault.get(i.id).secret for i in vault.items() if not is_reserved(i.name))
    finally:
        vault.lock()
    return int(now["revision"]), held


def _save_garbage_over(app: App, count: int) -> int:
    """Someone holding stolen sessions of app's person saves `count` revisions of garbage
    behind a valid header over the vault, each session within its per-client write limit
    (30 a minute). Returns the revision the server then holds."""
    _, token = api_sign_in(app.server, app.idp, app.sub)
    head = server_vault(app.server, token)
    header = peek_header(b64d(head["blob"]))
    revision = int(head["revision"])
    while count > 0:
        _, stolen = api_sign_in(app.server, app.idp, app.sub)
        for _ in range(min(count, 25)):
            garbage = encode_public_header(
                header.account_id, header.vault_id, revision + 1
            ) + secrets.token_bytes(300)
            r = server_put_vault(app.server, stolen, revision, garbage)
            assert r.status_code == 200, r.text
            revision += 1
            count -= 1
    return revision


def test_every_kept_revision_pages_in_and_restores_over_a_flood_of_garbage(creator: App) -> None:
    """Issue 17's red team, seen from the browser: someone holding a stolen token saves a
    page's worth of garbage (valid headers) over the vault. The owner pages back to the
    last genuine revision and restores it on top, unread garbage and all."""
    app = creator
    app.create_vault(STRONG)
    app.add_item("github-ci", TOKEN_1)
    app.add_item("gitlab-deploy", TOKEN_2, kind="gitlab", url="https://gitlab.example.test")
    _, token = api_sign_in(app.server, app.idp, app.sub)
    genuine = int(server_vault(app.server, token)["revision"])
    revision = _save_garbage_over(app, HISTORY_PAGE + 2)
    rows = _open_revisions(app)
    newest = [int(r) for r in rows.evaluate_all("rs => rs.map(r => r.dataset.revision)")]
    assert newest == list(range(revision, revision - HISTORY_PAGE, -1))
    app.page.get_by_role("button", name="Older revisions").click()
    app.page.locator("#history-body tr[data-revision='1']").wait_for()
    listed = [int(r) for r in rows.evaluate_all("rs => rs.map(r => r.dataset.revision)")]
    assert listed == list(range(revision, 0, -1))
    assert app.page.get_by_role("button", name="Older revisions").is_hidden()
    app.page.get_by_role("button", name=f"View revision {genuine}", exact=True).click()
    app.page.wait_for_selector("#revision-details:not([hidden])")
    assert "2 credential(s)" in (app.page.locator("#revision-title").text_content() or "")
    app.page.get_by_role("button", name="Restore this revision").click()
    app.notice(f"Restored the credentials of revision {genuine} as revision {revision + 1}")
    assert app.item_names() == ["github-ci", "gitlab-deploy"]
    # What the server holds now is a genuine vault again, with both tokens.
    assert _server_holds(app, token) == (revision + 1, sorted([TOKEN_1, TOKEN_2]))


def test_a_vault_that_no_longer_opens_is_restored_from_the_unlock_screen(creator: App) -> None:
    """The same flood seen by a fresh page: the current revision does not open, so unlock
    fails and offers to restore the newest kept revision the passphrase opens."""
    app = creator
    app.create_vault(STRONG)
    app.add_item("github-ci", TOKEN_1)
    _, token = api_sign_in(app.server, app.idp, app.sub)
    genuine = int(server_vault(app.server, token)["revision"])
    revision = _save_garbage_over(app, 3)
    app.open("/")  # a fresh page and worker, signed in: the unlock screen
    app.visible("unlock")
    assert app.page.get_by_role("button", name="Restore the newest revision that opens").is_hidden()
    app.unlock(STRONG)
    app.page.get_by_role("button", name="Restore the newest revision that opens").click()
    app.notice(f"Restored the credentials of revision {genuine} as revision {revision + 1}")
    assert app.item_names() == ["github-ci"]
    assert _server_holds(app, token) == (revision + 1, [TOKEN_1])


def test_audit_trail_read_and_export(ready: Story) -> None:
    ready.ensure_restored()
    app = ready.app
    app.go("Audit trail")
    app.page.locator("#audit-body tr").first.wait_for()
    text = app.page.locator("#audit-body").text_content() or ""
    assert "sign-in" in text and "vault" in text
    with app.page.expect_download() as info:
        app.page.get_by_role("button", name="Export as JSON").click()
    exported = json.loads(info.value.path().read_text(encoding="utf-8"))
    assert exported["events"] and exported["head_hash"]
    assert any("restore" in e["tag"] for e in exported["events"])
    app.notice("Exported")
    app.go("Credentials")


def test_native_vault_opens_in_the_browser(app: App, browser: Browser) -> None:
    """The reverse direction: a vault written by native vault_core, unlocked in the page."""
    sub = "grace"
    account_id, token = api_sign_in(app.server, app.idp, sub)
    vault = Vault.create(uuid.UUID(account_id), STRONG)
    from vault_core import Item

    vault.add(
        Item(
            name="native-made",
            kind="git",
            url="https://git.example.test",
            secret=TOKEN_1,
            username="grace",
        )
    )
    r = httpx.put(
        f"{app.server.url}/api/vault",
        auth=token,
        json={"base_revision": 0, "blob": _b64e(vault.save())},
    )
    assert r.status_code == 200, r.text
    other = new_app(browser, app.server, app.idp)
    try:
        other.open("/")
        other.sign_in(sub)
        other.unlock(STRONG)
        other.visible("items")
        assert other.item_names() == ["native-made"]
        other.item_menu("native-made", "Show token")
        other.page.wait_for_function(
            "t => document.getElementById('items-body').textContent.includes(t)", arg=TOKEN_1
        )
        assert account_id_of(app.server, sub) == uuid.UUID(account_id)
    finally:
        other.context.close()


def _b64e(data: bytes) -> str:
    from tests.e2e.conftest import b64e

    return b64e(data)


def test_every_control_is_labelled_and_unlock_works_by_keyboard(ready: Story) -> None:
    app = ready.app
    unlabelled = app.page.evaluate("""() => [...document.querySelectorAll(
        'input, select, textarea, button')].filter(el =>
          !(el.labels && el.labels.length) && !el.getAttribute('aria-label') &&
          !(el.tagName === 'BUTTON' && el.textContent.trim())).map(el => el.id || el.outerHTML)""")
    assert unlabelled == []
    app.lock()
    # Keyboard only: the passphrase field has focus after locking; type and press Enter.
    assert app.page.evaluate("document.activeElement.id") == "unlock-pass"
    app.page.keyboard.type(ready.passphrase)
    app.page.keyboard.press("Enter")
    app.visible("items")
    app.page.locator("#item-new").focus()
    app.page.keyboard.press("Enter")
    # The form starts with the kind: it sets the host, hints and scopes that follow.
    assert app.page.evaluate("document.activeElement.id") == "item-kind"
    app.page.keyboard.press("Escape")  # closes the form, back where it was opened
    app.page.locator("#item-form").wait_for(state="hidden")
    assert app.page.evaluate("document.activeElement.id") == "item-new"


def test_no_foreign_requests_no_csp_violations_no_secrets_in_storage(traffic: Story) -> None:
    app = traffic.app
    assert app.rec.foreign() == []
    assert app.csp_violations() == []
    storage = app.page.evaluate("""async () => {
        const dump = {local: {...localStorage}, session: {...sessionStorage},
                      cookies: document.cookie, idb: []};
        for (const db of await indexedDB.databases()) dump.idb.push(db.name);
        const caches_ = await caches.keys();
        return JSON.stringify({...dump, caches: caches_});
    }""")
    for secret in SECRETS:
        assert secret not in storage
    # IndexedDB holds one thing: the browser's DPoP key pair, whose private half cannot
    # be exported, not even by the page (docs/web.md).
    assert json.loads(storage)["idb"] == ["zkvault-dpop"]
    key = app.page.evaluate("""async () => {
        const db = await new Promise((ok, no) => {
            const r = indexedDB.open('zkvault-dpop'); r.onsuccess = () => ok(r.result);
            r.onerror = () => no(r.error);
        });
        const pair = await new Promise((ok, no) => {
            const r = db.transaction('keys').objectStore('keys').get('browser');
            r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error);
        });
        db.close();
        let exported = true;
        try { await crypto.subtle.exportKey('jwk', pair.privateKey); }
        catch { exported = false; }
        return {extractable: pair.privateKey.extractable, exported,
                algorithm: pair.privateKey.algorithm.namedCurve};
    }""")
    assert key == {"extractable": False, "exported": False, "algorithm": "P-256"}
    # Cache Storage holds one thing: the build-time Pyodide snapshot, byte for byte as
    # built and served (packed: docs/web.md), so nothing from this session can be in it.
    assert json.loads(storage)["caches"] == ["zkvault-pyodide-snapshot"]
    cached = app.page.evaluate("""async () => {
        const cache = await caches.open('zkvault-pyodide-snapshot');
        const out = [];
        for (const req of await cache.keys()) {
          const bytes = await (await cache.match(req)).arrayBuffer();
          const digest = await crypto.subtle.digest('SHA-256', bytes);
          const hex = [...new Uint8Array(digest)].map(b => b.toString(16).padStart(2, '0'));
          out.push([new URL(req.url).pathname, hex.join('')]);
        }
        return out;
    }""")
    assert len(cached) == 1
    built = ROOT / "web" / "dist" / cached[0][0].lstrip("/")
    assert hashlib.sha256(built.read_bytes()).hexdigest() == cached[0][1]
    for url, _ in app.rec.requests:
        for secret in SECRETS:
            assert secret not in url


def test_breach_dump_holds_no_passphrase_or_token(traffic: Story) -> None:
    """Everything an attacker could take: each table, the server log, every request body
    the browser sent. None holds a passphrase or token in any common encoding."""
    app = traffic.app
    assert app.rec.bodies  # the recorder saw the uploads (so this can fail)
    dump = [app.server.log.read_bytes(), *app.rec.bodies]
    with sqlite3.connect(app.server.database) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                dump.append(repr(row).encode())
                dump.extend(v for v in row if isinstance(v, bytes))
    blob = b"\n".join(dump)
    assert b"ZKVT" in blob  # the vault ciphertext is in there
    assert scan({"dump": blob}, {f"secret {i}": s for i, s in enumerate(SECRETS)}) == []


def test_sign_out_ends_the_session(ready: Story) -> None:
    app = ready.app
    app.page.get_by_role("button", name="Sign out").click()
    app.visible("signin")
    assert app.page.locator("#nav").is_hidden()
    # The refresh cookie is gone and the server revoked the session: a refresh fails.
    r = app.page.request.post(
        f"{app.server.url}/auth/refresh", headers={"X-CSRF-Token": "anything"}
    )
    assert r.status in (401, 403)
    assert not [c for c in app.context.cookies() if "refresh" in c["name"]]
