"""Machines and runners from the browser: pairing approval by code and by one-time link,
refusal, rename and revoke, and runner grants sealed in the worker and opened natively.

Pairings are created over HTTP exactly as the CLI does (POST /api/pairings, then poll).
"""

from __future__ import annotations

import secrets
import sqlite3
import uuid
from typing import Any

import httpx
import pytest

from native.pairing import link
from tests.e2e.conftest import STRONG, App, b64d, b64e, poll, request_pairing
from tests.support.report import record
from vault_core import RunnerKeyPair, errors, fingerprint, open_grant

SUB = "linus"
DEPLOY_TOKEN = "ghp_deploy_" + "Q7w8E9r0T1y2U3i4" * 2
OTHER_TOKEN = "glpat-other-" + "m4N5b6V7c8X9z0L1" * 2
DEPLOY_TOKEN_NEW = "ghp_rotated_" + "k2J3h4G5f6D7s8A9" * 2


@pytest.fixture(scope="module")
def vault(app: App) -> App:
    """Linus's vault, made once for the module: "deploy" (GitHub) and "other" (GitLab)."""
    app.open("/")
    app.sign_in(SUB, name="Linus")
    app.wait_engine()
    app.create_vault(STRONG)
    app.add_item("deploy", DEPLOY_TOKEN)
    app.add_item("other", OTHER_TOKEN, kind="gitlab", url="https://gitlab.example.test")
    return app


@pytest.fixture
def ready(vault: App) -> App:
    """Each test starts unlocked on the credentials, whatever ran before it."""
    vault.ensure_unlocked(SUB, STRONG)
    return vault


def test_approve_machine_by_code(ready: App) -> None:
    app = ready
    key = secrets.token_bytes(32)
    pairing = request_pairing(app.server, "machine", "ada-laptop", key)
    app.go("Approve a pairing")
    app.page.get_by_label("Pairing code").fill("nope")
    app.page.get_by_role("button", name="Look up").click()
    app.error("A pairing code looks like ABCDE-FGHIJ")
    app.page.get_by_label("Pairing code").fill("ZZZZZ-ZZZZZ")
    app.page.get_by_role("button", name="Look up").click()
    app.error("No pending pairing has that code")
    app.page.get_by_label("Pairing code").fill(pairing["code"].lower())  # forgiving input
    app.page.get_by_label("Pairing code").press("Enter")
    app.page.wait_for_selector("#pair-details:not([hidden])")
    # Computed in the worker from the key, as the CLI computes it from its own.
    assert app.page.locator("#pair-fingerprint").text_content() == fingerprint("machine", key)
    assert app.page.locator("#pair-check").get_attribute("data-verified") == "compare"
    assert app.page.locator("#pair-owner-fingerprint").is_hidden()  # runners only
    assert app.page.locator("#pair-name").text_content() == "ada-laptop"
    assert poll(app.server, pairing)["status"] == "pending"
    app.page.get_by_label("Name it").fill("Ada's laptop")
    app.page.get_by_role("button", name="Approve", exact=True).click()
    app.notice("Approved “Ada's laptop”")
    got = poll(app.server, pairing)
    assert got["status"] == "approved" and got["refresh_token"].startswith("zkv_rt_")
    # The machine can now read the (encrypted) vault.
    r = httpx.get(f"{app.server.url}/api/vault", auth=got["dpop"].auth(got["access_token"]))
    assert r.status_code == 200


def test_refuse_by_one_time_link(ready: App) -> None:
    app = ready
    pairing = request_pairing(app.server, "machine", "unknown-box")
    assert pairing["url"].endswith(f"/pair#code={pairing['code']}")
    app.open("/")  # a fresh page, so the link below loads the app anew, locked
    app.page.goto(pairing["url"].replace("http://127.0.0.1:8000", app.server.url))
    # The unlock form says what it is for.
    app.visible("unlock")
    waiting = app.page.locator("#unlock-pairing")
    waiting.wait_for()
    assert "pairing request is waiting" in (waiting.text_content() or "")
    app.unlock(STRONG)
    app.page.wait_for_selector("#pair-details:not([hidden])")
    assert "#code=" not in app.page.url  # the code left the address bar at once
    assert app.page.locator("#pair-name").text_content() == "unknown-box"
    app.page.get_by_role("button", name="Refuse", exact=True).click()
    app.notice("Refused the pairing request from “unknown-box”")
    assert poll(app.server, pairing)["status"] == "refused"


