"""Access tokens (EdDSA JWT) and refresh-token rotation with family revocation."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable

import httpx
import httpx2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from starlette.testclient import TestClient

from server.encoding import b64url_decode, b64url_encode
from tests.support.dpop import DpopAuth, DpopKey
from tests.support.report import record

from .conftest import Api, Device, SettingsFactory, User
from .routes import Operation, operations, refused


def _jws(
    header: dict[str, object], claims: dict[str, object], sign: Callable[[bytes], bytes]
) -> str:
    h = b64url_encode(json.dumps(header).encode())
    p = b64url_encode(json.dumps(claims).encode())
    return f"{h}.{p}.{b64url_encode(sign(f'{h}.{p}'.encode()))}"


def _claims(user: User, **over: object) -> dict[str, object]:
    now = int(time.time())
    payload: dict[str, object] = json.loads(b64url_decode(user.token.split(".")[1]))
    payload.update({"iat": now, "nbf": now, "exp": now + 600})
    payload.update(over)
    return payload


def _age_spent_tokens(api: Api, seconds: int) -> None:
    """As if the spent refresh tokens had been used `seconds` ago."""
    from datetime import timedelta

    from sqlalchemy import update

    from server.db import utcnow
    from server.models import RefreshToken

    with api.app.state.zk.sessions() as db:
        db.execute(
            update(RefreshToken)
            .where(RefreshToken.used_at.is_not(None))
            .values(used_at=utcnow() - timedelta(seconds=seconds))
        )
        db.commit()


def _status(api: Api, auth: DpopAuth, path: str = "/api/vault") -> tuple[int, str]:
    """A GET with `auth` (a token and a proof by some key: see tests/support/dpop.py)."""
    r = api.anon.get(path, auth=auth)
    return r.status_code, r.json().get("code", "")


def test_jwks_publishes_the_signing_key_and_tokens_verify_against_it(api: Api) -> None:
    user = api.sign_in()
    keys = api.anon.get("/.well-known/jwks.json").json()["keys"]
    header = json.loads(b64url_decode(user.token.split(".")[0]))
    assert header["alg"] == "EdDSA" and header["typ"] == "at+jwt"
    key = next(k for k in keys if k["kid"] == header["kid"])
    assert (key["kty"], key["crv"]) == ("OKP", "Ed25519") and "d" not in key
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    signing_input, _, sig = user.token.rpartition(".")
    Ed25519PublicKey.from_public_bytes(b64url_decode(key["x"])).verify(
        b64url_decode(sig), signing_input.encode()
    )
    claims = json.loads(b64url_decode(user.token.split(".")[1]))
    assert claims["aud"] == "zkvault:web" and claims["sub"] == user.account_id
    assert claims["exp"] - claims["iat"] == 900


def _authenticated(api: Api) -> list[Operation]:
    ops = [op for op in operations(api.app) if not op.anonymous]
    assert len(ops) >= 20, [op.key for op in ops]  # the walk really sees the API
    return ops


def _call(api: Api, op: Operation, auth: DpopAuth | dict[str, str]) -> httpx2.Response:
    if isinstance(auth, dict):  # headers as given, with no proof
        return api.anon.request(op.method, op.url(), json=op.body(), headers=auth)
    return api.anon.request(op.method, op.url(), json=op.body(), auth=auth)


def test_forged_and_wrong_tokens_are_refused(api: Api) -> None:
    """Each forgery on every authenticated route (tests/api/routes.py): 401, no 5xx."""
    user = api.sign_in()
    bystander = api.pair(api.sign_in())
    assert _status(api, user.auth, "/api/me")[0] == 200  # control
    kid = json.loads(b64url_decode(user.token.split(".")[0]))["kid"]
    server_key = api.app.state.zk.keys._keys[0].private
    jwk_x = api.anon.get("/.well-known/jwks.json").json()["keys"][0]["x"]
    attacker = Ed25519PrivateKey.generate()
    good_header = {"alg": "EdDSA", "typ": "at+jwt", "kid": kid}
    no_exp = {k: v for k, v in _claims(user).items() if k != "exp"}
    forged = {
        "alg none": _jws({"alg": "none", "kid": kid}, _claims(user), lambda m: b""),
        "alg none, no sig": user.token.split(".")[0].replace(
            user.token.split(".")[0], b64url_encode(b'{"alg":"none"}')
        )
        + "."
        + b64url_encode(json.dumps(_claims(user)).encode())
        + ".",
        "HS256 with the public key": _jws(
            {"alg": "HS256", "kid": kid},
            _claims(user),
            lambda m: hmac.new(jwk_x.encode(), m, hashlib.sha256).digest(),
        ),
        "another key, same kid": _jws(good_header, _claims(user), attacker.sign),
        "unknown kid": _jws({**good_header, "kid": "nope"}, _claims(user), server_key.sign),
        "no kid": _jws({"alg": "EdDSA", "typ": "at+jwt"}, _claims(user), server_key.sign),
        "kid that is a list": _jws({**good_header, "kid": [kid]}, _claims(user), server_key.sign),
        "kid that is an object": _jws(
            {**good_header, "kid": {"k": kid}}, _claims(user), server_key.sign
        ),
        "expired": _jws(good_header, _claims(user, exp=int(time.time()) - 3600), server_key.sign),
        "no expiry": _jws(good_header, no_exp, server_key.sign),
        "expiry as a string": _jws(
            good_header, _claims(user, exp=str(int(time.time()) + 600)), server_key.sign
        ),
        "not yet valid": _jws(
            good_header, _claims(user, nbf=int(time.time()) + 600), server_key.sign
        ),
        "wrong audience": _jws(good_header, _claims(user, aud="zkvault:admin"), server_key.sign),
        "wrong issuer": _jws(good_header, _claims(user, iss="https://evil"), server_key.sign),
        "another user's sub": _jws(
            good_header, _claims(user, sub=str(uuid.uuid4())), server_key.sign
        ),
        # Signed by the server's own key (as if it leaked), still bound to the client row:
        # another account's client id under this account, or a client that does not exist.
        "another account's client": _jws(
            good_header, _claims(user, sid=bystander.client_id), server_key.sign
        ),
        "a client that does not exist": _jws(
            good_header, _claims(user, sid=str(uuid.uuid4())), server_key.sign
        ),
        "tampered payload": ".".join(
            [
                user.token.split(".")[0],
                b64url_encode(json.dumps(_claims(user, sub=str(uuid.uuid4()))).encode()),
                user.token.split(".")[2],
            ]
        ),
        "oversized": user.token + "A" * 5000,
        "garbage": "not-a-token",
        "empty parts": "..",
    }
    # Each forged token with a good proof by the user's own key: only the token is wrong.
    headers: dict[str, DpopAuth | dict[str, str]] = {
        name: user.key.auth(token) for name, token in forged.items()
    }
    headers |= {
        "no token": {},
        "Basic scheme": {"Authorization": "Basic Zm9vOmJhcg=="},
        "Bearer, nothing after": {"Authorization": "Bearer "},
        "the real token as Bearer": {"Authorization": f"Bearer {user.token}"},
        "the real token, DPoP scheme, no proof": {"Authorization": f"DPoP {user.token}"},
    }
    # Each refusal names its kind, so a client wipes only on "revoked" (docs/server.md).
    codes = {
        "unknown kid": "unknown_signing_key",
        "expired": "token_expired",
        "not yet valid": "token_expired",
        "another user's sub": "revoked",
        "another account's client": "revoked",
        "a client that does not exist": "revoked",
        "no token": "dpop_required",
        "Basic scheme": "dpop_required",
        "Bearer, nothing after": "dpop_required",
        "the real token as Bearer": "dpop_required",
        "the real token, DPoP scheme, no proof": "dpop_required",
    }
    answers = []
    for op in _authenticated(api):
        for name, h in headers.items():
            r = _call(api, op, h)
            code = codes.get(name, "unauthorized")
            audience_first = code == "revoked" or name.endswith("no proof")
            if audience_first and "web" not in op.kinds:  # the token is checked first
                code = "unauthorized"
            answers.append((op.key, name, code, r.status_code, r.json().get("code")))
    let_in = [a for a in answers if a[3:] != (401, a[2])]
    record(
        "api attacks",
        "forged or wrong access tokens",
        tried=len(answers),
        refused=len(answers) - len(let_in),
    )
    assert not let_in, let_in
    assert _status(api, user.auth, "/api/me")[0] == 200  # the real one still works


def test_audience_per_client_kind(api: Api) -> None:
    user = api.sign_in()
    machine = api.pair(user, "machine")
    runner = api.pair(user, "runner")
    assert _status(api, machine.auth, "/api/vault")[0] == 404  # allowed, no vault yet
    assert _status(api, machine.auth, "/api/machines") == (401, "unauthorized")
    assert _status(api, runner.auth, "/api/vault") == (401, "unauthorized")
    assert _status(api, user.auth, "/api/runner/grant") == (401, "unauthorized")
    assert _status(api, machine.auth, "/api/runner/grant") == (401, "unauthorized")
    # Every authenticated route, with each kind of token it does not take.
    tokens: dict[str, User | Device] = {"web": user, "machine": machine, "runner": runner}
    answers = []
    for op in _authenticated(api):
        for kind, who in tokens.items():
            if kind in op.kinds:
                continue
            r = _call(api, op, who.auth)
            answers.append((op.key, kind, r.status_code, r.json().get("code")))
    let_in = [a for a in answers if a[2:] != (401, "unauthorized")]
    record(
        "api attacks",
        "token of another client kind",
        tried=len(answers),
        refused=len(answers) - len(let_in),
    )
    assert not let_in, let_in


def test_machine_refresh_rotates_and_reuse_revokes_the_family(api: Api) -> None:
    user = api.sign_in()
    machine = api.pair(user)
    assert machine.refresh_token is not None
    assert machine.refresh_token.startswith("zkv_rt_")
    r1 = machine.refresh_token
    r = _refresh(api, r1, machine.key)
    assert r.status_code == 200, r.text
    r2, access2 = r.json()["refresh_token"], r.json()["access_token"]
    assert r2 != r1 and r2.startswith("zkv_rt_")
    assert _status(api, machine.key.auth(access2))[0] == 404  # works (no vault yet)

    # Before r2 is used, r1 again from the machine's own key is a retry: r2 once more,
    # however late (the answer was lost a day ago).
    _age_spent_tokens(api, seconds=86400)
    retry = _refresh(api, r1, machine.key)
    assert retry.status_code == 200 and retry.json()["refresh_token"] == r2
    # r1 from a thief's key: reuse. The whole family is gone: the successor and every
    # access token.
    replay = _refresh(api, r1, DpopKey())
    r = _refresh(api, r2, machine.key)
    seen = [
        (replay.status_code, replay.json()["code"]) == (401, "refresh_reused"),
        "refresh_token" not in replay.json(),
        refused(r) and r.status_code == 401,
        _status(api, machine.key.auth(access2)) == (401, "revoked"),
        _status(api, machine.auth) == (401, "revoked"),
    ]
    record("api attacks", "replayed refresh token", tried=len(seen), refused=sum(seen))
    assert all(seen), seen
    events = api.anon.get("/api/audit/export", auth=user.auth).json()["events"]
    reuse = [e for e in events if e["action"] == "token.reuse"]
    assert len(reuse) == 1 and reuse[0]["outcome"] == "failure"
    assert reuse[0]["tag"] == "machine:token:reuse"
    assert any(e["tag"] == "machine:token:refresh" for e in events)


def _refresh(api: Api, token: str | None, key: DpopKey | None) -> httpx2.Response:
    """A machine's refresh with a proof by `key` (None: no proof at all)."""
    body = {"grant_type": "refresh_token", "refresh_token": token}
    if key is None:
        return api.client().post("/auth/token", json=body)
    return api.client().post("/auth/token", json=body, auth=key.auth())


