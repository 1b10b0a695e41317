"""Pairing: code + one-time URL + poll secret, approval by the signed-in owner, once."""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, select, update
from starlette.testclient import TestClient

from server.app import create_app
from server.encoding import b64url_decode, b64url_encode
from server.models import Pairing
from tests.support.dpop import DpopKey
from tests.support.report import record
from vault_core import fingerprint

from .conftest import Api, SettingsFactory, User
from .routes import refused

# Fixed windows: a day-long one keeps a window boundary out of a sub-second test.
DAY = 86400


def test_machine_pairing_end_to_end(api: Api) -> None:
    user = api.sign_in()
    key = api.public_key()
    p = api.request_pairing("machine", "ada's laptop", key)
    assert len(p["code"]) == 11 and p["code"][5] == "-"
    assert p["url"] == f"https://testserver/pair#code={p['code']}"
    assert p["poll_secret"].startswith("zkv_poll_")
    # No fingerprint from the server: each end computes its own from the key
    # (docs/pairing.md), so there is nothing of the server's to trust.
    assert "fingerprint" not in p
    assert api.poll(p).json() == {"status": "pending", "kind": "machine"}

    seen = user.browser.post(
        "/api/pairings/lookup", json={"code": p["code"].lower()}, auth=user.auth
    )
    assert seen.status_code == 200
    assert (seen.json()["name"], seen.json()["public_key"]) == ("ada's laptop", key)
    assert "fingerprint" not in seen.json()

    r = user.browser.post("/api/pairings/approve", json={"code": p["code"]}, auth=user.auth)
    assert r.status_code == 200
    got = api.poll(p).json()
    assert got["status"] == "approved" and got["account_id"] == user.account_id
    assert got["refresh_token"].startswith("zkv_rt_") and "runner_credential" not in got
    # Delivered once: the second poll gets nothing.
    again = api.poll(p)
    assert again.status_code == 410 and again.json()["code"] == "already_claimed"
    # The machine's access token reads the vault of the approving account.
    me = api.anon.get("/api/me", auth=p["dpop"].auth(got["access_token"]))
    assert me.json()["account_id"] == user.account_id and me.json()["client_kind"] == "machine"
    machines = user.browser.get("/api/machines", auth=user.auth).json()
    assert [(m["id"], m["name"], m["public_key"]) for m in machines] == [
        (got["client_id"], "ada's laptop", key)
    ]
    assert "fingerprint" not in machines[0]
    # The audit trail names the key by the one fingerprint format (docs/format.md §12).
    events = api.anon.get("/api/audit/export", auth=user.auth).json()["events"]
    details = [e["detail"] for e in events if e["detail"].startswith("fingerprint ")]
    assert details == [f"fingerprint {fingerprint('machine', b64url_decode(key))}"]


def test_code_is_single_use(api: Api) -> None:
    alice, mallory = api.sign_in(), api.sign_in()
    p = api.request_pairing()
    assert (
        alice.browser.post(
            "/api/pairings/approve", json={"code": p["code"]}, auth=alice.auth
        ).status_code
        == 200
    )
    replays = []
    for path in ("/api/pairings/approve", "/api/pairings/refuse", "/api/pairings/lookup"):
        replays.append(mallory.browser.post(path, json={"code": p["code"]}, auth=mallory.auth))
    got = api.poll(p).json()
    assert got["account_id"] == alice.account_id
    # After the machine has claimed its credentials: the code, the one-time URL's
    # code in any spelling, and the poll secret are all spent, for everyone.
    for who in (alice, mallory):
        for code in (p["code"], p["code"].lower().replace("-", " ")):
            for path in ("/api/pairings/approve", "/api/pairings/refuse", "/api/pairings/lookup"):
                replays.append(who.browser.post(path, json={"code": code}, auth=who.auth))
    claim = api.poll(p)
    spent = [(r.status_code, r.json()["code"]) == (404, "unknown_code") for r in replays]
    spent.append((claim.status_code, claim.json()["code"]) == (410, "already_claimed"))
    record("api attacks", "replayed pairing code", tried=len(spent), refused=sum(spent))
    assert all(spent) and all(refused(r) for r in [*replays, claim])
    machines = alice.browser.get("/api/machines", auth=alice.auth).json()
    assert [m["id"] for m in machines] == [got["client_id"]]  # paired once, to alice
    assert mallory.browser.get("/api/machines", auth=mallory.auth).json() == []


def test_refused_pairing_gets_no_credentials(api: Api) -> None:
    user = api.sign_in()
    p = api.request_pairing()
    r = user.browser.post("/api/pairings/refuse", json={"code": p["code"]}, auth=user.auth)
    assert r.status_code == 200
    assert api.poll(p).json() == {"status": "refused", "kind": "machine"}
    r = user.browser.post("/api/pairings/approve", json={"code": p["code"]}, auth=user.auth)
    record("api attacks", "replayed pairing code", tried=1, refused=int(r.status_code == 404))
    assert refused(r) and r.status_code == 404


