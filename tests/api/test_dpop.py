"""The thief has the token but not the key: DPoP proofs (RFC 9449) on every request.

Each case takes a real, live credential (an access token, the browser's refresh cookie,
a poll secret) and presents it the way someone who copied it could: with no proof, with
a proof by another key, with a proof made for another request, or with a proof that was
already used. Each is refused with its documented code (docs/server.md, "Proof of
possession"), and the owner, who holds the key, carries on.
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

import httpx2
import pytest
from sqlalchemy import update

from server.models import Client
from tests.support.dpop import DpopKey, b64
from tests.support.report import record

from .conftest import BASE_URL, Api, Device, User

ME = f"{BASE_URL}/api/me"


def _get(api: Api, token: str | None, proof: str | None, path: str = "/api/me") -> Any:
    headers = {}
    if token is not None:
        headers["Authorization"] = f"DPoP {token}"
    if proof is not None:
        headers["DPoP"] = proof
    return api.client().get(path, headers=headers)


def _code(r: httpx2.Response) -> tuple[int, str]:
    return r.status_code, str(r.json().get("code", ""))


@pytest.mark.parametrize("kind", ["web", "machine"])
def test_a_stolen_access_token_needs_its_key(api: Api, kind: str) -> None:
    owner = api.sign_in()
    who: User | Device = owner if kind == "web" else api.pair(owner)
    token, key = who.token, who.key
    thief = DpopKey("ES256" if kind == "machine" else "EdDSA")
    now = int(time.time())
    skew = api.app.state.zk.settings.max_clock_skew_seconds
    private_jwk = {**key.jwk, "d": b64(secrets.token_bytes(32))}
    used = key.proof("GET", ME, token)
    assert _get(api, token, used).status_code == 200  # control: the owner, once
    attempts: dict[str, tuple[Any, str]] = {
        "no proof": (_get(api, token, None), "dpop_required"),
        "as a bearer token": (
            api.client().get("/api/me", headers={"Authorization": f"Bearer {token}"}),
            "dpop_required",
        ),
        "a proof by another key": (
            _get(api, token, thief.proof("GET", ME, token)),
            "dpop_key_mismatch",
        ),
        "the owner's proof, replayed": (_get(api, token, used), "dpop_replayed"),
        "a proof for another URL": (
            _get(api, token, key.proof("GET", f"{BASE_URL}/api/vault", token)),
            "dpop_invalid",
        ),
        "a proof for another host": (
            _get(api, token, key.proof("GET", "https://evil.example/api/me", token)),
            "dpop_invalid",
        ),
        "a proof for another method": (
            _get(api, token, key.proof("POST", ME, token)),
            "dpop_invalid",
        ),
        "a proof for another access token": (
            _get(api, token, key.proof("GET", ME, token + "x")),
            "dpop_invalid",
        ),
        "a proof without ath": (_get(api, token, key.proof("GET", ME)), "dpop_invalid"),
        "a stale proof": (
            _get(api, token, key.proof("GET", ME, token, iat=now - 3600)),
            "dpop_invalid",
        ),
        "a proof from the future": (
            _get(api, token, key.proof("GET", ME, token, iat=now + skew + 60)),
            "dpop_invalid",
        ),
        "alg none": (
            _get(api, token, _unsigned(key, token, {"alg": "none"})),
            "dpop_invalid",
        ),
        "HS256": (
            _get(api, token, key.proof("GET", ME, token, header={"alg": "HS256"})),
            "dpop_invalid",
        ),
        "another typ": (
            _get(api, token, key.proof("GET", ME, token, header={"typ": "JWT"})),
            "dpop_invalid",
        ),
        "a jwk with its private part": (
            _get(api, token, key.proof("GET", ME, token, header={"jwk": private_jwk})),
            "dpop_invalid",
        ),
        "a tiny jti": (_get(api, token, key.proof("GET", ME, token, jti="a")), "dpop_invalid"),
        "garbage": (_get(api, token, "not.a.proof"), "dpop_invalid"),
        "two proofs": (
            api.client().get(
                "/api/me",
                headers=[
                    ("Authorization", f"DPoP {token}"),
                    ("DPoP", key.proof("GET", ME, token)),
                    ("DPoP", key.proof("GET", ME, token)),
                ],
            ),
            "dpop_invalid",
        ),
        "oversized": (_get(api, token, "A" * 5000 + ".."), "dpop_invalid"),
    }
    got = {name: _code(r) for name, (r, _) in attempts.items()}
    wanted = {name: (401, code) for name, (_, code) in attempts.items()}
    shut = [got[n] == wanted[n] for n in attempts]
    record("api attacks", f"stolen {kind} access token", tried=len(shut), refused=sum(shut))
    assert got == wanted
    assert _get(api, token, key.proof("GET", ME, token)).status_code == 200  # still works


def _unsigned(key: DpopKey, token: str, header: dict[str, Any]) -> str:
    signed = key.proof("GET", ME, token, header=header)
    return signed.rsplit(".", 1)[0] + "."


def test_every_authenticated_route_refuses_a_proof_by_another_key(api: Api) -> None:
    """The same check on every route that takes an access token (tests/api/routes.py)."""
    from .routes import operations

    owner = api.sign_in()
    machine, runner = api.pair(owner), api.pair(owner, "runner")
    thief = DpopKey()
    tried = refused = 0
    for op in operations(api.app):
        if op.anonymous:
            continue
        for who in (owner, machine, runner):
            kind = who.kind if isinstance(who, Device) else "web"
            if kind not in op.kinds:
                continue
            r = api.client().request(
                op.method, op.url(), json=op.body(), auth=thief.auth(who.token)
            )
            tried += 1
            ok = _code(r) == (401, "dpop_key_mismatch")
            refused += ok
            assert ok, (op.key, r.status_code, r.text)
    record("api attacks", "access token with another key's proof", tried=tried, refused=refused)
    assert tried >= 20


def test_a_stolen_web_cookie_cannot_refresh_nor_approve_a_pairing(api: Api) -> None:
    """The refresh cookie and the CSRF cookie copied out of the browser, replayed by the
    thief (no key, or their own): refused, the session revoked, and the thief's machine
    is never approved."""
    owner = api.sign_in()
    jar = {c.name: c.value or "" for c in owner.browser.cookies.jar}
    thief = api.client()
    for name, value in jar.items():
        path = "/auth" if "refresh" in name else "/"
        thief.cookies.set(name, value, domain="testserver.local", path=path)
    csrf = {"X-CSRF-Token": jar["zkv_csrf"]}
    mine = api.request_pairing(name="thief-box")
    no_key = thief.post("/auth/refresh", headers=csrf)
    other_key = thief.post("/auth/refresh", headers=csrf, auth=DpopKey("ES256").auth())
    approve = thief.post("/api/pairings/approve", json={"code": mine["code"]})
    shut = [
        _code(no_key) == (401, "refresh_reused"),
        _code(other_key) == (401, "invalid_grant"),  # the family already ended
        "access_token" not in no_key.json() and "access_token" not in other_key.json(),
        _code(approve) == (401, "dpop_required"),
        api.poll(mine).json()["status"] == "pending",
        _code(api.client().get("/api/me", auth=owner.auth)) == (401, "revoked"),
    ]
    record("api attacks", "stolen web session cookie", tried=len(shut), refused=sum(shut))
    assert all(shut), [no_key.text, other_key.text, approve.text]


def test_a_stolen_web_cookie_with_another_key_ends_the_session(api: Api) -> None:
    owner = api.sign_in()
    thief = api.client()
    cookie = owner.browser.cookies.get("__Secure-zkv_refresh") or ""
    thief.cookies.set("__Secure-zkv_refresh", cookie, domain="testserver.local", path="/auth")
    thief.cookies.set("zkv_csrf", "t", domain="testserver.local", path="/")
    r = thief.post("/auth/refresh", headers={"X-CSRF-Token": "t"}, auth=DpopKey("ES256").auth())
    assert _code(r) == (401, "refresh_reused")
    again = owner.browser.post("/auth/refresh", headers=owner.csrf(), auth=owner.proof)
    assert again.status_code == 401  # the owner signs in again; the thief got nothing


def test_sign_in_binds_the_session_to_the_key_that_started_it(api: Api) -> None:
    """The login begun with key A makes a session only key A can refresh."""
    import httpx

    sub = "bound-user"
    httpx.put(f"{api.idp}/users/{sub}", json={"email": "b@example.test", "name": "B"})
    browser, key = api.client(), DpopKey("ES256")
    back = api.idp_authorize(api.start_login(browser, key), sub)
    assert browser.get(back).status_code == 302
    csrf = {"X-CSRF-Token": browser.cookies.get("zkv_csrf") or ""}
    assert _code(browser.post("/auth/login")) == (401, "dpop_required")
    r = browser.post("/auth/refresh", headers=csrf, auth=key.auth())
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    assert api.client().get("/api/me", auth=key.auth(token)).status_code == 200
    assert _code(api.client().get("/api/me", auth=DpopKey("ES256").auth(token))) == (
        401,
        "dpop_key_mismatch",
    )


def test_a_jti_is_accepted_once_across_instances(api: Api, settings_factory: Any) -> None:
    """Two app instances over one database: a proof spent on one is refused by the other."""
    from starlette.testclient import TestClient

    from server.app import create_app

    owner = api.sign_in()
    other = create_app(settings_factory())
    try:
        proof = owner.key.proof("GET", ME, owner.token)
        headers = {"Authorization": f"DPoP {owner.token}", "DPoP": proof}
        first = api.client().get("/api/me", headers=headers)
        second = TestClient(other, base_url=BASE_URL).get("/api/me", headers=headers)
        assert first.status_code == 200
        assert _code(second) == (401, "dpop_replayed")
    finally:
        other.state.zk.engine.dispose()


def test_a_runner_credential_needs_the_runners_key(api: Api) -> None:
    owner = api.sign_in()
    runner = api.pair(owner, "runner")
    body = {"grant_type": "runner_credential", "credential": runner.runner_credential}
    stolen = api.client().post("/auth/token", json=body, auth=DpopKey().auth())
    none = api.client().post("/auth/token", json=body)
    assert _code(stolen) == (401, "dpop_key_mismatch") and "access_token" not in stolen.json()
    assert _code(none) == (401, "dpop_required")
    assert api.client().post("/auth/token", json=body, auth=runner.proof).status_code == 200


def test_a_runner_enrolled_before_keys_is_told_to_enrol_again(api: Api) -> None:
    """A runner row from before proof of possession has no key: nothing it (or a thief
    with its credential) sends is taken as its key; the answer says why, for good."""
    owner = api.sign_in()
    runner = api.pair(owner, "runner")
    with api.app.state.zk.sessions() as db:
        db.execute(
            update(Client).where(Client.id == uuid.UUID(runner.client_id)).values(dpop_jkt=None)
        )
        db.commit()
    body = {"grant_type": "runner_credential", "credential": runner.runner_credential}
    for auth in (runner.proof, DpopKey().auth()):
        r = api.client().post("/auth/token", json=body, auth=auth)
        assert _code(r) == (401, "unbound_client") and "access_token" not in r.json()


def test_the_proof_names_the_public_url_not_the_host_header(api: Api) -> None:
    """A request reaching the server under another Host is checked against the configured
    public URL: a proof naming the Host it was sent to does not pass."""
    owner = api.sign_in()
    elsewhere = api.client()
    elsewhere.base_url = httpx2.URL("https://other.example")
    r = elsewhere.get("/api/me", auth=owner.auth)  # proof for https://other.example/api/me
    assert _code(r) == (401, "dpop_invalid")
    ok = elsewhere.get("/api/me", auth=owner.key.auth(owner.token, public_url=BASE_URL))
    assert ok.status_code == 200


def test_thumbprints_match_rfc_8037() -> None:
    """RFC 8037 appendix A.3: the Ed25519 example key's RFC 7638 thumbprint, through the
    server's code; and the server agrees with the test helper on fresh keys of both kinds."""
    from server.dpop import thumbprint

    example = {"crv": "Ed25519", "kty": "OKP", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert thumbprint(example) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    for key in (DpopKey(), DpopKey("ES256")):
        assert thumbprint(key.jwk) == key.jkt


def test_native_proofs_verify_and_the_runner_key_derives_as_documented() -> None:
    """The CLI's proofs (native/dpop.py) pass the server's check; a runner's key is
    SHA-256("zkvault/1 runner-dpop-key" || 0x00 || its X25519 seed), as docs/server.md says,
    and the proof's key is that one."""
    import hashlib

    from native.dpop import DpopKey as NativeKey
    from server import dpop

    seed = secrets.token_bytes(32)
    runner = NativeKey.for_runner(seed)
    assert runner.seed == hashlib.sha256(b"zkvault/1 runner-dpop-key\x00" + seed).digest()
    assert NativeKey.for_runner(secrets.token_bytes(32)).thumbprint != runner.thumbprint
    proof = runner.proof("POST", f"{BASE_URL}/auth/token?x=1")
    got = dpop.verify(
        proof, method="POST", url=f"{BASE_URL}/auth/token", access_token=None, skew_seconds=90
    )
    assert got.jkt == runner.thumbprint
    bound = runner.proof("GET", ME, "tok")
    assert dpop.verify(bound, method="GET", url=ME, access_token="tok", skew_seconds=90).jkt
    assert "seed" not in repr(runner) and seed.hex() not in repr(runner)
