"""Attacks on the API, walked over every route the app has (tests/api/routes.py).

Each case adds a row to the security summary ("api attacks"): what was tried
and how much of it was refused with a typed 4xx. A 5xx anywhere fails at once.
Forged tokens and audiences are in test_tokens.py; refresh-token reuse there
too; pairing-code replay and guessing in test_pairing.py.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from server.encoding import b64url_encode
from tests.support.dpop import DpopAuth, DpopKey
from tests.support.report import record

from .conftest import Api, Device, User
from .routes import COOKIE_AUTHENTICATED, Operation, claims, operations, random_id, refused
from .teamkit import Teams

CATEGORY = "api attacks"


@pytest.fixture(autouse=True)
def _no_unhandled_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Beyond the status codes: the server logged no unhandled exception either."""
    caplog.set_level("ERROR", logger="zkvault.server")
    yield
    unhandled = [r.getMessage() for r in caplog.records if r.name == "zkvault.server"]
    assert unhandled == []


@pytest.fixture
def roomy(roomy_app: FastAPI, idp: str) -> Api:
    return Api(roomy_app, idp)


def _send(
    api: Api,
    op: Operation,
    auth: DpopAuth,
    *,
    headers: dict[str, str] | None = None,
    url: str | None = None,
    body: Any = None,
    content: Any = None,
) -> Any:
    return api.anon.request(
        op.method,
        url or op.url(),
        auth=auth,
        headers=headers,
        json=body if content is None else None,
        content=content,
    )


# --- another account's ids ---------------------------------------------------


def test_another_accounts_ids_answer_like_missing_ones_on_every_route(api: Api) -> None:
    """Every id a request can carry, on every route, from each kind of client of
    another account: the same 4xx, byte for byte, as an id that does not exist."""
    teams = Teams(api)
    alice_person, carol = teams.person(), teams.person()
    alice, bob = alice_person.user, api.sign_in()
    vid = uuid.uuid4()
    for rev in (1, 2, 3):
        r = api.put_vault(alice, rev - 1, api.blob(alice.account_id, rev, vid))
        assert r.status_code == 200
    a_team = teams.create(alice_person)
    r = teams.call(
        "POST",
        f"/api/teams/{a_team.team_id}/invitations",
        alice,
        {"email": carol.email, "role": "reader"},
    )
    assert r.status_code == 201
    a_invitation = r.json()["invitation_id"]
    a_machine, a_runner = api.pair(alice, "machine"), api.pair(alice, "runner")
    r = api.anon.put(
        f"/api/runners/{a_runner.client_id}/grant",
        auth=alice.auth,
        json={"revision": 1, "blob": b64url_encode(b"sealed to alice's runner")},
    )
    assert r.status_code == 200
    a_pending = api.request_pairing(name="alice's next laptop")
    b_pending = api.request_pairing()  # bob's own pairing: its poll secret is his
    attackers: dict[str, User | Device] = {
        "web": bob,
        "machine": api.pair(bob, "machine"),
        "runner": api.pair(bob, "runner"),
    }
    real: dict[str, list[Any]] = {
        "client_id": [a_machine.client_id, a_runner.client_id, claims(alice.token)["sid"]],
        "revision": ["1", "3"],
        "pairing_id": [a_pending["pairing_id"]],
        "from_revision": [1, 3],
        "team_id": [a_team.team_id],
        "invitation_id": [a_invitation],
    }
    missing: dict[str, Any] = {
        "client_id": random_id(),
        "revision": "999",
        "pairing_id": random_id(),
        "from_revision": 999,
        "team_id": uuid.uuid4().hex,
        "invitation_id": random_id(),
    }
    # Control: the ids are real, their owner reaches them.
    assert (
        api.anon.get(f"/api/runners/{a_runner.client_id}/grant", auth=alice.auth).status_code == 200
    )
    assert api.anon.get("/api/vault/history/1", auth=alice.auth).status_code == 200
    assert api.poll(a_pending).json()["status"] == "pending"

    ops = [op for op in operations(api.app) if op.id_params or op.id_fields]
    assert len(ops) >= 10, [op.key for op in ops]  # the walk really sees the id routes
    tried = refused_ = 0
    wrong = []  # what was let through, listed after the count is recorded
    walks = [
        (op, slot, {s: str(real[s][0]) for s in op.id_params if s != slot})
        for op in ops
        for slot in op.id_params + op.id_fields
    ]
    for op, slot, others in walks:
        # A route with two ids (a team's invitation, a team's runner grant) varies one at
        # a time; the other names alice's real object.

        def call(
            value: Any,
            auth: DpopAuth,
            op: Operation = op,
            slot: str = slot,
            others: dict[str, str] = others,
        ) -> Any:
            if slot in op.id_params:
                url = op.url(**others, **{slot: str(value)})
                return _send(api, op, auth, url=url, body=op.body())
            body = op.body(**{slot: value})
            if slot == "pairing_id":
                body = {**(body or {}), "poll_secret": b_pending["poll_secret"]}
            return _send(api, op, auth, body=body)

        for kind, who in attackers.items():
            baseline = call(missing[slot], who.auth)
            assert refused(baseline), (op.key, kind, baseline.text)
            if kind in op.kinds or op.anonymous:
                assert baseline.status_code == 404, (op.key, kind, baseline.text)
            for value in real[slot]:
                r = call(value, who.auth)
                tried += 1
                same = refused(r) and (r.status_code, r.json()) == (
                    baseline.status_code,
                    baseline.json(),
                )
                refused_ += same
                if not same:
                    wrong.append((op.key, kind, value, r.status_code, r.text, baseline.text))
    record(CATEGORY, "another account's ids", tried=tried, refused=refused_)
    assert wrong == []

    # Nothing of alice's moved.
    assert api.anon.get("/api/me", auth=a_machine.auth).status_code == 200
    machines = api.anon.get("/api/machines", auth=alice.auth).json()
    assert [(m["id"], m["name"], m["revoked_at"]) for m in machines] == [
        (a_machine.client_id, "laptop", None)
    ]
    runners = api.anon.get("/api/runners", auth=alice.auth).json()
    assert [(r["id"], r["revoked_at"], r["grant_revision"]) for r in runners] == [
        (a_runner.client_id, None, 1)
    ]
    assert api.anon.get("/api/vault", auth=alice.auth).json()["revision"] == 3
    history = api.anon.get("/api/vault/history", auth=alice.auth).json()
    assert [h["revision"] for h in history] == [3, 2, 1]
    assert api.poll(a_pending).json()["status"] == "pending"


