"""The web app against a server that hands out ids that are not its to give: while a
second runner (one that builds untrusted pull requests) enrols, the server presents its
pairing under the id of the production runner, or of the owner's laptop. Followed by the
link, the page compares the id with the link's and refuses; typed, the worker refuses to
pin under an id it already pinned (even one the server no longer lists) or the page
lists. Nothing is approved, and the production runner's pin still names its own key."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.conftest import App, new_app
from tests.hostile import lies
from tests.hostile.stage import CODE, Stage, decode_credential
from tests.native.support import Env, make_env, start_pairing, stop_agent
from tests.support.report import record

pytestmark = pytest.mark.slow
LINK = r"^\s+(http\S+/pair#code=\S+)$"


@dataclass
class Owner:
    app: App
    passphrase: str


@pytest.fixture(scope="module")
def owner(stage: Stage, browser: object) -> Iterator[Owner]:
    app = new_app(browser, stage.public, stage.idp)  # type: ignore[arg-type]
    passphrase = f"hostile ids {secrets.token_urlsafe(9)} harbour"
    stage.secrets["owner passphrase (ids)"] = passphrase
    try:
        app.open("/")
        app.sign_in(f"erin-{secrets.token_hex(4)}")
        app.wait_engine()
        app.create_vault(passphrase)
        yield Owner(app, passphrase)
    finally:
        app.context.close()


@pytest.fixture
def envs() -> Iterator[list[Env]]:
    made: list[Env] = []
    try:
        yield made
    finally:
        for env in made:
            stop_agent(env)


def _owner_fingerprint(app: App) -> str:
    app.go("Machines & runners")
    app.page.wait_for_function(
        "() => /^[A-Z2-7]{4}(-[A-Z2-7]{4}){5}$/"
        ".test(document.querySelector('#owner-fingerprint').textContent)"
    )
    return app.page.locator("#owner-fingerprint").text_content() or ""


def _start(
    stage: Stage, owner: Owner, env: Env, kind: str, name: str, show: str = CODE
) -> tuple[subprocess.Popen[str], str, str]:
    args = ["connect"]
    if kind == "runner":
        args = ["runner", "enroll", "--owner-fingerprint", _owner_fingerprint(owner.app)]
    return start_pairing(env, *args, "--name", name, "--server", stage.url, show=show)


def _look_up(app: App, code: str) -> str:
    app.go("Approve a pairing")
    app.page.get_by_label("Pairing code").fill(code)
    app.page.get_by_role("button", name="Look up").click()
    app.page.wait_for_selector("#pair-details:not([hidden])")
    return app.page.locator("#pair-fingerprint").text_content() or ""


def _approved(
    stage: Stage, owner: Owner, env: Env, kind: str, name: str
) -> tuple[str, str, dict[str, str]]:
    """A genuine enrolment, approved by a typed code: the device's id and fingerprint, and
    a runner's credential as the environment to call it with."""
    proc, code, printed = _start(stage, owner, env, kind, name)
    assert _look_up(owner.app, code) == printed
    owner.app.page.get_by_role("button", name="Approve", exact=True).click()
    owner.app.notice(f"Approved “{name}”")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    ci: dict[str, str] = {}
    if kind == "runner":
        stage.secrets[f"{name} seed"] = lies.b64d(decode_credential(out)["k"])
        ci = {"ZKVAULT_RUNNER_CREDENTIAL": out.strip()}
    owner.app.go("Machines & runners")
    card = owner.app.page.locator(f'#{kind}s-body [data-{kind}="{name}"]')
    return card.get_attribute("data-id") or "", printed, ci


def _presented_as(label: str, taken: str) -> Any:
    """The lookup answered with ``taken`` as the pairing's id (a lies.json_body lie)."""
    return lies.json_body(
        f"the {label}'s id at lookup",
        "POST",
        "/api/pairings/lookup",
        lambda body: {**body, "pairing_id": taken},
    )


def _refused_with(app: App, code: str) -> bool:
    return bool(
        app.page.locator("#error").get_attribute("data-code") == code
        and app.page.locator("#error").is_visible()
    )


