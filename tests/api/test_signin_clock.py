"""Sign-in on a server whose clock is off from the identity provider's: within
MAX_CLOCK_SKEW_SECONDS it works; beyond it, and on any other sign-in failure, a person
sees a page that says what happened, with the typed code (not raw JSON)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.cluster.cluster import Person
from tests.support.dpop import DpopKey, server_clock_offset
from tests.support.processes import start_server, stop

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}  # what a browser sends


@pytest.mark.parametrize("offset", ["+90s", "-90s"])
def test_sign_in_works_with_the_clock_off_by_the_allowed_skew(
    idp: str, tmp_path: Path, offset: str
) -> None:
    srv = start_server(idp, tmp_path, clock_offset=offset)  # MAX_CLOCK_SKEW_SECONDS: 90
    try:
        person = Person(srv.url, idp, "127.0.0.1")  # asserts each step of the sign-in
        assert person.call("GET", "/api/me").status_code == 200
    finally:
        stop(srv.proc)


def _callback(url: str, idp: str, sub: str) -> httpx.Response:
    """A browser's sign-in up to the provider's redirect back, and that redirect."""
    httpx.put(f"{idp}/users/{sub}", json={"email": f"{sub}@example.test"}).raise_for_status()
    with httpx.Client(base_url=url, headers=HTML) as browser:
        key = DpopKey("ES256", clock_offset=server_clock_offset(url))  # in the server's time
        login = browser.post("/auth/login", auth=key.auth())
        assert login.status_code == 200, login.text
        back = httpx.post(login.json()["url"], data={"sub": sub})
        assert back.status_code == 302, back.text
        return browser.get(back.headers["location"])


def _is_page(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("text/html"), r.headers
    assert "<h1>Sign-in failed</h1>" in r.text
    assert f'<code id="error-code">{code}</code>' in r.text
    assert not r.text.lstrip().startswith("{")


def test_beyond_the_allowed_skew_sign_in_fails_with_a_readable_page(
    idp: str, tmp_path: Path
) -> None:
    srv = start_server(idp, tmp_path, clock_offset="-200s")
    try:
        _is_page(_callback(srv.url, idp, "late-clock"), 400, "signin_failed")
    finally:
        stop(srv.proc)


def test_sign_in_failures_are_pages_for_browsers_and_json_for_api_clients(
    idp: str, tmp_path: Path
) -> None:
    srv = start_server(idp, tmp_path)
    try:
        _is_page(
            httpx.get(f"{srv.url}/auth/callback?error=access_denied", headers=HTML),
            400,
            "idp_refused",
        )
        _is_page(
            httpx.get(f"{srv.url}/auth/callback?code=x&state=y", headers=HTML),
            400,
            "state_mismatch",
        )
        r = httpx.get(f"{srv.url}/auth/callback?code=x&state=y")  # no HTML asked for
        assert (r.status_code, r.json()["code"]) == (400, "state_mismatch")
    finally:
        stop(srv.proc)