def test_audit_events_reveal_nothing_of_other_accounts_activity(api: Api) -> None:
    """An event's only number is its place in the caller's own chain: no global row
    id that would count what other accounts did in between."""
    alice, bob = api.sign_in(), api.sign_in()
    before = api.anon.get("/api/audit", auth=bob.auth).json()["events"]
    vid = uuid.uuid4()
    for rev in (1, 2, 3):  # alice is busy
        r = api.put_vault(alice, rev - 1, api.blob(alice.account_id, rev, vid))
        assert r.status_code == 200
    assert api.put_vault(bob, 0, api.blob(bob.account_id, 1, vid)).status_code == 200
    after = api.anon.get("/api/audit", auth=bob.auth).json()["events"]
    assert [e["seq"] for e in after] == list(range(len(before) + 1, 0, -1))
    for event in after + api.anon.get("/api/audit/export", auth=bob.auth).json()["events"]:
        assert set(event) == {
            "seq",
            "time",
            "actor",
            "action",
            "tag",
            "target",
            "outcome",
            "source",
            "detail",
            "prev_hash",
            "hash",
        }
        assert alice.account_id not in json.dumps(event)


# --- malformed and oversized bodies ------------------------------------------

GARBAGE: dict[str, bytes] = {
    "not JSON": b"{not json",
    "truncated": b'{"name": "x"',
    "empty": b"",
    "not UTF-8": b'{"name": "\xff\xfe"}',
    "null": b"null",
    "array": b"[]",
    "string": b'"x"',
    "number": b"1",
    "true": b"true",
    "100,000 deep": b"[" * 100_000 + b"]" * 100_000,
    "5,000-digit number": b'{"x": ' + b"9" * 5000 + b"}",
    "NaN": b'{"x": NaN}',
}
# Each field of a well-formed body replaced by each of these in turn.
WRONG_VALUES: list[Any] = [None, True, 1.5, -1, 2**64, [], {}, "\ud800", "a\x00b", "x" * 5000]
JSON = {"content-type": "application/json"}