def test_expired_code_cannot_be_approved(api: Api, database_url: str) -> None:
    user = api.sign_in()
    p = api.request_pairing()
    engine = create_engine(database_url)
    with engine.begin() as conn:  # move the clock: the code expired a minute ago
        conn.execute(
            update(Pairing)
            .where(Pairing.id == uuid.UUID(p["pairing_id"]))
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    engine.dispose()
    r = user.browser.post("/api/pairings/approve", json={"code": p["code"]}, auth=user.auth)
    assert r.status_code == 404
    assert api.poll(p).json()["status"] == "expired"


def test_wrong_poll_secret_learns_nothing(api: Api) -> None:
    p = api.request_pairing()
    r = api.anon.post(
        "/api/pairings/poll",
        json={"pairing_id": p["pairing_id"], "poll_secret": "zkv_poll_guess"},
        auth=p["dpop"].auth(),
    )
    assert r.status_code == 404 and r.json()["code"] == "unknown_pairing"
    r = api.anon.post(
        "/api/pairings/poll",
        json={"pairing_id": str(uuid.uuid4()), "poll_secret": p["poll_secret"]},
        auth=p["dpop"].auth(),
    )
    assert r.status_code == 404


def test_pairing_request_rejects_anything_but_a_public_key(api: Api) -> None:
    bad = [
        {"kind": "machine", "name": "x", "public_key": "A" * 42},
        {"kind": "machine", "name": "x", "public_key": "A" * 44},
        {"kind": "machine", "name": "x", "public_key": "A" * 42 + "B"},  # non-canonical
        {"kind": "machine", "name": "x", "public_key": "A" * 43, "passphrase": "hunter2"},
        {"kind": "admin", "name": "x", "public_key": "A" * 43},
        {"kind": "machine", "name": "", "public_key": "A" * 43},
        {"kind": "machine", "name": "a\nb", "public_key": "A" * 43},
    ]
    for body in bad:
        r = api.anon.post("/api/pairings", json=body)
        assert r.status_code == 422 and r.json()["code"] == "invalid_request", body
        assert "hunter2" not in r.text


def test_guessing_codes_is_rate_limited(settings_factory: SettingsFactory, api: Api) -> None:
    app = create_app(settings_factory(rate_code_attempts_per_account=5, rate_window_seconds=DAY))
    try:
        user = api.sign_in()
        browser = TestClient(app, base_url="https://testserver")
        p = api.request_pairing()
        codes = []
        for i in range(5):
            guess = f"{i:05d}-00000"
            codes.append(
                browser.post(
                    "/api/pairings/approve", json={"code": guess}, auth=user.auth
                ).status_code
            )
        # Even the right code is refused once the account has used its attempts.
        r = browser.post("/api/pairings/approve", json={"code": p["code"]}, auth=user.auth)
        limited = r.status_code == 429 and r.json()["code"] == "rate_limited"
        pending = api.poll(p).json()["status"] == "pending"
        record(
            "api attacks",
            "pairing-code guessing",
            tried=6,
            refused=codes.count(404) + int(limited and pending),
        )
        assert codes == [404] * 5
        assert limited and pending
    finally:
        app.state.zk.engine.dispose()


def test_guessing_codes_is_limited_across_routes_and_accounts(
    settings_factory: SettingsFactory, api: Api
) -> None:
    """Lookup, approve and refuse draw on one per-account budget, and a global one
    bounds a crowd of accounts guessing together (docs/pairing.md's bound)."""
    app = create_app(
        settings_factory(
            rate_code_attempts_per_account=4, rate_code_attempts_global=10, rate_window_seconds=DAY
        )
    )
    try:
        browser = TestClient(app, base_url="https://testserver")
        p = api.request_pairing()
        paths = ["/api/pairings/lookup", "/api/pairings/approve", "/api/pairings/refuse"]
        guesses = iter(f"{i:05d}-ZZZZZ" for i in range(100))
        got: list[tuple[int, str]] = []

        def guess(who: User, n: int, code: str | None = None) -> list[int]:
            statuses = []
            for i in range(n):
                r = browser.post(paths[i % 3], json={"code": code or next(guesses)}, auth=who.auth)
                assert refused(r), r.text
                got.append((r.status_code, r.json()["code"]))
                statuses.append(r.status_code)
            return statuses

        first, second, third, fourth = (api.sign_in() for _ in range(4))
        # Per account: four attempts, whichever route; the fifth is refused.
        assert guess(first, 5) == [404] * 4 + [429]
        assert guess(second, 4) == [404] * 4  # 8 of the global 10 used
        # Globally: the crowd has two attempts left, then everyone is refused,
        # even a fresh account holding the right code.
        assert guess(third, 3) == [404, 404, 429]
        assert guess(fourth, 1, p["code"]) == [429]
        assert api.poll(p).json()["status"] == "pending"
        typed = [code in {"unknown_code", "rate_limited"} for _, code in got]
        record("api attacks", "pairing-code guessing", tried=len(got), refused=sum(typed))
        assert all(typed)
    finally:
        app.state.zk.engine.dispose()


def test_pairing_requests_are_rate_limited_per_address(settings_factory: SettingsFactory) -> None:
    app = create_app(settings_factory(rate_pairing_create_per_ip=3, rate_window_seconds=DAY))
    try:
        c = TestClient(app, base_url="https://testserver")
        body = {"kind": "machine", "name": "x", "public_key": "A" * 43}
        statuses = [
            c.post("/api/pairings", json=body, auth=DpopKey().auth()).status_code for _ in range(4)
        ]
        assert statuses == [201, 201, 201, 429]
    finally:
        app.state.zk.engine.dispose()


def test_rate_limits_are_shared_by_instances(settings_factory: SettingsFactory) -> None:
    """Two app instances over one database see one counter."""
    settings = settings_factory(rate_pairing_create_per_ip=2, rate_window_seconds=DAY)
    a, b = create_app(settings), create_app(settings)
    try:
        body = {"kind": "machine", "name": "x", "public_key": "A" * 43}
        ca = TestClient(a, base_url="https://testserver")
        cb = TestClient(b, base_url="https://testserver")
        got = [
            c.post("/api/pairings", json=body, auth=DpopKey().auth()).status_code
            for c in (ca, cb, ca)
        ]
        assert got == [201, 201, 429]
    finally:
        a.state.zk.engine.dispose()
        b.state.zk.engine.dispose()


def test_long_expired_pairings_are_cleaned_up(api: Api, database_url: str) -> None:
    old, fresh = api.request_pairing(), api.request_pairing()
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            update(Pairing)
            .where(Pairing.id == uuid.UUID(old["pairing_id"]))
            .values(expires_at=datetime.now(UTC) - timedelta(days=2))
        )
    api.request_pairing()
    with engine.connect() as conn:
        left = {str(i) for i in conn.execute(select(Pairing.id)).scalars()}
    engine.dispose()
    assert old["pairing_id"] not in left and fresh["pairing_id"] in left