def test_an_enrolment_presented_under_an_existing_id(
    stage: Stage, owner: Owner, envs: list[Env]
) -> None:
    app = owner.app
    envs.extend(make_env() for _ in range(3))
    production, production_fp, _ = _approved(stage, owner, envs[0], "runner", "production")
    laptop, _, _ = _approved(stage, owner, envs[1], "machine", "laptop")
    assert production and laptop
    proc, link, _ = _start(stage, owner, envs[2], "runner", "pull-requests", show=LINK)
    code = link.split("code=")[1].split("&")[0]
    assert "&id=" in link
    outcomes: dict[str, bool] = {}
    for label, taken in (("production runner", production), ("laptop", laptop)):
        told = [_presented_as(label, taken)]
        if label == "production runner":  # and hidden from the list: only its pin remains
            told.append(
                lies.json_body(
                    "the production runner unlisted",
                    "GET",
                    "/api/runners",
                    lambda runners: [r for r in runners if r["id"] != production],
                )
            )
        with stage.proxy.telling(*told):
            if label == "production runner":  # followed: the id is not the link's
                app.page.goto(link)
                app.page.wait_for_selector("#view-unlock:not([hidden]), #error:not([hidden])")
                if app.page.locator("#view-unlock").is_visible():
                    app.unlock(owner.passphrase)
                text = app.error("but your link names pairing")
                outcomes["link, " + label] = (
                    _refused_with(app, "pairing_id_mismatch")
                    and app.page.locator("#pair-details").is_hidden()
                    and taken in text
                )
            # Typed: no id to compare, so the approval itself must refuse to pin.
            _look_up(app, code)
            app.page.get_by_role("button", name="Approve", exact=True).click()
            app.error("Nothing was pinned or approved")
            outcomes["typed, " + label] = _refused_with(app, "id_taken")
    _look_up(app, code)  # the lie switched off: refused by hand, so the runner stops
    app.page.get_by_role("button", name="Refuse", exact=True).click()
    _, err = proc.communicate(timeout=60)
    never_approved = proc.returncode == 8  # refused: it had never been approved
    app.go("Machines & runners")
    row = app.page.locator('#runners-body [data-runner="production"]')
    pin_kept = (
        row.locator(".fingerprint").text_content() == production_fp
        and row.locator("[data-key-mismatch]").count() == 0
    )
    record(
        "hostile server",
        "an existing id at enrolment: link and typed code (browser)",
        tried=len(outcomes),
        refused=sum(outcomes.values()),
        lost=int(not never_approved) + int(not pin_kept),
    )
    assert all(outcomes.values()) and len(outcomes) == 3, outcomes
    assert never_approved, err
    assert pin_kept, row.inner_text()


