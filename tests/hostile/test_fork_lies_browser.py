"""The web app against a server that shows browsers different histories of one vault
(docs/web.md, "Forks, fresh browsers and revocations"): a fork between two profiles, a
revision number reused for other content, a stale revision shown to a browser new to the
vault, a revoked runner brought back by an older revision, and pairings under a revoked
key or id. Each is refused with its documented code, shown in the page, and nothing is
saved, sealed or approved while lied to.

Every vault here is written by the web app itself or by vault_core with the person's key
(another device of theirs): the hostile side only chooses which genuine revision each
browser is shown, and what its answers say."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser

from tests.e2e.conftest import App, new_app, poll, request_pairing
from tests.hostile import lies
from tests.hostile.stage import Person, Stage, sign_in
from tests.support.httpproxy import Answer, Lie, Request
from tests.support.report import record
from vault_core import Item, RunnerKeyPair, Vault
from vault_core.lineage import Device

pytestmark = pytest.mark.slow


@dataclass
class Owner:
    person: Person  # the same account over the API (no lie: what the server holds)
    app: App  # the browser profile that created the vault


def _browser(stage: Stage, browser: Browser, person: Person) -> App:
    app = new_app(browser, stage.public, stage.idp)
    app.open("/")
    app.sign_in(person.sub)
    app.wait_engine()
    return app


def _owner(stage: Stage, browser: Browser, label: str) -> Owner:
    person = sign_in(stage, label)
    stage.secrets[f"{label} passphrase"] = person.passphrase
    app = _browser(stage, browser, person)
    app.create_vault(person.passphrase)
    return Owner(person, app)


def _token(label: str, stage: Stage) -> str:
    token = "ghp_" + secrets.token_urlsafe(27)
    stage.secrets[f"token {label}"] = token
    return token


def _code(app: App) -> str:
    return str(app.page.locator("#error").get_attribute("data-code"))


def _unlock(app: App, passphrase: str) -> str:
    """Submit the passphrase: the error code the page shows, or ok."""
    app.page.evaluate("document.getElementById('error').hidden = true")
    app.unlock(passphrase)
    app.page.wait_for_selector("#error:not([hidden]), #view-items:not([hidden])", timeout=60_000)
    return "ok" if app.page.locator("#view-items").is_visible() else _code(app)


def _try_add(app: App, name: str, secret: str) -> str:
    """Add a credential; "ok" once it is saved, else the error code the page shows."""
    page = app.page
    app.go("Credentials")
    page.evaluate("for (const id of ['error', 'notice']) document.getElementById(id).hidden = true")
    page.get_by_role("button", name="Add a credential").click()
    page.locator("#item-form").get_by_label("Name", exact=True).fill(name)
    page.locator("#item-form").get_by_label("Token").fill(secret)
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_selector("#error:not([hidden]), #notice:not([hidden])", timeout=60_000)
    if page.locator("#error").is_visible():
        page.keyboard.press("Escape")
        return _code(app)
    return "ok"


def _accept_every_write(vault_id: str) -> Lie:
    """PUT /api/vault answered "stored" whatever the server said (it refused a write on a
    base it does not hold): the browser is kept on a branch of its own."""

    def rewrite(request: Request, answer: Answer) -> None:
        body = request.json()
        blob = lies.b64d(body["blob"])
        answer.status = 200
        answer.set_json(
            {
                "vault_id": vault_id,
                "revision": int(body["base_revision"]) + 1,
                "size": len(blob),
                "updated_at": "2030-01-01T00:00:00Z",
                "sha256": hashlib.sha256(blob).hexdigest(),
            }
        )

    return Lie("a write on another branch taken", "PUT", "/api/vault", rewrite)


def _serve_vault(name: str, answer: dict[str, Any]) -> Lie:
    """GET /api/vault answered with ``answer`` (a genuine revision the server kept)."""
    return lies.json_body(name, "GET", "/api/vault", lambda body: answer)


def _revision(person: Person, revision: int) -> dict[str, Any]:
    """A kept revision as GET /api/vault would serve it."""
    current = person.stored()
    got = person.call("GET", f"/api/vault/history/{revision}")
    assert got.status_code == 200, got.text
    blob = lies.b64d(got.json()["blob"])
    return {
        **current,
        "revision": revision,
        "blob": got.json()["blob"],
        "size": len(blob),
        "sha256": hashlib.sha256(blob).hexdigest(),
    }


def _sent_since(stage: Stage, mark: int, method: str, path: str) -> int:
    """Requests the browser sent through the proxy since ``mark`` (an exchange count)."""
    pattern = re.compile(path)
    return sum(
        1
        for e in stage.proxy.exchanges[mark:]
        if e.request.method == method and pattern.fullmatch(e.request.path)
    )


def _look_up(app: App, code: str) -> None:
    app.go("Approve a pairing")
    app.page.get_by_label("Pairing code").fill(code)
    app.page.get_by_role("button", name="Look up").click()
    app.page.wait_for_selector("#pair-details:not([hidden])")


def _approve(app: App, code: str) -> str:
    """Look the code up and approve it: "ok" once approved, else the error code shown."""
    _look_up(app, code)
    app.page.evaluate(
        "for (const id of ['error', 'notice']) document.getElementById(id).hidden = true"
    )
    app.page.get_by_role("button", name="Approve", exact=True).click()
    app.page.wait_for_selector("#error:not([hidden]), #notice:not([hidden])", timeout=60_000)
    return _code(app) if app.page.locator("#error").is_visible() else "ok"


@pytest.fixture
def closing() -> Iterator[list[App]]:
    apps: list[App] = []
    try:
        yield apps
    finally:
        for app in apps:
            app.context.close()


def test_a_fork_between_two_browsers_is_refused_where_the_write_vanished(
    stage: Stage, browser: Browser, closing: list[App]
) -> None:
    owner = _owner(stage, browser, "fork")
    closing.append(owner.app)
    assert _try_add(owner.app, "shared", _token("shared", stage)) == "ok"
    second = _browser(stage, browser, owner.person)
    closing.append(second)
    assert _unlock(second, owner.person.passphrase) == "ok"
    second.confirm_vault()
    # The first profile writes; the second is kept on the revision before and its own
    # write is "taken" on a branch the server keeps from everyone else.
    assert _try_add(owner.app, "first-profile", _token("first", stage)) == "ok"
    genuine = owner.person.stored()
    with stage.proxy.telling(_accept_every_write(genuine["vault_id"])):
        assert _try_add(second, "second-profile", _token("second", stage)) == "ok"
    # The views meet: the second profile is shown the first one's history, in which its
    # write never happened.
    on_edit = _try_add(second, "after-the-views-meet", _token("after", stage))
    text = second.page.locator("#error").text_content() or ""
    second.lock()
    on_unlock = _unlock(second, owner.person.passphrase)
    owner.app.lock()
    first = _unlock(owner.app, owner.person.passphrase)  # its writes are all there: no fork
    unchanged = owner.person.stored()["sha256"] == genuine["sha256"]
    record(
        "hostile server",
        "fork between two browser profiles (browser)",
        tried=1,
        refused=int(on_edit == "fork" and on_unlock == "fork"),
        lost=int(first != "ok" or not unchanged),
    )
    assert on_edit == "fork" and on_unlock == "fork", (on_edit, on_unlock)
    assert "compromised" in text and "another device" in text
    assert first == "ok" and "first-profile" in owner.app.item_names()
    assert unchanged, "the forked profile saved something"


def test_the_same_revision_number_with_other_content_is_a_fork(
    stage: Stage, browser: Browser, closing: list[App]
) -> None:
    owner = _owner(stage, browser, "samerev")
    closing.append(owner.app)
    assert _try_add(owner.app, "mine", _token("mine", stage)) == "ok"  # revision 2
    # Another device of the person's, shown revision 1, wrote its own revision 2.
    base = lies.b64d(_revision(owner.person, 1)["blob"])
    laptop = Vault.open(
        base,
        owner.person.passphrase,
        account_id=uuid.UUID(owner.person.account_id),
        device=Device(secrets.token_hex(16), "Other laptop"),
    )
    laptop.add(Item(name="theirs", kind="generic", url="", secret=_token("theirs", stage)))
    other = laptop.save()
    laptop.lock()
    genuine = owner.person.stored()
    assert genuine["revision"] == 2
    served = {**genuine, "blob": lies.b64e(other), "sha256": hashlib.sha256(other).hexdigest()}
    with stage.proxy.telling(_serve_vault("revision 2 with other content", served)):
        owner.app.lock()
        got = _unlock(owner.app, owner.person.passphrase)
    after = _unlock(owner.app, owner.person.passphrase)
    unchanged = owner.person.stored()["sha256"] == genuine["sha256"]
    record(
        "hostile server",
        "same revision number, other content (browser)",
        tried=1,
        refused=int(got == "fork"),
        lost=int(after != "ok" or not unchanged),
    )
    assert got == "fork"
    assert after == "ok" and "mine" in owner.app.item_names() and unchanged


def test_a_stale_revision_shown_to_a_new_browser_seals_nothing_until_confirmed(
    stage: Stage, browser: Browser, closing: list[App]
) -> None:
    owner = _owner(stage, browser, "stale")
    closing.append(owner.app)
    assert _try_add(owner.app, "deploy", _token("deploy", stage)) == "ok"  # revision 2
    # Revision 3, long ago, by another device of the person's: the one a server could
    # replay to a new browser as if it were the latest.
    current = owner.person.stored()
    laptop = Vault.open(
        lies.b64d(current["blob"]),
        owner.person.passphrase,
        account_id=uuid.UUID(owner.person.account_id),
        device=Device(secrets.token_hex(16), "Old laptop"),
    )
    laptop.clock = lambda: "2024-03-01T09:30:00Z"
    laptop.add(Item(name="old-item", kind="generic", url="", secret=_token("old", stage)))
    owner.person.save(laptop)
    laptop.lock()
    assert _try_add(owner.app, "newer", _token("newer", stage)) == "ok"  # merged: revision 4
    stale = _revision(owner.person, 3)
    machine = request_pairing(stage.public, "machine", "stale-laptop")
    with stage.proxy.telling(_serve_vault("a stale revision to a new browser", stale)):
        fresh = _browser(stage, browser, owner.person)
        closing.append(fresh)
        assert _unlock(fresh, owner.person.passphrase) == "ok"
        banner = fresh.page.locator("#fresh")
        banner.wait_for(state="visible")
        shown = banner.text_content() or ""
        saved_at = banner.get_attribute("data-saved-at")
        mark = len(stage.proxy.exchanges)
        before = _approve(fresh, machine["code"])
        approvals = _sent_since(stage, mark, "POST", "/api/pairings/approve")
        pending = poll(stage.public, machine)["status"]
        fresh.confirm_vault()
        after = _approve(fresh, machine["code"])
    record(
        "hostile server",
        "stale revision to a new browser: nothing approved before confirming (browser)",
        tried=1,
        refused=int(before == "unconfirmed" and approvals == 0 and pending == "pending"),
    )
    assert saved_at == "2024-03-01T09:30:00Z"
    assert "Old laptop" in shown and "2024" in shown and "not seen this vault before" in shown
    assert before == "unconfirmed" and approvals == 0 and pending == "pending"
    assert after == "ok" and poll(stage.public, machine)["status"] == "approved"


def _enrol_runner(stage: Stage, owner: Owner, name: str) -> tuple[str, bytes]:
    """A runner pairing approved in the owner's browser: its id and key."""
    key = RunnerKeyPair.generate().public_key
    pairing = request_pairing(stage.public, "runner", name, key)
    assert _approve(owner.app, pairing["code"]) == "ok"
    assert poll(stage.public, pairing)["status"] == "approved"
    return str(pairing["pairing_id"]), key


