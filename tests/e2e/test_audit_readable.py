"""An audit trail people can read (issue 21, part 3): filters by who, what and outcome;
routine session renewals folded into one line per machine and day (a machine that renews
its session 60 times is one line, not 60 rows); paging; cards on a phone.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import STRONG, App, poll, request_pairing

SUB = "mary-audit"
RENEWALS = 60


def _pair(app: App, name: str) -> dict[str, Any]:
    pairing = request_pairing(app.server, "machine", name)
    app.go("Approve a pairing")
    app.page.get_by_label("Pairing code").fill(pairing["code"])
    app.page.get_by_role("button", name="Look up").click()
    app.page.get_by_role("button", name="Approve", exact=True).click()
    app.notice(f"Approved “{name}”")
    got = poll(app.server, pairing)
    assert got["status"] == "approved"
    return got


def _renew(app: App, machine: dict[str, Any], times: int) -> None:
    """The machine's agent renewing its session, as it does all day."""
    token = machine["refresh_token"]
    for _ in range(times):
        r = httpx.post(
            f"{app.server.url}/auth/token",
            json={"grant_type": "refresh_token", "refresh_token": token},
            auth=machine["dpop"].auth(),
        )
        assert r.status_code == 200, r.text
        token = r.json()["refresh_token"]


@pytest.fixture(scope="module")
def vault(app: App) -> App:
    app.open("/")
    app.sign_in(SUB, name="Mary Jackson")
    app.wait_engine()
    app.create_vault(STRONG)
    laptop = _pair(app, "audit-laptop")
    _renew(app, laptop, RENEWALS)
    app.go("Credentials")
    app.add_item("first", "ghp_" + "1" * 36)
    app.add_item("second", "ghp_" + "2" * 36)
    # A stolen refresh token presented without its machine's key: a refused event.
    stolen = _pair(app, "stolen-laptop")
    r = httpx.post(
        f"{app.server.url}/auth/token",
        json={"grant_type": "refresh_token", "refresh_token": stolen["refresh_token"]},
    )
    assert r.status_code == 401
    return app


@pytest.fixture
def audit(vault: App) -> App:
    vault.ensure_unlocked(SUB, STRONG)
    vault.go("Audit trail")
    vault.page.locator("#audit-body tr").first.wait_for()
    return vault


def _lines(app: App) -> list[dict[str, str]]:
    rows = app.page.locator("#audit-body tr").evaluate_all(
        "rows => rows.map(r => ({action: r.dataset.action, count: r.dataset.count, "
        "text: r.textContent}))"
    )
    return [dict(r) for r in rows]


def test_renewals_fold_into_one_line_per_machine_and_day(audit: App) -> None:
    lines = _lines(audit)
    renewals = [x for x in lines if x["action"] == "token.refresh" and "audit-laptop" in x["text"]]
    assert len(renewals) == 1, renewals
    count = int(renewals[0]["count"])
    assert count > 1 and f"Renewed its session ({count} times)" in renewals[0]["text"]
    assert re.search(r"\(since \d\d:\d\d\)", renewals[0]["text"])
    # Other events are never folded: both saves are there, one line each.
    assert len([x for x in lines if x["action"] == "vault.write"]) >= 2
    said = audit.page.locator("#audit-count").text_content() or ""
    assert "session renewals folded per day" in said


def test_paging_loads_older_events_into_the_same_folded_line(audit: App) -> None:
    page = audit.page
    assert "50 events loaded" in (page.locator("#audit-count").text_content() or "")
    before = [
        x for x in _lines(audit) if x["action"] == "token.refresh" and "audit-laptop" in x["text"]
    ]
    page.get_by_role("button", name="Older events").click()
    page.wait_for_function(
        "() => !document.getElementById('audit-count').textContent.startsWith('50 events')"
    )
    after = [
        x for x in _lines(audit) if x["action"] == "token.refresh" and "audit-laptop" in x["text"]
    ]
    assert len(after) == 1 and int(after[0]["count"]) > int(before[0]["count"])
    assert int(after[0]["count"]) == RENEWALS
    assert page.get_by_role("button", name="Older events").is_hidden()  # all loaded


def test_filters_by_who_what_and_outcome(audit: App) -> None:
    page = audit.page
    page.get_by_role("button", name="Older events").click()
    page.get_by_role("button", name="Older events").wait_for(state="hidden")
    page.get_by_label("Who", exact=True).select_option(label="Machine audit-laptop")
    lines = _lines(audit)
    assert lines and all("audit-laptop" in x["text"] for x in lines)
    assert "of " in (page.locator("#audit-count").text_content() or "")
    page.get_by_label("Who", exact=True).select_option("")
    page.get_by_label("What", exact=True).select_option(label="Pairings")
    actions = {x["action"] for x in _lines(audit)}
    assert actions <= {"pairing.request", "pairing.approve", "pairing.refuse", "machine.pair"}
    assert "pairing.approve" in actions
    page.get_by_label("What", exact=True).select_option("")
    page.get_by_label("Outcome", exact=True).select_option(label="Failed or refused")
    failed = _lines(audit)
    assert [x["action"] for x in failed] == ["token.reuse"]
    assert "Failed" in failed[0]["text"] and "stolen-laptop" in failed[0]["text"]
    # Nothing matches: said, not an empty table.
    page.get_by_label("What", exact=True).select_option(label="Runner grants")
    assert page.locator("#audit-nomatch").is_visible()
    page.get_by_label("What", exact=True).select_option("")
    page.get_by_label("Outcome", exact=True).select_option("")
    assert page.locator("#audit-nomatch").is_hidden()


def test_on_a_phone_events_are_cards(audit: App) -> None:
    page = audit.page
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        assert page.locator("table.audit thead").is_hidden()
        label = page.evaluate(
            "() => getComputedStyle(document.querySelector('#audit-body td'), '::before').content"
        )
        assert label == '"When"'
        # No sideways scrolling: every card fits the screen.
        wide = page.evaluate("() => document.querySelector('#view-audit .table-wrap').scrollWidth")
        assert wide <= 390
    finally:
        page.set_viewport_size({"width": 1280, "height": 720})


def test_no_page_errors_foreign_requests_or_csp_violations(audit: App) -> None:
    assert audit.rec.page_errors == []
    assert audit.rec.foreign() == []
    assert audit.csp_violations() == []