def test_approve_by_link_then_list_rename_revoke(ready: App) -> None:
    app = ready
    pairing = request_pairing(app.server, "machine", "build-box")
    # Already on /pair and unlocked: following the link only changes the fragment.
    if app.page.url != f"{app.server.url}/pair":
        app.open("/pair")
        app.unlock(STRONG)
        app.visible("items")
    app.page.goto(pairing["url"].replace("http://127.0.0.1:8000", app.server.url))
    app.page.wait_for_selector("#pair-details:not([hidden])")
    app.page.get_by_role("button", name="Approve", exact=True).click()
    app.notice("Approved “build-box”")
    machine = poll(app.server, pairing)
    token = machine["dpop"].auth(machine["access_token"])

    app.go("Machines & runners")
    rows = app.page.locator("#machines-body [data-machine]")
    rows.first.wait_for()
    names = rows.evaluate_all("rs => rs.map(r => r.dataset.machine)")
    assert "build-box" in names
    app.prompt_answer = "ci-box-1"
    app.page.get_by_role("button", name="Rename build-box").click()
    app.notice("Renamed to “ci-box-1”")
    app.page.locator('#machines-body [data-machine="ci-box-1"]').wait_for()
    app.page.get_by_role("button", name="Revoke ci-box-1").click()
    app.confirm_dialog("Revoke")
    app.notice("Revoked “ci-box-1”")
    app.page.locator('#machines-body [data-machine="ci-box-1"]', has_text="revoked").wait_for()
    r = httpx.get(f"{app.server.url}/api/vault", auth=token)
    assert r.status_code == 401  # revocation takes effect on the machine's next request