def _revoke(app: App, kind: str, name: str) -> None:
    app.go("Machines & runners")
    app.page.get_by_role("button", name=f"Revoke {name}").click()
    app.confirm_dialog("Revoke")
    app.notice(f"Revoked “{name}”")
    app.page.locator(f'#{kind}s-body [data-{kind}="{name}"] [data-revoked]').wait_for()


def test_a_revoked_runner_brought_back_by_an_old_revision_gets_no_seal(
    stage: Stage, browser: Browser, closing: list[App]
) -> None:
    owner = _owner(stage, browser, "revived")
    closing.append(owner.app)
    assert _try_add(owner.app, "deploy", _token("deploy v1", stage)) == "ok"
    runner_id, _ = _enrol_runner(stage, owner, "ci-old")
    owner.app.go("Machines & runners")
    owner.app.page.get_by_role("button", name="Grant items to ci-old").click()
    owner.app.page.get_by_role("checkbox", name="deploy", exact=True).check()
    owner.app.page.get_by_role("button", name="Save grant").click()
    owner.app.notice("Granted 1 item(s) to “ci-old”")
    before_revocation = owner.person.stored()
    _revoke(owner.app, "runner", "ci-old")
    # Rotated after the revocation (the old token may have leaked with the runner).
    owner.app.go("Credentials")
    owner.app.item_menu("deploy", "Edit")
    owner.app.page.locator("#item-form").get_by_label("Token").fill(_token("deploy v2", stage))
    owner.app.page.get_by_role("button", name="Save", exact=True).click()
    owner.app.notice("Saved “deploy”")
    # A new browser is shown the revision from before the revocation, the runner listed
    # as active again, and its writes taken on that branch.
    revived = lies.each_runner(
        "the revoked runner listed as active", lambda r: {**r, "revoked_at": None}
    )
    told = (
        _serve_vault("the revision before the revocation", before_revocation),
        revived,
        _accept_every_write(before_revocation["vault_id"]),
    )
    with stage.proxy.telling(*told):
        fresh = _browser(stage, browser, owner.person)
        closing.append(fresh)
        assert _unlock(fresh, owner.person.passphrase) == "ok"
        mark = len(stage.proxy.exchanges)
        fresh.go("Credentials")
        fresh.item_menu("deploy", "Edit")
        fresh.page.locator("#item-form").get_by_label("Token").fill(_token("deploy v3", stage))
        fresh.page.get_by_role("button", name="Save", exact=True).click()
        text = fresh.error("Not resealed for “ci-old”")
        code = _code(fresh)
        sealed = _sent_since(stage, mark, "PUT", f"/api/runners/{runner_id}/grant")
    record(
        "hostile server",
        "revoked runner brought back by an old revision (browser)",
        tried=1,
        refused=int(code == "unconfirmed" and sealed == 0),
    )
    assert code == "unconfirmed", text
    assert sealed == 0, "a grant was sealed to the revoked runner"


