"""The audit page's "Verify against the vault" in Chromium, against the real server: the
page's saves seal the audit heads the server named, the check says consistent, and after
the chain is rewritten in the database (relinked, so it passes in itself) it names the
problem."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser
from sqlalchemy import create_engine

from tests.e2e.conftest import STRONG, App, account_id_of, new_app
from tests.support import auditdb
from tests.support.processes import ServerProcess


@pytest.fixture
def page_app(browser: Browser, server: ServerProcess, idp: str) -> Iterator[App]:
    app = new_app(browser, server, idp)
    try:
        yield app
    finally:
        app.context.close()


def _verify(app: App, expect: str) -> str:
    app.page.get_by_role("button", name="Verify against the vault").click()
    app.page.wait_for_function(
        "s => document.getElementById('audit-verify-summary').textContent.includes(s)",
        arg=expect,
        timeout=30_000,
    )
    return app.page.locator("#audit-verify-result").text_content() or ""


def test_verify_against_the_vault(page_app: App, server: ServerProcess) -> None:
    app = page_app
    app.open("/")
    app.sign_in("ada-audit")
    app.create_vault(STRONG)
    app.add_item("one", "ghp_" + "1" * 36)  # sealing the head the creation's save was told
    app.add_item("two", "ghp_" + "2" * 36)  # ... and the one the first add's save was told
    app.go("Audit trail")
    app.visible("audit")
    shown = _verify(app, "consistent")
    found = re.search(r"consistent \((\d+) events, (\d+) anchors\)", shown)
    assert found and int(found.group(2)) == 2, shown
    assert app.page.locator("#audit-verify-result.ok").is_visible()

    chain = str(account_id_of(server, "ada-audit"))
    engine = create_engine(f"sqlite:///{server.database}")
    try:
        with engine.begin() as conn:
            auditdb.rewrite(conn, chain, 1)  # the sign-in, before every anchor
    finally:
        engine.dispose()
    shown = _verify(app, "does not match")
    assert app.page.locator("#audit-verify-result.bad").is_visible()
    problems = app.page.locator("#audit-verify-problems li[data-kind=rewritten]")
    assert problems.count() == 2, shown
    assert "Rewritten at event" in shown
    assert app.csp_violations() == []
