"""A replayed refresh answer: the proxy withholds the server's new token pair and repeats
the answer to an earlier refresh. Each client must refuse a pair it has already been
given, say so clearly, and lose nothing. With the lie switched off, the client's next
refresh presents the token whose answer was withheld, proven by the same DPoP key: with
the withheld successor unused, it gets that successor back (docs/server.md), so the
session carries on without pairing or signing in again."""

from __future__ import annotations

import json
import subprocess

from playwright.sync_api import Browser

from tests.e2e.conftest import new_app
from tests.hostile import lies
from tests.hostile.stage import Stage, pair_laptop, person_with_vault
from tests.native.support import stop_agent
from tests.support.httpproxy import Lie
from tests.support.report import record


def _code(done_stdout: str, returncode: int) -> str:
    if returncode == 0:
        return "ok"
    return str(json.loads(done_stdout.strip().splitlines()[-1])["error"])


def machine_refresh() -> Lie:
    lie = lies.replay("replayed refresh answer", "POST", "/auth/token")
    lie.when = lambda request: (request.json() or {}).get("grant_type") == "refresh_token"
    return lie


def test_cli_refuses_a_replayed_refresh_answer(stage: Stage) -> None:
    alice, _ = person_with_vault(stage, "carol")
    env = pair_laptop(stage, alice)
    try:

        def unlock() -> subprocess.CompletedProcess[str]:
            return env.unlock("--json", passphrase=alice.passphrase)

        with stage.proxy.telling(machine_refresh()):
            first = unlock()  # its refresh answer is the one replayed below
            env.zk("lock")
            second = unlock()
        got = _code(second.stdout, second.returncode)
        status = json.loads(env.zk("status", "--json").stdout or "{}")
        # The lie off: the retried refresh gets the withheld successor; nothing to redo.
        again = unlock()
        back = _code(again.stdout, again.returncode)
        item = alice.items[0]
        shown = env.zk("get", item.name).stdout.rstrip("\n")
        record(
            "hostile server",
            "a replayed refresh answer (CLI)",
            tried=1,
            refused=int(first.returncode == 0 and got == "replayed_token"),
            lost=int(back != "ok" or shown != item.secret),
        )
        assert first.returncode == 0, first.stderr
        assert got == "replayed_token" and second.returncode == 5, second.stderr
        assert "replayed" in second.stderr and "Traceback" not in second.stderr
        assert not status.get("unlocked", False)
        assert back == "ok" and shown == item.secret, again.stderr
    finally:
        stop_agent(env)


def test_browser_refuses_a_replayed_refresh_answer(stage: Stage, browser: Browser) -> None:
    dave, _ = person_with_vault(stage, "dave")
    app = new_app(browser, stage.public, stage.idp)
    page = app.page

    def after_load() -> str:
        """Reload; what the page settles on: the unlock view, or the error it shows."""
        page.evaluate("document.getElementById('error').hidden = true")
        page.reload()
        page.wait_for_selector(
            "#error:not([hidden]), #view-unlock:not([hidden]), #view-signin:not([hidden])",
            timeout=60_000,
        )
        if page.locator("#error").is_visible():
            return str(page.locator("#error").get_attribute("data-code"))
        return "unlock" if page.locator("#view-unlock").is_visible() else "signin"

    try:
        app.open("/")
        app.sign_in(dave.sub)
        app.visible("unlock")
        with stage.proxy.telling(lies.replay("replayed refresh answer", "POST", "/auth/refresh")):
            first = after_load()  # its refresh answer is the one replayed below
            got = after_load()
        # The lie off: the cookie the replay set back is the one whose answer was withheld;
        # proven by this browser's key, the server hands out that withheld successor.
        resumed = after_load()
        app.wait_engine()
        app.unlock(dave.passphrase)
        page.wait_for_selector("#error:not([hidden]), #view-items:not([hidden])", timeout=60_000)
        listed = dave.items[0].name in app.item_names()
        record(
            "hostile server",
            "a replayed refresh answer (browser)",
            tried=1,
            refused=int(first == "unlock" and got == "replayed_token"),
            lost=int(not listed),
        )
        assert first == "unlock" and got == "replayed_token"
        assert resumed == "unlock" and listed
    finally:
        app.context.close()