def test_runner_enrolment_and_grant_opened_natively(ready: App) -> None:
    app = ready
    keys = RunnerKeyPair.generate()
    pairing = request_pairing(app.server, "runner", "ci-runner", keys.public_key)
    app.go("Approve a pairing")
    app.page.get_by_label("Pairing code").fill(pairing["code"])
    app.page.get_by_role("button", name="Look up").click()
    app.page.wait_for_selector("#pair-details:not([hidden])")
    assert "Runner" in (app.page.locator("#pair-kind").text_content() or "")
    shown = app.page.locator("#pair-fingerprint").text_content()
    assert shown == fingerprint("runner", keys.public_key)
    owner_shown = app.page.locator("#pair-owner-fingerprint").text_content()
    app.page.get_by_role("button", name="Approve", exact=True).click()
    app.notice("Approved “ci-runner”")
    enrolled = poll(app.server, pairing)
    assert enrolled["status"] == "approved" and enrolled["runner_credential"]
    runner_id = uuid.UUID(enrolled["client_id"])
    assert runner_id == uuid.UUID(pairing["pairing_id"])  # the id its key is pinned under
    account_id = uuid.UUID(enrolled["account_id"])
    owner_key = b64d(enrolled["grant_public_key"])
    assert owner_shown == fingerprint("owner-grant", owner_key)  # computed in the worker

    app.go("Machines & runners")
    app.page.get_by_role("button", name="Grant items to ci-runner").click()
    app.page.get_by_role("checkbox", name="deploy", exact=True).check()
    app.page.get_by_role("button", name="Save grant").click()
    app.notice("Granted 1 item(s) to “ci-runner”, sealed to its key")

    grant = _runner_grant(app, enrolled)
    opened = open_grant(
        b64d(grant["blob"]),
        keys,
        account_id=account_id,
        runner_id=runner_id,
        owner_verify_key=owner_key,
    )
    assert [g.item.name for g in opened.items] == ["deploy"]
    assert opened.items[0].item.secret == DEPLOY_TOKEN
    # Sealed to this runner's key only.
    try:
        open_grant(
            b64d(grant["blob"]),
            RunnerKeyPair.generate(),
            account_id=account_id,
            runner_id=runner_id,
            owner_verify_key=owner_key,
        )
        raise AssertionError("a grant opened with another runner's key")
    except errors.GrantAuthError:
        pass

    # Rotating a granted token reseals the grant at once.
    app.go("Credentials")
    app.item_menu("deploy", "Edit")
    app.page.locator("#item-form").get_by_label("Token").fill(DEPLOY_TOKEN_NEW)
    app.page.get_by_role("button", name="Save", exact=True).click()
    # One notice says both: what the person did, and the reseal it caused.
    app.notice("Saved “deploy”. Updated the grants of 1 runner(s) too.")
    regrant = _runner_grant(app, enrolled)
    reopened = open_grant(
        b64d(regrant["blob"]),
        keys,
        account_id=account_id,
        runner_id=runner_id,
        owner_verify_key=owner_key,
        min_revision=opened.revision + 1,
    )
    assert reopened.items[0].item.secret == DEPLOY_TOKEN_NEW

    # The server lies at a later reseal: it now lists another key for the runner (one
    # column in its database). The edit is saved; the reseal to that key is refused with a
    # warning, and the stored grant is still the one sealed to the pinned key.
    attacker = RunnerKeyPair.generate()
    _set_client_key(app, runner_id, attacker.public_key)
    app.go("Credentials")
    app.item_menu("deploy", "Edit")
    app.page.locator("#item-form").get_by_label("Token").fill(DEPLOY_TOKEN + "-3")
    app.page.get_by_role("button", name="Save", exact=True).click()
    text = app.error("the server presented a different key for this runner")
    reseal_code = app.page.locator("#error").get_attribute("data-code")
    after_reseal = _runner_grant(app, enrolled)
    app.go("Machines & runners")
    warn = app.page.locator('#runners-body [data-runner="ci-runner"] [data-key-mismatch]')
    warn.wait_for()
    warning = warn.text_content() or ""
    # Granting by hand is refused the same way.
    app.page.get_by_role("button", name="Grant items to ci-runner").click()
    app.page.get_by_role("checkbox", name="other", exact=True).check()
    app.page.get_by_role("button", name="Save grant").click()
    app.error("the server presented a different key for this runner")
    grant_code = app.page.locator("#error").get_attribute("data-code")
    app.page.keyboard.press("Escape")  # the refusal is shown in the dialog too; close it
    after_grant = _runner_grant(app, enrolled)
    # Refused: the page said so with its code, and nothing was sealed or uploaded.
    refusals = [
        reseal_code == "key_mismatch" and after_reseal == regrant,
        grant_code == "key_mismatch" and after_grant == regrant,
    ]
    record(
        "hostile server (keys)",
        "runner key substituted at reseal",
        tried=len(refusals),
        refused=sum(refusals),
    )
    assert all(refusals), (reseal_code, grant_code)
    assert fingerprint("runner", attacker.public_key) in text
    assert fingerprint("runner", keys.public_key) in text
    assert "WARNING" in warning
    _assert_not_opened_by(after_grant, attacker, account_id, runner_id, owner_key)
    _set_client_key(app, runner_id, keys.public_key)

    # Revoking the runner deletes its grant.
    app.go("Machines & runners")
    app.page.get_by_role("button", name="Revoke ci-runner").click()
    app.confirm_dialog("Revoke")
    app.notice("Revoked “ci-runner”")
    r = httpx.post(
        f"{app.server.url}/auth/token",
        json={"grant_type": "runner_credential", "credential": enrolled["runner_credential"]},
    )
    assert r.status_code == 401