def test_malformed_bodies_on_every_json_route(roomy: Api) -> None:
    user = roomy.sign_in()
    auth = JSON
    ops = [op for op in operations(roomy.app) if op.takes_json]
    assert len(ops) >= 11, [op.key for op in ops]
    tried = refused_ = 0
    wrong = []
    for op in ops:
        good = op.body()
        assert good is not None
        attempts: list[tuple[str, dict[str, str], bytes]] = [
            (name, auth, raw) for name, raw in GARBAGE.items()
        ]
        attempts += [
            ("no fields", auth, b"{}"),
            ("unknown field", auth, json.dumps({**good, "admin": True}).encode()),
            (
                "as text/plain",
                {"content-type": "text/plain"},
                json.dumps(good).encode(),
            ),
            (
                "as a form",
                {"content-type": "application/x-www-form-urlencoded"},
                "&".join(f"{k}={v}" for k, v in good.items()).encode(),
            ),
        ]
        required = {f.name for f in op.fields if f.required}
        for name in good:
            for value in WRONG_VALUES:
                if value is None and name not in required:
                    continue  # an optional field may be null
                attempts.append(
                    (f"{name}={value!r:.20}", auth, json.dumps({**good, name: value}).encode())
                )
        for what, headers, raw in attempts:
            r = _send(roomy, op, user.auth, headers=headers, content=raw)
            tried += 1
            ok = refused(r) and "Traceback" not in r.text
            refused_ += ok
            if not ok:
                wrong.append((op.key, what, r.status_code, r.text))
    record(CATEGORY, "malformed bodies", tried=tried, refused=refused_)
    assert wrong == []


def test_oversized_bodies_on_every_json_route(roomy: Api) -> None:
    user = roomy.sign_in()
    auth = user.auth
    # A kept revision 1, so that a restore reaches its blob's size check.
    assert roomy.put_vault(user, 0, roomy.blob(user.account_id, 1, uuid.uuid4())).status_code == 200
    settings = roomy.app.state.zk.settings
    huge = b"{" + b" " * (2 * max(settings.max_vault_bytes, settings.max_grant_bytes)) + b"}"

    def chunked() -> Iterator[bytes]:
        for i in range(0, len(huge), 64 * 1024):
            yield huge[i : i + 64 * 1024]

    ops = [op for op in operations(roomy.app) if op.takes_json]
    tried = refused_ = 0
    wrong = []
    for op in ops:
        good = op.body()
        assert good is not None
        attempts: list[tuple[str, Any, set[int]]] = [
            ("over the body limit", huge, {413}),
            ("chunked, over the body limit", chunked(), {413}),
            (
                "10,000 unknown fields",
                json.dumps({**good, **{f"f{i}": i for i in range(10_000)}}).encode(),
                {422},
            ),
        ]
        # Every string field just under the body limit: over its own limit.
        for f in op.fields:
            if f.name in good and f.schema.get("type") == "string":
                value = "x" * 1_400_000
                attempts.append(
                    (f"{f.name} of 1.4 MB", json.dumps({**good, f.name: value}), {413, 422})
                )
        for what, content, statuses in attempts:
            r = _send(roomy, op, auth, headers=JSON, content=content)
            tried += 1
            ok = refused(r) and r.status_code in statuses
            refused_ += ok
            if not ok:
                wrong.append((op.key, what, r.status_code, r.text[:200]))
    record(CATEGORY, "oversized bodies", tried=tried, refused=refused_)
    assert wrong == []


# --- CSRF ---------------------------------------------------------------------


