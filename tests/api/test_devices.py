"""Machines and runners: list, rename, revoke (effective at once); runner grants."""

from __future__ import annotations

import uuid

import httpx2

from server.encoding import b64url_decode, b64url_encode
from tests.support.report import record

from .conftest import Api, Device, User


def _get(api: Api, who: User | Device, path: str) -> httpx2.Response:
    return api.anon.get(path, auth=who.auth)


def test_rename_and_revoke_a_machine(api: Api) -> None:
    user = api.sign_in()
    machine = api.pair(user, name="old name")
    r = api.anon.patch(
        f"/api/machines/{machine.client_id}", json={"name": "new name"}, auth=user.auth
    )
    assert r.status_code == 200 and r.json()["name"] == "new name"
    assert _get(api, machine, "/api/me").status_code == 200
    vid = uuid.uuid4()
    assert api.put_vault(machine, 0, api.blob(user.account_id, 1, vid)).status_code == 200
    r = api.anon.delete(f"/api/machines/{machine.client_id}", auth=user.auth)
    assert r.status_code == 200 and r.json()["revoked_at"]
    # The next request with its (still unexpired) access token fails, read or write.
    assert _get(api, machine, "/api/vault").status_code == 401
    r = api.put_vault(machine, 1, api.blob(user.account_id, 2, vid))
    assert (r.status_code, r.json()["code"]) == (401, "revoked")
    # Even a write the header check alone would refuse says "revoked", not "bad header".
    for blob in (
        b"ZKVT\x00\x01",
        api.blob(user.account_id, 5, vid),
        api.blob(str(uuid.uuid4()), 2, vid),
    ):
        r = api.put_vault(machine, 1, blob)
        assert (r.status_code, r.json()["code"]) == (401, "revoked"), r.text
    assert api.put_vault(user, 1, api.blob(user.account_id, 2, vid)).status_code == 200
    r = api.anon.post(
        "/auth/token",
        json={"grant_type": "refresh_token", "refresh_token": machine.refresh_token},
        auth=machine.proof,
    )
    assert r.status_code == 401
    tags = [e["tag"] for e in _get(api, user, "/api/audit/export").json()["events"]]
    assert "account:machine:revoke" in tags and "account:machine:rename" in tags


def test_other_accounts_ids_answer_like_missing_ones(api: Api) -> None:
    alice, bob = api.sign_in(), api.sign_in()
    machine = api.pair(alice)
    runner = api.pair(alice, "runner")
    statuses: list[tuple[str, str, int]] = []
    for method, path, body in [
        ("PATCH", f"/api/machines/{machine.client_id}", {"name": "mine"}),
        ("DELETE", f"/api/machines/{machine.client_id}", None),
        ("DELETE", f"/api/runners/{runner.client_id}", None),
        ("PUT", f"/api/runners/{runner.client_id}/grant", {"revision": 1, "blob": "AAAA"}),
        ("GET", f"/api/runners/{runner.client_id}/grant", None),
        ("DELETE", f"/api/runners/{runner.client_id}/grant", None),
        # A machine id used as a runner id (and vice versa) is not found either.
        ("DELETE", f"/api/runners/{machine.client_id}", None),
        ("PATCH", f"/api/machines/{uuid.uuid4()}", {"name": "x"}),
    ]:
        r = api.anon.request(method, path, json=body, auth=bob.auth)
        statuses.append((method, path, r.status_code))
    r = api.anon.delete(f"/api/runners/{machine.client_id}", auth=alice.auth)
    statuses.append(("DELETE", "a machine id as alice's runner", r.status_code))
    let_in = [s for s in statuses if s[2] != 404]
    record(
        "api attacks",
        "another account's ids",
        tried=len(statuses),
        refused=len(statuses) - len(let_in),
    )
    assert not let_in, let_in
    assert _get(api, machine, "/api/me").status_code == 200  # untouched
    assert _get(api, bob, "/api/machines").json() == []


def test_runner_enrolment_grants_and_revocation(api: Api) -> None:
    user = api.sign_in()
    owner_grant_key = api.public_key()
    runner = api.pair(user, "runner", name="ci-1", grant_public_key=owner_grant_key)
    assert runner.runner_credential is not None
    assert runner.runner_credential.startswith("zkv_runner_")
    assert runner.refresh_token is None
    assert runner.extra["grant_public_key"] == owner_grant_key
    listed = _get(api, user, "/api/runners").json()
    assert [(r["id"], r["public_key"], r["grant_revision"]) for r in listed] == [
        (runner.client_id, runner.public_key, None)
    ]

    # The long-lived credential buys access tokens and does not rotate.
    for _ in range(2):
        r = api.anon.post(
            "/auth/token",
            json={"grant_type": "runner_credential", "credential": runner.runner_credential},
            auth=runner.proof,
        )
        assert r.status_code == 200 and "refresh_token" not in r.json()
    runner.token = r.json()["access_token"]
    assert _get(api, runner, "/api/runner/grant").status_code == 404

    sealed = b"sealed grant bytes \x00\xff" * 10

    def put(rev: int, blob: bytes = sealed) -> httpx2.Response:
        return api.anon.put(
            f"/api/runners/{runner.client_id}/grant",
            auth=user.auth,
            json={"revision": rev, "blob": b64url_encode(blob)},
        )

    assert put(1).status_code == 200
    got = _get(api, runner, "/api/runner/grant").json()
    assert b64url_decode(got["blob"]) == sealed and got["revision"] == 1
    assert got["grant_public_key"] == owner_grant_key
    r = put(1)
    assert r.status_code == 409 and r.json()["current_revision"] == 1
    assert put(2, b"newer").status_code == 200
    assert _get(api, user, f"/api/runners/{runner.client_id}/grant").json()["revision"] == 2
    assert put(3, b"x" * (1024 * 1024 + 1)).status_code == 413

    # Revocation removes the grant at once and ends the credential.
    assert api.anon.delete(f"/api/runners/{runner.client_id}", auth=user.auth).status_code == 200
    assert _get(api, runner, "/api/runner/grant").status_code == 401
    r = api.anon.post(
        "/auth/token",
        json={"grant_type": "runner_credential", "credential": runner.runner_credential},
        auth=runner.proof,
    )
    assert r.status_code == 401
    assert put(4).status_code == 404


def test_a_runner_reads_only_its_own_grant(api: Api) -> None:
    user = api.sign_in()
    one, two = api.pair(user, "runner"), api.pair(user, "runner")
    r = api.anon.put(
        f"/api/runners/{one.client_id}/grant",
        auth=user.auth,
        json={"revision": 1, "blob": b64url_encode(b"for one")},
    )
    assert r.status_code == 200
    assert b64url_decode(_get(api, one, "/api/runner/grant").json()["blob"]) == b"for one"
    assert _get(api, two, "/api/runner/grant").status_code == 404
    r = api.anon.delete(f"/api/runners/{one.client_id}/grant", auth=user.auth)
    assert r.status_code == 204
    assert _get(api, one, "/api/runner/grant").status_code == 404