def test_link_opened_while_signed_out_survives_sign_in(ready: App) -> None:
    app = ready
    from tests.e2e.conftest import new_app

    pairing = request_pairing(app.server, "machine", "fresh-laptop")
    other = new_app(app.page.context.browser, app.server, app.idp)  # type: ignore[arg-type]
    try:
        other.page.goto(pairing["url"].replace("http://127.0.0.1:8000", app.server.url))
        other.visible("signin")
        other.notice("Sign in to approve the pairing.")
        assert "#code=" not in other.page.url
        other.sign_in(SUB)
        other.unlock(STRONG)
        other.page.wait_for_selector("#pair-details:not([hidden])")
        assert other.page.locator("#pair-name").text_content() == "fresh-laptop"
        assert other.page.evaluate("sessionStorage.length") == 0  # the parked code is gone
        # A browser new to the vault approves nothing until the person confirmed it.
        other.page.get_by_role("button", name="Approve", exact=True).click()
        other.error("This browser has not seen this vault before")
        assert other.page.locator("#error").get_attribute("data-code") == "unconfirmed"
        other.confirm_vault()
        other.page.get_by_role("button", name="Approve", exact=True).click()
        other.notice("Approved “fresh-laptop”")
        assert poll(app.server, pairing)["status"] == "approved"
        assert other.rec.foreign() == [] and other.csp_violations() == []
    finally:
        other.context.close()


def test_runner_key_substituted_at_approval_is_never_sealed_to(ready: App) -> None:
    """The person approved key A (the fingerprint the runner printed); the server creates
    the runner with key B. The first grant is refused and nothing reaches the server."""
    app = ready
    keys, attacker = RunnerKeyPair.generate(), RunnerKeyPair.generate()
    pairing = request_pairing(app.server, "runner", "ci-swapped", keys.public_key)
    app.go("Approve a pairing")
    app.page.get_by_label("Pairing code").fill(pairing["code"])
    app.page.get_by_role("button", name="Look up").click()
    app.page.wait_for_selector("#pair-details:not([hidden])")
    assert app.page.locator("#pair-fingerprint").text_content() == fingerprint(
        "runner", keys.public_key
    )
    app.page.get_by_role("button", name="Approve", exact=True).click()
    app.notice("Approved “ci-swapped”")
    with sqlite3.connect(app.server.database) as db:  # the lie, before the runner claims
        db.execute(
            "UPDATE pairings SET public_key = ? WHERE id = ?",
            (b64e(attacker.public_key), uuid.UUID(pairing["pairing_id"]).hex),
        )
    enrolled = poll(app.server, pairing)
    app.go("Machines & runners")
    row = app.page.locator('#runners-body [data-runner="ci-swapped"]')
    row.locator("[data-key-mismatch]").wait_for()
    app.page.get_by_role("button", name="Grant items to ci-swapped").click()
    app.page.get_by_role("checkbox", name="deploy", exact=True).check()
    app.page.get_by_role("button", name="Save grant").click()
    app.error("Nothing was sealed to it")
    assert app.page.locator("#error").get_attribute("data-code") == "key_mismatch"
    app.page.keyboard.press("Escape")  # the refusal is shown in the dialog too; close it
    token = httpx.post(
        f"{app.server.url}/auth/token",
        json={"grant_type": "runner_credential", "credential": enrolled["runner_credential"]},
        auth=enrolled["dpop"].auth(),
    ).json()["access_token"]
    r = httpx.get(f"{app.server.url}/api/runner/grant", auth=enrolled["dpop"].auth(token))
    refused = int(r.status_code == 404 and r.json()["code"] == "no_grant")  # nothing uploaded
    record("hostile server (keys)", "runner key substituted at approval", tried=1, refused=refused)
    assert refused == 1, r.text
    app.page.get_by_role("button", name="Revoke ci-swapped").click()
    app.confirm_dialog("Revoke")
    app.notice("Revoked “ci-swapped”")