def test_refresh_token_must_be_genuine(api: Api) -> None:
    for token in ["zkv_rt_" + "A" * 43, "garbage", "zkv_runner_" + "A" * 43]:
        r = _refresh(api, token, DpopKey())
        assert r.status_code == 401 and r.json()["code"] == "invalid_grant"
    r = api.anon.post("/auth/token", json={"grant_type": "password", "password": "x"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"


def test_browser_refresh_needs_csrf_and_rotates_the_cookie(api: Api) -> None:
    user = api.sign_in()
    b = user.browser
    assert b.post("/auth/refresh").json()["code"] == "csrf"
    r = b.post("/auth/refresh", headers={"X-CSRF-Token": "wrong"})
    assert r.status_code == 403
    r = b.post("/auth/refresh", headers={**user.csrf(), "Origin": "https://evil.example"})
    assert r.status_code == 403 and r.json()["code"] == "csrf"
    old = b.cookies.get("__Secure-zkv_refresh")
    r = b.post(
        "/auth/refresh", headers={**user.csrf(), "Origin": "https://testserver"}, auth=user.proof
    )
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=strict" in cookie
    assert "Path=/auth" in cookie
    new = b.cookies.get("__Secure-zkv_refresh")
    assert new and new != old and new.startswith("zkv_rt_")
    # The rotated-out cookie presented again without the browser's key revokes the
    # browser session.
    assert b.post("/auth/refresh", headers=user.csrf(), auth=user.proof).status_code == 200
    thief = api.client()
    assert old is not None
    thief.cookies.set("__Secure-zkv_refresh", old, domain="testserver.local", path="/auth")
    thief.cookies.set("zkv_csrf", "t", domain="testserver.local", path="/")
    r = thief.post("/auth/refresh", headers={"X-CSRF-Token": "t"})
    seen = [
        (r.status_code, r.json()["code"]) == (401, "refresh_reused"),
        b.post("/auth/refresh", headers=user.csrf(), auth=user.proof).status_code == 401,
        _status(api, user.auth, "/api/me") == (401, "revoked"),
    ]
    record("api attacks", "replayed refresh token", tried=len(seen), refused=sum(seen))
    assert all(seen), seen


def test_logout_ends_the_browser_session(api: Api) -> None:
    user = api.sign_in()
    assert user.browser.post("/auth/logout", headers=user.csrf()).json()["code"] == "dpop_required"
    r = user.browser.post("/auth/logout", headers=user.csrf(), auth=user.proof)
    assert r.status_code == 204
    assert _status(api, user.auth, "/api/me") == (401, "revoked")


@pytest.mark.parametrize("body", [{"grant_type": "runner_credential", "credential": "zkv_x"}])
def test_runner_credential_must_be_genuine(api: Api, body: dict[str, str]) -> None:
    r = api.anon.post("/auth/token", json=body, auth=DpopKey().auth())
    assert r.status_code == 401 and r.json()["code"] == "invalid_grant"


def test_jwks_is_fetchable_over_real_http_shape(api: Api) -> None:
    r = api.anon.get("/.well-known/jwks.json")
    assert r.status_code == 200 and r.headers["cache-control"].startswith("public")
    assert isinstance(httpx.Response(200, json=r.json()).json()["keys"], list)


def test_key_rotation_by_adding_a_key(settings_factory: SettingsFactory, api: Api) -> None:
    """Prepend a new key: new tokens use it, tokens from the old key still verify."""
    from starlette.testclient import TestClient

    from server.app import create_app

    user = api.sign_in()  # signed by the run's key
    old_key = api.app.state.zk.settings.signing_keys[0].get_secret_value()
    new_key = b64url_encode(Ed25519PrivateKey.generate().private_bytes_raw())
    rotated = create_app(settings_factory(signing_keys=[new_key, old_key]))
    retired = create_app(settings_factory(signing_keys=[new_key]))
    try:
        c = TestClient(rotated, base_url="https://testserver")
        kids = [k["kid"] for k in c.get("/.well-known/jwks.json").json()["keys"]]
        assert len(kids) == 2
        assert c.get("/api/me", auth=user.auth).status_code == 200
        fresh, _ = rotated.state.zk.keys.issue(
            uuid.UUID(user.account_id),
            uuid.UUID(json.loads(b64url_decode(user.token.split(".")[1]))["sid"]),
            "web",
            user.key.jkt,
        )
        assert json.loads(b64url_decode(fresh.split(".")[0]))["kid"] == kids[0]
        assert c.get("/api/me", auth=user.key.auth(fresh)).status_code == 200
        # Once the old key is dropped, its tokens stop working.
        d = TestClient(retired, base_url="https://testserver")
        assert d.get("/api/me", auth=user.auth).status_code == 401
        assert d.get("/api/me", auth=user.key.auth(fresh)).status_code == 200
    finally:
        rotated.state.zk.engine.dispose()
        retired.state.zk.engine.dispose()


def test_clock_skew_within_the_bound_is_tolerated_and_beyond_it_refused(api: Api) -> None:
    """Another instance's clock may be up to max_clock_skew_seconds off either way."""
    user = api.sign_in()
    state = api.app.state.zk
    skew = state.settings.max_clock_skew_seconds
    assert skew >= 60
    header = json.loads(b64url_decode(user.token.split(".")[0]))
    sign = state.keys._keys[0].private.sign
    now = int(time.time())
    ahead = {"iat": now + skew - 5, "nbf": now + skew - 5, "exp": now + skew + 600}
    behind = {"iat": now - 900 - skew + 5, "nbf": now - 900 - skew + 5, "exp": now - skew + 5}
    for claims in (ahead, behind):
        token = _jws(header, _claims(user, **claims), sign)
        assert _status(api, user.key.auth(token), "/api/me")[0] == 200
    beyond = {
        "nbf too far ahead": {"nbf": now + skew + 30},
        "iat too far ahead": {"iat": now + skew + 30},
        "exp too far behind": {"exp": now - skew - 30},
    }
    for name, claims in beyond.items():
        token = _jws(header, _claims(user, **claims), sign)
        assert _status(api, user.key.auth(token), "/api/me") == (401, "token_expired"), name


def test_a_verify_only_key_verifies_and_is_published_but_never_signs(
    database_url: str, idp: str
) -> None:
    """Rotation phase 1 on one instance, phase 2 on another (docs/operations.md)."""
    from server.app import create_app

    from .conftest import SIGNING_KEY, Api, make_settings

    new = b64url_encode(hashlib.sha256(b"rotation test " + SIGNING_KEY.encode()).digest())
    phase1 = create_app(
        make_settings(database_url, idp, signing_keys=[SIGNING_KEY], verify_only_keys=[new])
    )
    phase2 = create_app(make_settings(database_url, idp, signing_keys=[new, SIGNING_KEY]))
    phase3 = create_app(make_settings(database_url, idp, signing_keys=[new]))
    try:
        _rotation_phases(Api(phase1, idp), Api(phase2, idp), phase3)
    finally:
        for a in (phase1, phase2, phase3):
            a.state.zk.engine.dispose()


def _client(app: FastAPI) -> TestClient:
    return TestClient(app, base_url="https://testserver")  # the public URL proofs name


def _rotation_phases(one: Api, two: Api, phase3: FastAPI) -> None:
    phase1, phase2 = one.app, two.app
    kids = [
        [k["kid"] for k in _client(a).get("/.well-known/jwks.json").json()["keys"]]
        for a in (phase1, phase2, phase3)
    ]
    assert sorted(kids[0]) == sorted(kids[1]) and len(kids[0]) == 2 and len(kids[2]) == 1
    user1, user2 = one.sign_in(), two.sign_in()

    def kid(token: str) -> str:
        value = json.loads(b64url_decode(token.split(".")[0]))["kid"]
        assert isinstance(value, str), value
        return value

    assert kid(user1.token) != kid(user2.token) == kids[2][0]  # phase 1 still signs with old
    for user in (user1, user2):
        for a in (phase1, phase2):
            r = _client(a).get("/api/me", auth=user.auth)
            assert r.status_code == 200, r.text
    # Phase 3 drops the old key: an old-key token is "cannot verify", never "revoked".
    r = _client(phase3).get("/api/me", auth=user1.auth)
    shut = (r.status_code, r.json()["code"]) == (401, "unknown_signing_key")
    record("api attacks", "token signed by a retired key", tried=1, refused=int(shut))
    assert shut, r.text


def test_a_retried_refresh_from_the_same_key_gets_the_same_successor(api: Api) -> None:
    """A lost response: the client sends the same refresh token again, with its own key.
    It gets the same successor (twice even, a day later even), the family lives on, and
    the audit trail says so. The database holds only hashes of both."""
    from sqlalchemy import select

    from server.credentials import digest
    from server.models import RefreshToken

    user = api.sign_in()
    machine = api.pair(user)
    answers = [_refresh(api, machine.refresh_token, machine.key) for _ in range(2)]
    _age_spent_tokens(api, seconds=86400)
    answers.append(_refresh(api, machine.refresh_token, machine.key))
    assert [r.status_code for r in answers] == [200, 200, 200], [r.text for r in answers]
    successor = answers[0].json()["refresh_token"]
    assert {r.json()["refresh_token"] for r in answers} == {successor}
    for r in answers:
        assert _status(api, machine.key.auth(r.json()["access_token"]), "/api/me")[0] == 200
    with api.app.state.zk.sessions() as db:
        stored = set(db.scalars(select(RefreshToken.token_hash)))
    assert digest(successor) in stored and successor not in stored
    assert _refresh(api, successor, machine.key).status_code == 200
    # Its successor in use, the old token from the same key is refused, nothing revoked.
    stale = _refresh(api, machine.refresh_token, machine.key)
    assert (stale.status_code, stale.json()["code"]) == (401, "invalid_grant")
    assert _status(api, machine.auth, "/api/me")[0] == 200
    events = api.anon.get("/api/audit/export", auth=user.auth).json()["events"]
    retried = [e for e in events if e["action"] == "token.refresh" and e["detail"]]
    assert len(retried) == 2 and not [e for e in events if e["action"] == "token.reuse"]


@pytest.mark.parametrize("thief", ["no key", "another key"])
def test_a_stolen_refresh_token_without_the_key_ends_the_family(api: Api, thief: str) -> None:
    """The thief has the refresh token (spent or not) but not the machine's key: refused,
    and the family is revoked at once, the owner's live access token included."""
    user = api.sign_in()
    machine = api.pair(user)
    first = _refresh(api, machine.refresh_token, machine.key)
    assert first.status_code == 200
    current = first.json()["refresh_token"]
    stolen = _refresh(api, current, None if thief == "no key" else DpopKey())
    seen = [
        (stolen.status_code, stolen.json()["code"]) == (401, "refresh_reused"),
        "access_token" not in stolen.json(),
        _status(api, machine.key.auth(first.json()["access_token"]), "/api/me") == (401, "revoked"),
        _refresh(api, current, machine.key).status_code == 401,
    ]
    record("api attacks", f"stolen refresh token, {thief}", tried=len(seen), refused=sum(seen))
    assert all(seen), seen
    events = api.anon.get("/api/audit/export", auth=user.auth).json()["events"]
    assert [e["outcome"] for e in events if e["action"] == "token.reuse"] == ["failure"]


def test_concurrent_refreshes_through_two_instances_agree(
    app: FastAPI, database_url: str, idp: str
) -> None:
    """Two app instances (own engines and pools, one database), the same refresh token
    sent to both at once, ten times over: both answers carry the one successor."""
    import threading

    from starlette.testclient import TestClient

    from server.app import create_app

    from .conftest import Api, make_settings

    other = create_app(make_settings(database_url, idp))
    try:
        api, api2 = Api(app, idp), Api(other, idp)
        machine = api.pair(api.sign_in())
        token = machine.refresh_token
        for _ in range(10):
            answers: list[httpx2.Response] = []
            barrier = threading.Barrier(2)

            def spend(
                instance: Api,
                tok: str | None = token,
                out: list[httpx2.Response] = answers,
                gate: threading.Barrier = barrier,
            ) -> None:
                client = TestClient(instance.app, base_url="https://testserver")
                gate.wait()
                out.append(
                    client.post(
                        "/auth/token",
                        json={"grant_type": "refresh_token", "refresh_token": tok},
                        auth=machine.proof,
                    )
                )

            threads = [threading.Thread(target=spend, args=(a,)) for a in (api, api2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
            successors = {r.json()["refresh_token"] for r in answers}
            assert len(successors) == 1
            token = successors.pop()
    finally:
        other.state.zk.engine.dispose()