def test_cookie_authenticated_calls_refuse_cross_site_requests(api: Api) -> None:
    user, other = api.sign_in(), api.sign_in()
    b, good = user.browser, user.csrf()
    session_cookie = b.cookies.get("__Secure-zkv_refresh")
    forged: dict[str, dict[str, str]] = {
        "no X-CSRF-Token": {},
        "empty X-CSRF-Token": {"X-CSRF-Token": ""},
        "wrong X-CSRF-Token": {"X-CSRF-Token": "wrong"},
        "another session's token": other.csrf(),
        "foreign Origin": {**good, "Origin": "https://evil.example"},
        "null Origin": {**good, "Origin": "null"},
        "http Origin": {**good, "Origin": "http://testserver"},
        "look-alike Origin": {**good, "Origin": "https://testserver.evil.example"},
        "other port": {**good, "Origin": "https://testserver:8443"},
    }
    # A client holding the refresh cookie but not the CSRF cookie (a cross-site
    # form cannot read it, so it cannot echo it).
    bare = api.client()
    assert session_cookie is not None
    bare.cookies.set(
        "__Secure-zkv_refresh", session_cookie, domain="testserver.local", path="/auth"
    )
    tried = refused_ = 0
    wrong = []
    for _, path in sorted(COOKIE_AUTHENTICATED):
        for what, headers in forged.items():
            r = b.post(path, headers=headers)
            tried += 1
            ok = refused(r) and (r.status_code, r.json()["code"]) == (403, "csrf")
            refused_ += ok
            if not ok:
                wrong.append((path, what, r.status_code, r.text))
        for what, r in [
            ("token in a form field", b.post(path, data={"csrf": good["X-CSRF-Token"]})),
            ("no CSRF cookie", bare.post(path, headers={"X-CSRF-Token": ""})),
            ("no CSRF cookie, a guess", bare.post(path, headers={"X-CSRF-Token": "guess"})),
        ]:
            tried += 1
            ok = refused(r) and (r.status_code, r.json()["code"]) == (403, "csrf")
            refused_ += ok
            if not ok:
                wrong.append((path, what, r.status_code, r.text))
    record(CATEGORY, "CSRF on cookie calls", tried=tried, refused=refused_)
    assert wrong == []
    # None of it spent the refresh cookie or ended the session.
    assert b.cookies.get("__Secure-zkv_refresh") == session_cookie
    assert api.anon.get("/api/me", auth=user.auth).status_code == 200
    r = b.post("/auth/refresh", headers={**good, "Origin": "https://testserver"}, auth=user.proof)
    assert r.status_code == 200
    assert b.post("/auth/logout", headers=good, auth=user.proof).status_code == 204


def test_no_other_route_is_authenticated_by_cookies(api: Api) -> None:
    """The browser's cookies (and even its CSRF token) buy nothing anywhere else: each
    route answers them exactly as it answers a client with no cookies at all."""
    user = api.sign_in()
    headers = {**user.csrf(), "Origin": "https://testserver"}
    stranger = api.client()
    tried = refused_ = 0
    wrong = []
    for op in operations(api.app):
        if op.key in COOKIE_AUTHENTICATED:
            continue
        body = op.body()
        with_cookies = user.browser.request(op.method, op.url(), headers=headers, json=body)
        without = stranger.request(op.method, op.url(), headers=headers, json=body)
        assert with_cookies.status_code < 500 and without.status_code < 500
        assert with_cookies.status_code == without.status_code, (op.key, with_cookies.text)
        if not op.anonymous:
            tried += 1
            ok = refused(with_cookies) and with_cookies.status_code == 401
            refused_ += ok
            if not ok:
                wrong.append((op.key, with_cookies.status_code, with_cookies.text))
    record(CATEGORY, "cookies on bearer routes", tried=tried, refused=refused_)
    assert wrong == []


# --- refresh tokens ------------------------------------------------------------