def test_link_refuses_a_key_other_than_the_one_it_names(ready: App) -> None:
    """The one-time link carries the enrolling key's fingerprint; the server hands the
    browser another key for the code: the page refuses by itself, there is nothing to
    approve. Typed instead, the code shows the fingerprint of the key the server handed
    over (the person, comparing, refuses: the test's click, not counted as the page's)."""
    app = ready
    # Already on /pair and unlocked, following a link only changes the fragment (any
    # other page would load anew, locked).
    if app.page.url != f"{app.server.url}/pair":
        app.open("/pair")
        app.unlock(STRONG)
        app.visible("items")
    refusals = []
    for kind in ("machine", "runner"):
        key, swapped = secrets.token_bytes(32), secrets.token_bytes(32)
        pairing = request_pairing(app.server, kind, f"linked-{kind}", key)
        url = link(pairing["url"], pairing["code"], fingerprint(kind, key), pairing["pairing_id"])
        with sqlite3.connect(app.server.database) as db:
            db.execute(
                "UPDATE pairings SET public_key = ? WHERE id = ?",
                (b64e(swapped), uuid.UUID(pairing["pairing_id"]).hex),
            )
        app.page.goto(url.replace("http://127.0.0.1:8000", app.server.url))
        text = app.error("is not the one your link names")
        refusals.append(
            app.page.locator("#error").get_attribute("data-code") == "pairing_key_mismatch"
            and app.page.locator("#pair-details").is_hidden()
            and poll(app.server, pairing)["status"] == "pending"  # never approved
        )
        assert fingerprint(kind, swapped) in text and fingerprint(kind, key) in text
        assert "fp=" not in app.page.url and "#code=" not in app.page.url
        app.page.get_by_label("Pairing code").fill(pairing["code"])
        app.page.get_by_role("button", name="Look up").click()
        app.page.wait_for_selector("#pair-details:not([hidden])")
        shown = app.page.locator("#pair-fingerprint").text_content()
        assert shown == fingerprint(kind, swapped) != fingerprint(kind, key)
        assert app.page.locator("#pair-check").get_attribute("data-verified") == "compare"
        app.page.get_by_role("button", name="Refuse", exact=True).click()  # tidy up
        app.notice(f"Refused the pairing request from “linked-{kind}”")
    record(
        "hostile server (keys)",
        "pairing key substituted (link)",
        tried=len(refusals),
        refused=sum(refusals),
    )
    assert all(refusals), refusals


def _set_client_key(app: App, client_id: uuid.UUID, key: bytes) -> None:
    with sqlite3.connect(app.server.database) as db:
        db.execute("UPDATE clients SET public_key = ? WHERE id = ?", (b64e(key), client_id.hex))


def _assert_not_opened_by(
    grant: dict[str, str],
    keypair: RunnerKeyPair,
    account_id: uuid.UUID,
    runner_id: uuid.UUID,
    owner_key: bytes,
) -> None:
    try:
        open_grant(
            b64d(grant["blob"]),
            keypair,
            account_id=account_id,
            runner_id=runner_id,
            owner_verify_key=owner_key,
        )
    except errors.GrantAuthError:
        return
    raise AssertionError("the substituted key opened the grant")


def _runner_grant(app: App, enrolled: dict[str, Any]) -> dict[str, str]:
    """As the runner would fetch it: its credential and a proof by its key."""
    r = httpx.post(
        f"{app.server.url}/auth/token",
        json={"grant_type": "runner_credential", "credential": enrolled["runner_credential"]},
        auth=enrolled["dpop"].auth(),
    )
    assert r.status_code == 200, r.text
    r = httpx.get(
        f"{app.server.url}/api/runner/grant",
        auth=enrolled["dpop"].auth(r.json()["access_token"]),
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_csp_recorder_sees_a_real_violation(ready: App) -> None:
    """The CSP check below would be worthless if the recorder could not see violations."""
    app = ready
    assert app.csp_violations() == []
    app.page.evaluate("fetch('https://foreign.invalid/x').catch(() => {})")
    app.page.wait_for_function("() => window.__cspViolations.length > 0")
    assert any("connect-src" in v for v in app.csp_violations())
    app.page.evaluate("window.__cspViolations = []")
    app.rec.csp_console.clear()


def test_no_foreign_requests_and_no_csp_violations(ready: App) -> None:
    app = ready
    # The deliberate probe above was blocked by CSP before leaving the browser.
    assert [u for u in app.rec.foreign() if "foreign.invalid" not in u] == []
    assert app.csp_violations() == []
    assert app.rec.page_errors == []