def test_codes_are_stored_keyed_and_survive_a_key_rotation(
    api: Api, database_url: str, settings_factory: SettingsFactory
) -> None:
    """A database copy alone cannot be searched for a live code (2^50 is small offline).
    The key is TOKEN_SECRETS, not the signing keys: rotating the token secret (the old
    one kept) strands no pending code, and the signing keys play no part."""
    from tests.api.conftest import TOKEN_SECRET, Api

    pairing = api.request_pairing()
    engine = create_engine(database_url)
    with engine.connect() as conn:
        stored = conn.execute(select(Pairing.code_hash)).scalar_one()
    engine.dispose()
    assert stored != hashlib.sha256(pairing["code"].encode()).hexdigest()

    rotated = create_app(
        settings_factory(
            signing_keys=[b64url_encode(os.urandom(32))],
            token_secrets=[b64url_encode(os.urandom(32)), TOKEN_SECRET],
        )
    )
    try:
        user = Api(rotated, api.idp).sign_in()
        r = user.browser.post(
            "/api/pairings/approve", json={"code": pairing["code"]}, auth=user.auth
        )
        assert r.status_code == 200, r.text
    finally:
        rotated.state.zk.engine.dispose()


def test_a_stolen_poll_secret_without_the_key_gets_nothing(api: Api) -> None:
    """Someone who read the poll secret (and the pairing id) polls with their own key, or
    with none: refused, typed, while the machine that asked still gets its credentials."""
    user = api.sign_in()
    p = api.request_pairing()
    r = user.browser.post("/api/pairings/approve", json={"code": p["code"]}, auth=user.auth)
    assert r.status_code == 200
    body = {"pairing_id": p["pairing_id"], "poll_secret": p["poll_secret"]}
    thieves = [
        api.poll(p, DpopKey()),
        api.poll(p, DpopKey("ES256")),
        api.anon.post("/api/pairings/poll", json=body),
    ]
    codes = [(t.status_code, t.json().get("code")) for t in thieves]
    shut = [c == (401, "dpop_key_mismatch") for c in codes[:2]]
    shut += [codes[2] == (401, "dpop_required")]
    shut += ["refresh_token" not in t.json() for t in thieves]
    record(
        "api attacks", "stolen poll secret, another key or none", tried=len(shut), refused=sum(shut)
    )
    assert all(shut), codes
    owner = api.poll(p)
    assert owner.status_code == 200 and owner.json()["status"] == "approved"
