"""Removing a member of a team of 200 members and 1,000 credentials in Chromium, through
the page (issue 19: at most 3 s): the team is built natively with vault_core (199 people
signed in, each publishing an identity and accepting an invitation, each added with a
signed entry), then its owner unlocks in the browser and removes one member. Printed:
the time from the click to the page saying it is done, and the worker-plus-upload time
the page marks (``zkv-team-removed``)."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser

from tests.e2e.conftest import STRONG, api_sign_in, b64e, new_app
from tests.e2e.test_teams import open_team, open_teams
from tests.support.processes import ServerProcess, start_server, stop
from vault_core import Item, KdfParams, Vault
from vault_core.keys import wipe
from vault_core.teams import IdentityKeys, add_entry
from vault_core.teams.session import TeamSession

# A measurement, not a check of the suite: `pytest -m benchmark tests/e2e/test_teams_scale.py`
# (docs/performance.md); scripts/test.sh leaves it out.
pytestmark = [pytest.mark.benchmark, pytest.mark.slow, pytest.mark.timeout(1200)]
MEMBERS = 200
ITEMS = 1000


@pytest.fixture(scope="module")
def big_server(
    idp: str, built_assets: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    srv = start_server(
        idp,
        tmp_path_factory.mktemp("scale"),
        ZKVAULT_RATE_SIGNIN_PER_IP="10000",
        ZKVAULT_RATE_LOOKUP_PER_ACCOUNT="10000",
    )
    yield srv
    stop(srv.proc)


def _ok(r: httpx.Response, status: int = 200) -> dict[str, object]:
    assert r.status_code == status, r.text
    return dict(r.json()) if r.content else {}


def build_team(server: ServerProcess, idp: str) -> tuple[str, str]:
    """(the owner's sub, a member's email to remove)."""
    url = server.url
    sub = f"owner-{secrets.token_hex(3)}"
    owner_id, owner = api_sign_in(server, idp, sub)
    owner_uuid = uuid.UUID(owner_id)
    vault = Vault.create(owner_uuid, STRONG, kdf=KdfParams.floor())
    keys = vault.ensure_identity()
    _ok(httpx.put(f"{url}/api/identity", json={"bundle": b64e(keys.bundle())}, auth=owner))
    team, entry, blob = TeamSession.create(keys, f"{sub}@example.test", "Scale")
    created = _ok(
        httpx.post(
            f"{url}/api/teams", json={"entry": b64e(entry), "vault": b64e(blob)}, auth=owner
        ),
        201,
    )
    team_id = str(created["team_id"])
    victim = ""
    for n in range(MEMBERS - 1):
        member_sub = f"m{n}-{secrets.token_hex(2)}"
        member_id, member = api_sign_in(server, idp, member_sub)
        their = IdentityKeys.generate(uuid.UUID(member_id))
        bundle = their.bundle()
        _ok(httpx.put(f"{url}/api/identity", json={"bundle": b64e(bundle)}, auth=member))
        email = f"{member_sub}@example.test"
        role = "writer" if n % 2 else "reader"
        invited = _ok(
            httpx.post(
                f"{url}/api/teams/{team_id}/invitations",
                json={"email": email, "role": role},
                auth=owner,
            ),
            201,
        )
        _ok(httpx.post(f"{url}/api/invitations/{invited['invitation_id']}/accept", auth=member))
        # Signed as TeamSession.add_member does, without the pin in the owner's contacts:
        # that record holds at most 16 KiB (about 95 people), fewer than this team.
        team_key = team._team_key()
        try:
            raw = add_entry(
                keys, team.state, their.identity(), email, role, "fingerprint", team_key
            )
        finally:
            wipe(team_key)
        team._append(raw)
        _ok(httpx.post(f"{url}/api/teams/{team_id}/log", json={"entry": b64e(raw)}, auth=owner))
        victim = victim or email
    for n in range(ITEMS):
        team.vault.add(
            Item(
                name=f"token-{n:04d}",
                kind=("github", "gitlab", "bitbucket", "generic")[n % 4],
                url="https://github.com" if n % 4 == 0 else "",
                username="ci",
                secret="ghp_" + secrets.token_urlsafe(27),
            )
        )
    _ok(
        httpx.put(
            f"{url}/api/teams/{team_id}/vault",
            json={"base_revision": 1, "blob": b64e(team.save())},
            auth=owner,
        )
    )
    _ok(
        httpx.put(
            f"{url}/api/vault", json={"base_revision": 0, "blob": b64e(vault.save())}, auth=owner
        )
    )
    return sub, victim


def test_remove_one_of_200_members_with_1000_items(
    browser: Browser, big_server: ServerProcess, idp: str
) -> None:
    started = time.perf_counter()
    sub, victim = build_team(big_server, idp)
    took = time.perf_counter() - started
    print(f"\nbuilt a team of {MEMBERS} members, {ITEMS} items in {took:.1f} s")
    app = new_app(browser, big_server, idp)
    try:
        app.open("/")
        app.sign_in(sub, name="Owner")
        app.wait_engine()
        app.unlock(STRONG)
        app.visible("items")
        app.confirm_vault()
        opened = time.perf_counter()
        open_teams(app)
        open_team(app, "Scale")
        app.page.locator(f'#team-members [data-member="{victim}"]').wait_for()
        print(f"Teams section shown and the team opened in {time.perf_counter() - opened:.2f} s")
        row = app.page.locator(f'#team-members [data-member="{victim}"]')
        row.get_by_role("button", name="Remove").click()
        dialog = app.page.locator("#confirm-dialog")
        dialog.wait_for(state="visible")
        clicked = time.perf_counter()  # from the confirming click
        dialog.get_by_role("button", name="Remove member", exact=True).click()
        app.notice(f"Removed {victim}")
        wall = time.perf_counter() - clicked
        split = app.page.locator("#team-exposed").get_attribute("data-ms")
        print(
            f"remove 1 of {MEMBERS} members, {ITEMS} items in Chromium: {wall:.2f} s from the"
            f" click to the notice; in ms: {split} (target ≤ 3 s)"
        )
        assert app.page.locator("#team-exposed-list li").count() == ITEMS
        assert "key epoch 2" in app.page.locator("#team-facts").inner_text()
    finally:
        app.context.close()
