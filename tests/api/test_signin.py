"""OIDC sign-in against a real provider process: PKCE, state, nonce, id_token."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
import pytest
from sqlalchemy import create_engine, select

from server.app import create_app
from server.models import Account, AuditEvent
from server.settings import DEV_SIGNING_KEY, DEV_TOKEN_SECRET, DevelopmentSettingsError, Settings
from tests.support.dpop import DpopKey

from .conftest import Api, SettingsFactory


def test_sign_in_creates_one_account_per_issuer_and_subject(
    api: Api, database_url: str, idp: str
) -> None:
    first = api.sign_in("alice", name="Alice", email="alice@example.test")
    again = api.sign_in("alice", name="Alice A.", email="alice@example.test")
    assert first.account_id == again.account_id
    other = api.sign_in("bob")
    assert other.account_id != first.account_id

    r = again.browser.get("/api/me", auth=again.auth)
    assert r.status_code == 200
    me = r.json()
    assert (me["name"], me["email"], me["issuer"]) == ("Alice A.", "alice@example.test", idp)
    assert me["client_kind"] == "web"

    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(select(Account.subject, Account.issuer)).all()
        tags = conn.execute(select(AuditEvent.tag)).scalars().all()
    engine.dispose()
    assert sorted(rows) == [("alice", idp), ("bob", idp)]
    assert tags.count("account:session:sign-in") == 3


def test_authorization_request_uses_pkce_state_and_nonce(api: Api) -> None:
    browser = api.client()
    url = api.start_login(browser)
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) >= 43
    assert len(query["state"][0]) >= 32 and len(query["nonce"][0]) >= 32
    assert query["redirect_uri"] == ["https://testserver/auth/callback"]
    assert "code_verifier" not in query


def test_callback_from_another_browser_is_refused(api: Api) -> None:
    victim = api.client()
    back = api.idp_authorize(api.start_login(victim), "mallory")
    attacker = api.client()  # has no login cookie for this state
    r = attacker.get(back)
    assert r.status_code == 400
    assert r.json()["code"] == "state_mismatch"


def test_callback_cannot_be_replayed(api: Api) -> None:
    browser = api.client()
    back = api.idp_authorize(api.start_login(browser), "carol")
    login_cookie = next(c for c in browser.cookies.jar if c.name == "__Host-zkv_login")
    assert browser.get(back).status_code == 302
    # Same browser, same state cookie, same code again: the login row is spent.
    browser.cookies.set(
        login_cookie.name,
        login_cookie.value or "",
        domain=login_cookie.domain,
        path=login_cookie.path,
    )
    r = browser.get(back)
    assert r.status_code == 400
    assert r.json()["code"] == "state_expired"


def test_forged_code_is_refused(api: Api) -> None:
    browser = api.client()
    back = api.idp_authorize(api.start_login(browser), "dave")
    state = parse_qs(urlsplit(back).query)["state"][0]
    r = browser.get("/auth/callback", params={"code": "forged", "state": state})
    assert r.status_code == 400
    assert r.json()["code"] == "signin_failed"


def test_idp_error_is_refused(api: Api) -> None:
    browser = api.client()
    api.start_login(browser)
    r = browser.get("/auth/callback", params={"error": "access_denied", "state": "x"})
    assert r.status_code == 400 and r.json()["code"] == "idp_refused"


def test_oauth2_mode_signs_in_through_userinfo(settings_factory: SettingsFactory, idp: str) -> None:
    """The GitHub-style path (no id_token; identity from a userinfo endpoint)."""
    from starlette.testclient import TestClient

    meta = httpx.get(f"{idp}/.well-known/openid-configuration").json()
    settings = settings_factory(
        oidc_mode="oauth2",
        oidc_issuer="https://github.example",
        oidc_scopes="openid email profile",
        oauth2_authorize_url=meta["authorization_endpoint"],
        oauth2_token_url=meta["token_endpoint"],
        oauth2_userinfo_url=meta["userinfo_endpoint"],
    )
    app = create_app(settings)
    try:
        httpx.put(f"{idp}/users/gh-42", json={"email": "gh@example.test", "name": "Octo"})
        browser = TestClient(app, base_url="https://testserver", follow_redirects=False)
        key = DpopKey("ES256")
        location = browser.post("/auth/login", auth=key.auth()).json()["url"]
        assert "nonce" not in parse_qs(urlsplit(location).query)
        back = httpx.post(location, data={"sub": "gh-42"}).headers["location"]
        assert browser.get(back).status_code == 302
        r = browser.post(
            "/auth/refresh", headers={"X-CSRF-Token": browser.cookies["zkv_csrf"]}, auth=key.auth()
        )
        token = r.json()["access_token"]
        me = browser.get("/api/me", auth=key.auth(token)).json()
        assert (me["issuer"], me["name"]) == ("https://github.example", "Octo")
    finally:
        app.state.zk.engine.dispose()


@pytest.mark.parametrize(
    "override",
    [
        {},
        {"signing_keys": [DEV_SIGNING_KEY]},
        {"token_secrets": [DEV_TOKEN_SECRET]},
        {"cookie_secure": False},
        {"oidc_client_secret": "zkvault-dev-secret"},
    ],
)
def test_production_refuses_development_settings(
    override: dict[str, object], tmp_path: Path
) -> None:
    # Any: mixed field types, coerced by pydantic (str into SecretStr) as from the environment.
    good: dict[str, Any] = {
        "environment": "production",
        "public_url": "https://vault.example",
        "oidc_issuer": "https://idp.example",
        "oidc_client_secret": "s3cr3t-from-the-idp",
        "signing_keys": ["qnQBvHNmJvJ3iZRv6wFxf7Wm1GEqgWQ5EJ0Uhx9_7XU"],
        "token_secrets": ["Zx4VnR0m9cQy1uT8bLr2sKp7WdJ3hE6aYf5GiNoX0Qw"],
        "database_url": f"sqlite:///{tmp_path}/prod.sqlite3",
    }
    if not override:
        # The control: a production configuration without development settings starts.
        create_app(Settings(**good)).state.zk.engine.dispose()
        good["oidc_issuer"] = "http://127.0.0.1:9400"
    else:
        good.update(override)
    with pytest.raises(DevelopmentSettingsError):
        create_app(Settings(**good))


def test_a_registered_confidential_client_against_a_stricter_provider(
    database_url: str, tmp_path: Path
) -> None:
    """Another provider configuration, reached only through settings: this one admits
    registered clients only, so sign-in works only if the server authenticates to it."""
    from starlette.testclient import TestClient

    from tests.api.conftest import make_settings
    from tests.support.processes import start_idp

    url, proc = start_idp("--require-registration", "true", "--require-nonce", "true")
    apps = []
    try:
        reg = httpx.post(
            f"{url}/oauth2/clients",
            json={
                "redirect_uris": ["https://testserver/auth/callback"],
                "token_endpoint_auth_method": "client_secret_basic",
            },
        )
        assert reg.status_code == 201, reg.text
        client = reg.json()
        for secret, works in [(client["client_secret"], True), ("wrong-secret", False)]:
            app = create_app(
                make_settings(
                    database_url, url, oidc_client_id=client["client_id"], oidc_client_secret=secret
                )
            )
            apps.append(app)
            browser = TestClient(app, base_url="https://testserver", follow_redirects=False)
            location = browser.post("/auth/login", auth=DpopKey().auth()).json()["url"]
            back = httpx.post(location, data={"sub": "strict-user"}).headers["location"]
            r = browser.get(back)
            if works:
                assert r.status_code == 302, r.text
                assert (browser.cookies.get("__Secure-zkv_refresh") or "").startswith("zkv_rt_")
            else:
                assert r.status_code == 400 and r.json()["code"] == "signin_failed"
    finally:
        for app in apps:
            app.state.zk.engine.dispose()
        proc.terminate()
        proc.wait(10)


def test_server_command_refuses_to_start_in_production_with_dev_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from server.main import main

    for name in list(__import__("os").environ):
        if name.startswith("ZKVAULT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ZKVAULT_ENVIRONMENT", "production")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "refusing to start in production" in err and "signing_keys" in err
    assert "token_secrets" in err
    assert "oidc_issuer" in err and "public_url" in err


def test_sign_in_is_rate_limited_per_address(settings_factory: SettingsFactory) -> None:
    from starlette.testclient import TestClient

    app = create_app(settings_factory(rate_signin_per_ip=3, rate_window_seconds=86400))
    try:
        c = TestClient(app, base_url="https://testserver", follow_redirects=False)
        statuses = [c.post("/auth/login", auth=DpopKey().auth()).status_code for _ in "123"]
        statuses.append(c.get("/auth/callback", params={"code": "x", "state": "y"}).status_code)
        assert statuses == [200, 200, 200, 429]
    finally:
        app.state.zk.engine.dispose()


def test_claims_sent_only_through_userinfo_are_kept(database_url: str) -> None:
    """panva's certified oidc-provider, as a real process: with the code flow it puts
    name and email in UserInfo only. The server asks UserInfo, and refuses a UserInfo
    answer about another subject."""
    import base64
    import hashlib
    import json
    import secrets

    from starlette.testclient import TestClient

    from tests.api.conftest import make_settings
    from tests.support.processes import certified_idp_authorize, start_certified_idp, stop

    callback = "https://testserver/auth/callback"
    url, proc = start_certified_idp("zkvault-certified", "certified-secret", callback)
    app = create_app(
        make_settings(
            database_url,
            url,
            oidc_client_id="zkvault-certified",
            oidc_client_secret="certified-secret",
        )
    )
    try:
        # The provider really keeps those claims out of the id_token.
        verifier = secrets.token_urlsafe(48)
        challenge = hashlib.sha256(verifier.encode()).digest()
        query = {
            "client_id": "zkvault-certified",
            "response_type": "code",
            "scope": "openid email profile",
            "redirect_uri": callback,
            "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": base64.urlsafe_b64encode(challenge).rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }
        back = certified_idp_authorize(
            str(httpx.URL(f"{url}/auth", params=query)), "alice", callback
        )
        tokens = httpx.post(
            f"{url}/token",
            auth=("zkvault-certified", "certified-secret"),
            data={
                "grant_type": "authorization_code",
                "code": parse_qs(urlsplit(back).query)["code"][0],
                "redirect_uri": callback,
                "code_verifier": verifier,
            },
        ).json()
        payload = tokens["id_token"].split(".")[1]
        id_claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert id_claims["sub"] == "alice"
        assert "email" not in id_claims and "name" not in id_claims

        def sign_in(login: str) -> tuple[TestClient, httpx2.Response]:
            browser = TestClient(app, base_url="https://testserver", follow_redirects=False)
            start = browser.post("/auth/login", auth=key.auth()).json()["url"]
            return browser, browser.get(certified_idp_authorize(start, login, callback))

        key = DpopKey("ES256")
        browser, done = sign_in("alice")
        assert done.status_code == 302, done.text
        token = browser.post(
            "/auth/refresh",
            headers={"X-CSRF-Token": browser.cookies.get("zkv_csrf") or ""},
            auth=key.auth(),
        )
        assert token.status_code == 200, token.text
        me = browser.get("/api/me", auth=key.auth(token.json()["access_token"])).json()
        assert (me["name"], me["email"], me["issuer"]) == (
            "Alice Liddell",
            "alice@example.test",
            url,
        )

        _, lied = sign_in("mallory")  # UserInfo claims to be about alice
        assert lied.status_code == 400 and lied.json()["code"] == "signin_failed"
    finally:
        app.state.zk.engine.dispose()
        stop(proc)
