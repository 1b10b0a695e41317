"""Errors are typed JSON, headers are strict, CORS is closed, and a dump leaks nothing."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text

from server.models import Base
from tests.support.leaks import scan
from tests.support.report import record

from .conftest import Api


def test_security_headers_on_every_response(api: Api) -> None:
    for r in [
        api.anon.get("/healthz"),
        api.anon.get("/api/vault"),
        api.anon.get("/nope"),
        api.anon.get("/"),
    ]:
        h = r.headers
        assert h["x-content-type-options"] == "nosniff"
        assert h["x-frame-options"] == "DENY"
        assert h["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert h["strict-transport-security"].startswith("max-age=")
        assert "access-control-allow-origin" not in h
    page = api.anon.get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self' 'wasm-unsafe-eval' 'unsafe-eval'" in csp
    assert "'unsafe-inline'" not in csp and "object-src 'none'" in csp
    assert "<script>" not in page.text  # no inline script on the page we serve


def test_cors_is_closed(api: Api) -> None:
    r = api.anon.options(
        "/api/vault",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in r.headers
    r = api.anon.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_errors_are_typed_json(api: Api) -> None:
    user = api.sign_in()
    cases = [
        (api.anon.get("/nope"), 404, "not_found"),
        (api.anon.post("/healthz"), 405, "method_not_allowed"),
        (
            api.anon.put(
                "/api/vault",
                auth=user.auth,
                headers={"content-type": "application/json"},
                content=b"{not json",
            ),
            422,
            "invalid_request",
        ),
        (api.anon.put("/api/vault", auth=user.auth, json=[1, 2]), 422, "invalid_request"),
        (
            api.anon.put("/api/vault", auth=user.auth, json={"base_revision": -1, "blob": "AAAA"}),
            422,
            "invalid_request",
        ),
        (
            api.anon.put("/api/vault", auth=user.auth, json={"base_revision": 0, "blob": "AAA="}),
            422,
            "invalid_request",
        ),
        (
            api.anon.put("/api/vault", auth=user.auth, json={"base_revision": 0, "blob": "A"}),
            422,
            "invalid_request",
        ),
        (api.anon.get("/api/vault/history/0", auth=user.auth), 422, "invalid_request"),
        (
            api.anon.patch("/api/machines/not-a-uuid", auth=user.auth, json={"name": "x"}),
            422,
            "invalid_request",
        ),
        (
            api.anon.post(
                "/api/pairings", content=b"\xff\xfe", headers={"content-type": "application/json"}
            ),
            422,
            "invalid_request",
        ),
        (api.anon.post("/api/pairings", headers={"content-length": "x"}), 400, "bad_request"),
    ]
    for r, status, code in cases:
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
        assert set(r.json()) <= {"code", "message", "current_revision"}
        assert "Traceback" not in r.text


def test_secrets_never_echoed_in_errors(api: Api) -> None:
    secret = "zkv_rt_" + "S" * 43
    r = api.anon.post(
        "/auth/token",
        json={"grant_type": "refresh_token", "refresh_token": secret, "extra": secret},
    )
    assert r.status_code == 422 and secret not in r.text


def test_database_dump_holds_no_credentials(api: Api, database_url: str) -> None:
    """After realistic use, no issued secret appears in any table, in any encoding."""
    user = api.sign_in()
    secrets_seen: list[str] = [user.token, user.browser.cookies["__Secure-zkv_refresh"]]
    vid = uuid.uuid4()
    api.put_vault(user, 0, api.blob(user.account_id, 1, vid))
    machine = api.pair(user)
    assert machine.refresh_token is not None
    secrets_seen += [machine.token, machine.refresh_token]
    r = api.anon.post(
        "/auth/token",
        json={"grant_type": "refresh_token", "refresh_token": machine.refresh_token},
        auth=machine.proof,
    )
    secrets_seen += [r.json()["refresh_token"], r.json()["access_token"]]
    runner = api.pair(user, "runner")
    assert runner.runner_credential is not None
    secrets_seen += [runner.token, runner.runner_credential]
    p = api.request_pairing()
    secrets_seen += [p["poll_secret"], p["code"]]

    engine = create_engine(database_url)
    dump = bytearray()
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(text(f"SELECT * FROM {table.name}")):
                for value in row:
                    dump += value if isinstance(value, bytes) else str(value).encode()
                    dump += b"\x00"
    engine.dispose()
    assert len(dump) > 1000  # the dump is real
    assert user.account_id.encode() in dump  # control: ids are there, as designed
    cores = {}
    for i, s in enumerate(secrets_seen):
        # Prefix-free body of the credential (the part that carries the entropy).
        core = s
        for prefix in ("zkv_rt_", "zkv_runner_", "zkv_poll_"):
            core = core.removeprefix(prefix)
        assert len(core) >= 10
        cores[f"credential {i}"] = core
    hits = scan({"database dump": bytes(dump)}, cores)
    record(
        "breach",
        f"server tables after use ({engine.dialect.name})",
        secrets=len(cores),
        artefacts=1,
        hits=len(hits),
    )
    assert hits == [], hits


def test_logs_hold_no_secrets(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    user = api.sign_in()
    machine = api.pair(user)
    r = api.anon.post(
        "/auth/token",
        json={"grant_type": "refresh_token", "refresh_token": machine.refresh_token},
        auth=machine.proof,
    )
    assert r.status_code == 200
    # The server's own records (the test's HTTP client logs its URLs, not ours).
    text_ = "\n".join(
        r.getMessage()
        for r in caplog.records
        if r.name.startswith(("zkvault", "uvicorn", "sqlalchemy"))
    )
    assert "/auth/callback" in text_ and "/api/pairings/poll" in text_  # the log is real
    for secret in [
        user.token,
        machine.refresh_token,
        machine.token,
        r.json()["refresh_token"],
        user.browser.cookies["__Secure-zkv_refresh"],
        "code=",
        "state=",
    ]:
        assert secret not in text_