def test_a_refresh_token_raced_by_several_holders_ends_the_family(api: Api) -> None:
    """Eight copies of one refresh token spent at once with the machine's key: the
    database lets one spend it and hands the others the same successor (retries of a
    lost response). A copy proven by any other key is a replay, and the replay revokes
    the family, the winner's new tokens included."""
    user = api.sign_in()
    machine = api.pair(user)
    results: list[Any] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def spend() -> None:
        client = api.client()
        start.wait()
        r = client.post(
            "/auth/token",
            json={"grant_type": "refresh_token", "refresh_token": machine.refresh_token},
            auth=machine.proof,
        )
        with lock:
            results.append(r)

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [r.status_code for r in results] == [200] * 8, [r.text for r in results]
    successors = {r.json()["refresh_token"] for r in results}
    assert len(successors) == 1
    (successor,) = successors
    used = api.anon.post(
        "/auth/token",
        json={"grant_type": "refresh_token", "refresh_token": successor},
        auth=machine.proof,
    )
    assert used.status_code == 200
    replay = api.anon.post(
        "/auth/token",
        json={"grant_type": "refresh_token", "refresh_token": machine.refresh_token},
        auth=DpopKey().auth(),
    )
    after = [
        api.anon.post(
            "/auth/token",
            json={"grant_type": "refresh_token", "refresh_token": used.json()["refresh_token"]},
            auth=machine.proof,
        ),
        api.anon.get("/api/me", auth=machine.key.auth(used.json()["access_token"])),
        api.anon.get("/api/me", auth=machine.auth),
    ]
    shut = [refused(replay) and replay.json().get("code") == "refresh_reused"]
    shut += [refused(r) and r.status_code == 401 for r in after]
    record(CATEGORY, "replayed refresh token", tried=len(shut), refused=sum(shut))
    assert all(shut), [r.text for r in [replay, *after]]
    events = api.anon.get("/api/audit/export", auth=user.auth).json()["events"]
    assert sum(e["action"] == "token.reuse" for e in events) == 1


def test_refresh_tokens_work_only_for_their_own_kind(api: Api) -> None:
    """A browser's refresh cookie at the machines' endpoint, a machine's refresh token
    as a browser cookie, a runner credential as a refresh token: refused, nothing spent."""
    user = api.sign_in()
    machine, runner = api.pair(user), api.pair(user, "runner")
    web_refresh = user.browser.cookies.get("__Secure-zkv_refresh")
    as_browser = api.client()
    assert machine.refresh_token is not None
    as_browser.cookies.set(
        "__Secure-zkv_refresh", machine.refresh_token, domain="testserver.local", path="/auth"
    )
    as_browser.cookies.set("zkv_csrf", "t", domain="testserver.local", path="/")
    # Each with a proof by its own holder's key: only the kind is wrong.
    attempts = [
        api.anon.post(
            "/auth/token",
            json={"grant_type": "refresh_token", "refresh_token": web_refresh},
            auth=user.proof,
        ),
        as_browser.post("/auth/refresh", headers={"X-CSRF-Token": "t"}, auth=machine.proof),
        api.anon.post(
            "/auth/token",
            json={"grant_type": "refresh_token", "refresh_token": runner.runner_credential},
            auth=runner.proof,
        ),
        api.anon.post(
            "/auth/token",
            json={"grant_type": "runner_credential", "credential": machine.refresh_token},
            auth=machine.proof,
        ),
        api.anon.post(
            "/auth/token",
            json={"grant_type": "runner_credential", "credential": web_refresh},
            auth=user.proof,
        ),
    ]
    shut = [
        refused(r) and (r.status_code, r.json()["code"]) == (401, "invalid_grant") for r in attempts
    ]
    record(CATEGORY, "token of another client kind", tried=len(shut), refused=sum(shut))
    assert all(shut), [r.text for r in attempts]
    # Nothing was spent or revoked by the attempts.
    r = api.anon.post(
        "/auth/token",
        json={"grant_type": "refresh_token", "refresh_token": machine.refresh_token},
        auth=machine.proof,
    )
    assert r.status_code == 200
    r = user.browser.post("/auth/refresh", headers=user.csrf(), auth=user.proof)
    assert r.status_code == 200
    r = api.anon.post(
        "/auth/token",
        json={"grant_type": "runner_credential", "credential": runner.runner_credential},
        auth=runner.proof,
    )
    assert r.status_code == 200
