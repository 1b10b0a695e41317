"""Pairing as an inbox (issue 21, part 2): a waiting request shows as a badge and a banner
wherever the person is; looking up a code focuses the name, never Approve; a countdown
shows the time left; an expired request says when it expired and what to run again, with
its buttons disabled; the runner approval says what happens next; "Pair a new machine"
shows the command; revoked machines fold away after a day.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import STRONG, App, poll, request_pairing
from vault_core import RunnerKeyPair

SUB = "katherine-inbox"


def _focused_id(app: App) -> str:
    return str(app.page.evaluate("() => document.activeElement.id"))


def _look_up(app: App, code: str) -> None:
    app.go("Approve a pairing")
    app.page.get_by_label("Pairing code").fill(code)
    app.page.get_by_label("Pairing code").press("Enter")
    app.page.locator("#pair-details").wait_for(state="visible")


@pytest.fixture(scope="module")
def vault(app: App) -> App:
    app.open("/")
    app.sign_in(SUB, name="Katherine Johnson")
    app.wait_engine()
    app.create_vault(STRONG)
    # Long enough for the clock jumps below (the expiry test moves 11 minutes on).
    app.go("Settings")
    app.page.get_by_label("Lock after this many idle minutes").select_option("60")
    return app


@pytest.fixture
def ready(vault: App) -> App:
    vault.ensure_unlocked(SUB, STRONG)
    return vault


def test_lookup_focuses_the_name_and_enter_enter_approves_nothing(ready: App) -> None:
    pairing = request_pairing(ready.server, "machine", "unread-laptop")
    _look_up(ready, pairing["code"])
    assert _focused_id(ready) == "pair-newname"
    ready.page.keyboard.press("Enter")
    ready.page.keyboard.press("Enter")
    assert poll(ready.server, pairing)["status"] == "pending"
    ready.page.get_by_role("button", name="Refuse").click()
    ready.notice("Refused")


def test_a_waiting_request_shows_a_badge_banner_and_countdown(ready: App) -> None:
    page = ready.page
    pairing = request_pairing(ready.server, "machine", "ada-laptop")
    _look_up(ready, pairing["code"])
    countdown = page.locator("#pair-expires")
    assert re.fullmatch(r"\d+:\d\d \(until \d\d:\d\d\)", countdown.text_content() or "")
    first = countdown.text_content()
    page.clock.fast_forward(2_000)
    page.wait_for_function(
        "t => document.getElementById('pair-expires').textContent !== t", arg=first
    )
    # Elsewhere in the app: a banner and a badge on the section.
    assert page.locator("#pair-banner").is_hidden()  # not on the pairing view itself
    ready.go("Credentials")
    banner = page.locator("#pair-banner")
    banner.wait_for(state="visible")
    assert "“ada-laptop” (machine) is waiting" in (banner.text_content() or "")
    assert page.locator("#pair-badge").is_visible()
    nav = page.locator("#nav").get_by_role("button", name="Approve a pairing")
    assert "1 waiting" in (nav.text_content() or "")
    ready.go("Audit trail")
    banner.wait_for(state="visible")
    banner.get_by_role("button", name="Review it").click()
    ready.visible("pair")
    assert _focused_id(ready) == "pair-newname"
    page.get_by_role("button", name="Approve", exact=True).click()
    ready.notice("Approved “ada-laptop”")
    assert banner.is_hidden() and page.locator("#pair-badge").is_hidden()
    assert poll(ready.server, pairing)["status"] == "approved"


def test_an_expired_request_says_when_and_what_to_run_and_cannot_be_approved(
    ready: App,
) -> None:
    page = ready.page
    pairing = request_pairing(ready.server, "machine", "late-laptop")
    _look_up(ready, pairing["code"])
    page.clock.fast_forward("11:00")  # a pairing lives 10 minutes
    expired = page.locator("#pair-expired")
    expired.wait_for(state="visible")
    text = expired.text_content() or ""
    said = re.fullmatch(
        r"This request expired at (\d\d:\d\d); run zkvault connect again on that machine and "
        r"approve the new code\.",
        text,
    )
    assert said, text
    assert page.get_by_role("button", name="Approve", exact=True).is_disabled()
    assert page.get_by_role("button", name="Refuse").is_disabled()
    assert page.locator("#pair-expires").text_content() == f"Expired at {said[1]}"
    assert page.locator("#pair-badge").is_hidden()
    ready.go("Credentials")
    assert page.locator("#pair-banner").is_hidden()


def test_runner_approval_says_what_happens_next(ready: App) -> None:
    page = ready.page
    pairing = request_pairing(
        ready.server, "runner", "ci-next", RunnerKeyPair.generate().public_key
    )
    _look_up(ready, pairing["code"])
    owner = page.locator("#pair-owner-fingerprint").text_content() or ""
    assert owner
    hint = page.locator("#pair-next").text_content() or ""
    assert "waits for its operator to confirm your grant-key fingerprint" in hint
    page.get_by_role("button", name="Approve", exact=True).click()
    said = ready.notice("Approved “ci-next”")
    assert (
        "The runner is now waiting for its operator to confirm your grant-key fingerprint" in said
    )
    assert owner in said


def test_pair_a_new_machine_shows_the_command(ready: App) -> None:
    page = ready.page
    ready.go("Approve a pairing")
    button = page.get_by_role("button", name="Pair a new machine")
    assert button.get_attribute("aria-expanded") == "false"
    button.click()
    assert button.get_attribute("aria-expanded") == "true"
    howto = page.locator("#pair-howto")
    assert f"zkvault connect --server {ready.server.url}" in (howto.text_content() or "")
    assert f"zkvault runner enroll --server {ready.server.url}" in (howto.text_content() or "")
    button.click()
    assert howto.is_hidden()


def test_revoked_machines_fold_away_after_a_day(ready: App) -> None:
    page = ready.page
    pairing = request_pairing(ready.server, "machine", "retired-laptop")
    _look_up(ready, pairing["code"])
    page.get_by_role("button", name="Approve", exact=True).click()
    ready.notice("Approved “retired-laptop”")
    assert poll(ready.server, pairing)["status"] == "approved"
    ready.go("Machines & runners")
    page.get_by_role("button", name="Revoke retired-laptop").click()
    ready.confirm_dialog("Revoke")
    ready.notice("Revoked “retired-laptop”")
    # Just revoked: still in the list.
    assert page.locator('#machines-body [data-machine="retired-laptop"]').is_visible()
    assert page.locator("#machines-folded").is_hidden()
    page.clock.fast_forward("25:00:00")  # a day later (the vault locks on the way)
    # The idle lock asks the worker before it shows the unlock form: wait for it to land,
    # or ensure_unlocked sees the old section and reaches for a menu the lock then hides.
    page.wait_for_function(
        "() => ['view-unlock', 'view-signin'].some(id => !document.getElementById(id).hidden)"
    )
    ready.ensure_unlocked(SUB, STRONG)
    ready.go("Machines & runners")
    folded = page.locator("#machines-folded")
    folded.wait_for(state="visible")
    assert page.locator('#machines-body [data-machine="retired-laptop"]').count() == 0
    assert folded.locator("summary").text_content() == "1 machine revoked earlier"
    folded.locator("summary").click()
    assert page.locator('#machines-old [data-machine="retired-laptop"]').is_visible()
    # The active one stays in view.
    assert page.locator('#machines-body [data-machine="ada-laptop"]').is_visible()


def test_no_page_errors_foreign_requests_or_csp_violations(ready: App) -> None:
    assert ready.rec.page_errors == []
    assert ready.rec.foreign() == []
    assert ready.csp_violations() == []
