"""The web app against a server that lies about runner keys, on the wire: it hands the
browser another key for a pairing code, and later lists another key for an approved
runner. The browser computes every fingerprint itself, seals only to the key pinned in
the vault at approval, and warns instead of sealing to anything else."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e.conftest import App, new_app
from tests.hostile import lies
from tests.hostile.stage import CODE, Stage, decode_credential
from tests.native.support import Env, make_env, start_pairing, stop_agent
from tests.support.report import record
from vault_core import RunnerKeyPair, fingerprint

pytestmark = pytest.mark.slow
LINK = r"^\s+(http\S+/pair#code=\S+)$"


@dataclass
class Owner:
    app: App
    passphrase: str
    token: str


@pytest.fixture(scope="module")
def owner(stage: Stage, browser: object) -> Iterator[Owner]:
    app = new_app(browser, stage.public, stage.idp)  # type: ignore[arg-type]
    passphrase = f"hostile keys {secrets.token_urlsafe(9)} lantern"
    token = "ghp_" + secrets.token_urlsafe(27)
    stage.secrets.update({"owner passphrase": passphrase, "deploy token": token})
    try:
        app.open("/")
        app.sign_in(f"dana-{secrets.token_hex(4)}")
        app.wait_engine()
        app.create_vault(passphrase)
        app.add_item("deploy", token)
        yield Owner(app, passphrase, token)
    finally:
        app.context.close()


def _owner_fingerprint(app: App) -> str:
    app.go("Machines & runners")
    app.page.wait_for_function(
        "() => /^[A-Z2-7]{4}(-[A-Z2-7]{4}){5}$/"
        ".test(document.querySelector('#owner-fingerprint').textContent)"
    )
    return app.page.locator("#owner-fingerprint").text_content() or ""


def _enrol(
    stage: Stage, owner: Owner, env: Env, name: str, show: str = CODE
) -> tuple[subprocess.Popen[str], str, str]:
    return start_pairing(
        env,
        "runner",
        "enroll",
        "--name",
        name,
        "--server",
        stage.url,
        "--owner-fingerprint",
        _owner_fingerprint(owner.app),
        show=show,
    )


def _look_up(app: App, code: str) -> str:
    app.go("Approve a pairing")
    app.page.get_by_label("Pairing code").fill(code)
    app.page.get_by_role("button", name="Look up").click()
    app.page.wait_for_selector("#pair-details:not([hidden])")
    return app.page.locator("#pair-fingerprint").text_content() or ""


def test_substituted_key_behind_a_code_or_a_link(stage: Stage, owner: Owner) -> None:
    app, swapped = owner.app, RunnerKeyPair.generate().public_key
    lie = lies.json_body(
        "substituted runner key at lookup",
        "POST",
        "/api/pairings/lookup",
        lambda body: {**body, "public_key": lies.b64e(swapped)},
    )
    env = make_env()
    try:
        proc, link, printed = _enrol(stage, owner, env, "ci-linked", show=LINK)
        code = link.split("code=")[1].split("&")[0]
        with stage.proxy.telling(lie):
            # Typed: the page shows the fingerprint of the key it was handed, not the one
            # the runner printed. Refusing then is the person's doing (their comparison,
            # this test's click): asserted below, never counted as the page refusing.
            shown = _look_up(app, code)
            # Followed: the page checks the key against the link and refuses by itself.
            app.page.goto(link)
            app.page.wait_for_selector("#view-unlock:not([hidden]), #error:not([hidden])")
            if app.page.locator("#view-unlock").is_visible():
                app.unlock(owner.passphrase)
            app.error("is not the one your link names")
            refused = int(
                app.page.locator("#error").get_attribute("data-code") == "pairing_key_mismatch"
                and app.page.locator("#pair-details").is_hidden()
            )
        record(
            "hostile server",
            "runner key substituted behind a pairing link (browser)",
            tried=1,
            refused=refused,
        )
        _look_up(app, code)  # the lie switched off: the runner's own key; ended by hand
        app.page.get_by_role("button", name="Refuse", exact=True).click()
        _, err = proc.communicate(timeout=60)
        assert refused
        assert shown == fingerprint("runner", swapped) != printed
        assert proc.returncode == 8, err
    finally:
        stop_agent(env)


def test_substituted_runner_key_at_a_later_reseal(stage: Stage, owner: Owner) -> None:
    app, attacker = owner.app, RunnerKeyPair.generate().public_key
    env = make_env()
    try:
        proc, code, printed = _enrol(stage, owner, env, "ci-pinned")
        assert _look_up(app, code) == printed
        app.page.get_by_role("button", name="Approve", exact=True).click()
        app.notice("Approved “ci-pinned”")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        ci = {"ZKVAULT_RUNNER_CREDENTIAL": out.strip()}
        stage.secrets["ci-pinned seed"] = lies.b64d(decode_credential(out)["k"])
        app.go("Machines & runners")
        app.page.get_by_role("button", name="Grant items to ci-pinned").click()
        app.page.get_by_role("checkbox", name="deploy", exact=True).check()
        app.page.get_by_role("button", name="Save grant").click()
        app.notice("Granted 1 item(s) to “ci-pinned”")
        assert env.zk("get", "deploy", extra=ci).stdout == owner.token + "\n"

        lie = lies.each_runner(
            "substituted runner key", lambda r: {**r, "public_key": lies.b64e(attacker)}
        )
        rotated = owner.token + "-rotated"
        stage.secrets["rotated deploy token"] = rotated
        with stage.proxy.telling(lie):
            app.go("Credentials")
            app.item_menu("deploy", "Edit")
            app.page.locator("#item-form").get_by_label("Token").fill(rotated)
            app.page.get_by_role("button", name="Save", exact=True).click()
            text = app.error("the server presented a different key for this runner")
            warned = int(
                fingerprint("runner", attacker) in text
                and app.page.locator("#error").get_attribute("data-code") == "key_mismatch"
            )
            app.go("Machines & runners")
            row = app.page.locator('#runners-body [data-runner="ci-pinned"]')
            row.locator("[data-key-mismatch]").wait_for()
        still = env.zk("get", "deploy", extra=ci)  # the grant sealed to the pinned key
        record(
            "hostile server",
            "runner key substituted at a reseal (browser)",
            tried=1,
            refused=warned,
            lost=int(still.stdout != owner.token + "\n"),
        )
        assert warned, text
        assert still.returncode == 0 and still.stdout == owner.token + "\n", still.stderr
    finally:
        stop_agent(env)