def test_runners_listed_under_each_others_names(
    stage: Stage, owner: Owner, envs: list[Env]
) -> None:
    """The server swaps the names of two runners in its list, so that "Grant items to
    release" would grant the fork builder. The page names each runner by its pin (the name
    approved in the vault), warns that the server lists another, the grant goes to the
    runner the owner picked, and the audit page names it by its pin too."""
    app = owner.app
    envs.extend(make_env() for _ in range(2))
    release, _, release_ci = _approved(stage, owner, envs[0], "runner", "release")
    forks, _, forks_ci = _approved(stage, owner, envs[1], "runner", "fork-builds")
    token = "ghp_" + secrets.token_urlsafe(27)
    stage.secrets["release signing token"] = token
    app.go("Credentials")
    app.add_item("signing", token)
    swapped = {release: "fork-builds", forks: "release"}
    lie = lies.each_runner(
        "runner names swapped", lambda r: {**r, "name": swapped.get(r["id"], r["name"])}
    )
    with stage.proxy.telling(lie):
        app.go("Machines & runners")
        row = app.page.locator('#runners-body [data-runner="release"]')
        row.locator("[data-name-mismatch]").wait_for()
        warned = row.get_attribute("data-id") == release and "“fork-builds”" in (
            row.locator("[data-name-mismatch]").text_content() or ""
        )
        app.page.get_by_role("button", name="Grant items to release").click()
        app.page.get_by_role("checkbox", name="signing", exact=True).check()
        app.page.get_by_role("button", name="Save grant").click()
        app.notice("Granted 1 item(s) to “release”")
        # The audit page names runners as Machines & runners does: by their pins.
        app.go("Audit trail")
        sealed = app.page.locator("#audit-body tr", has_text="Sealed a runner's grant").first
        sealed.wait_for()
        audit_named = "Runner release" in (sealed.text_content() or "")
        audit_named = audit_named and "fork-builds" not in (sealed.text_content() or "")
    got = envs[0].zk("get", "signing", extra=release_ci)
    leaked = envs[1].zk("get", "signing", extra=forks_ci)
    record(
        "hostile server",
        "runner names swapped in the list (browser)",
        tried=1,
        refused=int(warned and audit_named),
        lost=int(got.stdout != token + "\n") + int(token in leaked.stdout),
    )
    assert warned, row.inner_text()
    assert audit_named, sealed.text_content()
    assert got.returncode == 0 and got.stdout == token + "\n", got.stderr
    assert leaked.returncode == 4 and token not in leaked.stdout, leaked.stderr
    # The lie off: a rename by the owner renames the pin too, so no warning follows it.
    app.go("Machines & runners")
    app.prompt_answer = "release-eu"
    app.page.get_by_role("button", name="Rename release", exact=True).click()
    app.notice("Renamed to “release-eu”")
    renamed = app.page.locator('#runners-body [data-runner="release-eu"]')
    renamed.wait_for()
    assert renamed.get_attribute("data-id") == release
    assert renamed.locator("[data-name-mismatch]").count() == 0


def test_a_pairing_created_under_an_existing_id(
    stage: Stage, owner: Owner, envs: list[Env]
) -> None:
    """A consistent liar: it answers the runner's own create call with an enrolled
    runner's id, so the link names that id too, and the lookup agrees with the link. The
    link cannot catch it; the pin can: that id is pinned already (and unlisted here, so only
    the pin says so). Nothing is approved and the enrolled runner's pin is unchanged."""
    app = owner.app
    envs.extend(make_env() for _ in range(2))
    main, main_fp, _ = _approved(stage, owner, envs[0], "runner", "main")
    told = [
        lies.json_body(
            "an enrolled runner's id for a new pairing",
            "POST",
            "/api/pairings",
            lambda body: {**body, "pairing_id": main},
        ),
        _presented_as("enrolled runner", main),
        lies.json_body(
            "the enrolled runner unlisted",
            "GET",
            "/api/runners",
            lambda runners: [r for r in runners if r["id"] != main],
        ),
    ]
    with stage.proxy.telling(*told):
        proc, link, _ = _start(stage, owner, envs[1], "runner", "side-builds", show=LINK)
        assert f"&id={main}" in link  # the CLI can only repeat what its create call said
        app.page.goto(link)
        app.page.wait_for_selector("#view-unlock:not([hidden]), #pair-details:not([hidden])")
        if app.page.locator("#view-unlock").is_visible():
            app.unlock(owner.passphrase)
        app.page.wait_for_selector("#pair-details:not([hidden])")
        app.page.get_by_role("button", name="Approve", exact=True).click()
        app.error("Nothing was pinned or approved")
        refused = _refused_with(app, "id_taken")
    proc.kill()  # it polls an id that is not its pairing's: it never gets an answer
    proc.communicate(timeout=60)
    app.go("Machines & runners")
    row = app.page.locator('#runners-body [data-runner="main"]')
    pin_kept = (
        row.locator(".fingerprint").text_content() == main_fp
        and row.locator("[data-key-mismatch]").count() == 0
        and app.page.locator('#runners-body [data-runner="side-builds"]').count() == 0
    )
    record(
        "hostile server",
        "an existing id from the pairing's own create call (browser)",
        tried=1,
        refused=int(refused),
        lost=int(not pin_kept),
    )
    assert refused and pin_kept, row.inner_text()
