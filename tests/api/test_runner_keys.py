"""The server's part in runner key pinning: no runner approval without the owner's grant
key, the runner is created under the pairing id the owner saw (the id its key is pinned
under), and the poll answer names the machine as the owner approved it."""

from __future__ import annotations

from tests.api.conftest import Api


def test_runner_approval_without_grant_key_is_refused(api: Api) -> None:
    user = api.sign_in()
    p = api.request_pairing("runner", "ci-1")
    r = user.browser.post("/api/pairings/approve", json={"code": p["code"]}, auth=user.auth)
    assert r.status_code == 422 and r.json()["code"] == "grant_key_required", r.text
    assert api.poll(p).json()["status"] == "pending"  # nothing was decided
    # A machine needs no grant key.
    m = api.request_pairing("machine", "laptop")
    r = user.browser.post("/api/pairings/approve", json={"code": m["code"]}, auth=user.auth)
    assert r.status_code == 200, r.text


def test_runner_id_is_the_pairing_id_and_poll_names_the_approved_name(api: Api) -> None:
    user = api.sign_in()
    grant_key = api.public_key()
    p = api.request_pairing("runner", "requested-name")
    body = {"code": p["code"], "name": "owner's name", "grant_public_key": grant_key}
    r = user.browser.post("/api/pairings/approve", json=body, auth=user.auth)
    assert r.status_code == 200, r.text
    got = api.poll(p).json()
    assert got["client_id"] == p["pairing_id"]
    assert got["name"] == "owner's name" and got["grant_public_key"] == grant_key