def test_approvals_under_a_revoked_key_or_id_are_refused(
    stage: Stage, browser: Browser, closing: list[App]
) -> None:
    owner = _owner(stage, browser, "revoked")
    closing.append(owner.app)
    runner_id, runner_key = _enrol_runner(stage, owner, "ci-gone")
    laptop_key = secrets.token_bytes(32)
    laptop = request_pairing(stage.public, "machine", "laptop-gone", laptop_key)
    assert _approve(owner.app, laptop["code"]) == "ok"
    assert poll(stage.public, laptop)["status"] == "approved"
    _revoke(owner.app, "runner", "ci-gone")
    _revoke(owner.app, "machine", "laptop-gone")
    attempts = {
        "runner, revoked key": request_pairing(stage.public, "runner", "ci-again", runner_key),
        "machine, revoked key": request_pairing(
            stage.public, "machine", "laptop-again", laptop_key
        ),
    }
    got = {what: _approve(owner.app, p["code"]) for what, p in attempts.items()}
    # A new key presented under the revoked runner's id.
    under_id = request_pairing(
        stage.public, "runner", "ci-same-id", RunnerKeyPair.generate().public_key
    )
    same_id = lies.json_body(
        "a pairing under the revoked runner's id",
        "POST",
        "/api/pairings/lookup",
        lambda body: {**body, "pairing_id": runner_id},
    )
    with stage.proxy.telling(same_id):
        got["runner, revoked id"] = _approve(owner.app, under_id["code"])
    pending = [poll(stage.public, p)["status"] for p in (*attempts.values(), under_id)]
    # The server lists the revoked runner as active again: the page says it was revoked.
    revived = lies.each_runner(
        "the revoked runner listed as active", lambda r: {**r, "revoked_at": None}
    )
    with stage.proxy.telling(revived):
        owner.app.go("Credentials")
        owner.app.go("Machines & runners")
        card = owner.app.page.locator('#runners-body [data-runner="ci-gone"]')
        card.locator("[data-revoked-mismatch]").wait_for()
        grantable = card.get_by_role("button", name="Grant items to ci-gone").count()
    record(
        "hostile server",
        "approval under a revoked key or id (browser)",
        tried=len(got),
        refused=sum(code == "key_revoked" for code in got.values()),
    )
    assert got == dict.fromkeys(got, "key_revoked"), got
    assert pending == ["pending"] * 3
    assert grantable == 0
