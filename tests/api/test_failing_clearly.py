"""Operations that fail clearly: a schema one migration behind, a database that accepts
connections and never answers, an empty metrics token."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from starlette.testclient import TestClient

from server.app import create_app
from server.db import make_engine
from server.encoding import b64url_encode
from server.migrate import downgrade, upgrade
from server.settings import Settings
from tests.support.dpop import DpopKey
from tests.support.processes import ROOT, free_port, wait_http

from .conftest import BASE_URL, Api, fresh_pg_database, make_settings, vault_blob


@contextmanager
def silent_database() -> Iterator[int]:
    """A TCP port that accepts every connection and never says a word (a database host
    whose PostgreSQL hangs): the port, while it lasts."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stopping = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stopping.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stopping.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()


def test_readiness_answers_503_within_seconds_when_the_database_never_answers(idp: str) -> None:
    with silent_database() as port:
        url = f"postgresql+psycopg://zkvault@127.0.0.1:{port}/zkvault"
        app = create_app(make_settings(url, idp))
        limit = app.state.zk.settings.readiness_timeout_seconds  # the shipped default
        try:
            client = TestClient(app, base_url=BASE_URL)
            for _ in range(4):  # and again: hung checks do not pile up into a hang
                started = time.monotonic()
                r = client.get("/readyz")
                took = time.monotonic() - started
                assert (r.status_code, r.json()["code"]) == (503, "database_unavailable")
                assert took < limit + 1.5, took
            started = time.monotonic()
            assert client.get("/healthz").status_code == 200  # liveness never waits on it
            assert time.monotonic() - started < 1.0
        finally:
            app.state.zk.engine.dispose()


def test_requests_fail_after_the_connect_timeout_on_a_silent_database(idp: str) -> None:
    with silent_database() as port:
        url = f"postgresql+psycopg://zkvault@127.0.0.1:{port}/zkvault"
        app = create_app(make_settings(url, idp, db_connect_timeout_seconds=2))
        try:
            client = TestClient(app, base_url=BASE_URL)
            started = time.monotonic()
            # Starting a sign-in needs the database (its rate limit, the proof's jti).
            r = client.post("/auth/login", auth=DpopKey("ES256").auth())
            assert (r.status_code, r.json()["code"]) == (503, "database_unavailable")
            assert time.monotonic() - started < 6
            html = {"Accept": "text/html"}  # a person, sent back by the identity provider
            page = client.get("/auth/callback?code=x&state=y", headers=html)
            assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
            assert '<code id="error-code">database_unavailable</code>' in page.text
        finally:
            app.state.zk.engine.dispose()


NEWEST, PREVIOUS = "0004", "0003"  # the newest migration and the one before it


def _one_behind(url: str) -> str:
    """Migrated to the newest schema, then one migration back."""
    engine = make_engine(Settings(database_url=url, environment="development"))
    upgrade(engine)
    downgrade(engine, PREVIOUS)
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def behind(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield _one_behind(f"sqlite:///{tmp_path / 'behind.sqlite3'}")
        return
    with fresh_pg_database("zkv_behind") as url:
        yield _one_behind(url)


def test_an_instance_one_migration_behind_is_unready_and_names_it(behind: str, idp: str) -> None:
    app = create_app(make_settings(behind, idp))
    try:
        r = TestClient(app, base_url=BASE_URL).get("/readyz")
        assert (r.status_code, r.json()["code"]) == (503, "schema_outdated")
        assert NEWEST in r.json()["message"]
    finally:
        app.state.zk.engine.dispose()
    engine = make_engine(Settings(database_url=behind, environment="development"))
    upgrade(engine)
    engine.dispose()
    fixed = create_app(make_settings(behind, idp))
    try:  # the control: migrated, the same instance is ready
        assert TestClient(fixed, base_url=BASE_URL).get("/readyz").status_code == 200
    finally:
        fixed.state.zk.engine.dispose()


def _production_env(database_url: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZKVAULT_")}
    return env | {
        "ZKVAULT_ENVIRONMENT": "production",
        "ZKVAULT_DATABASE_URL": database_url,
        "ZKVAULT_PORT": str(port),
        "ZKVAULT_PUBLIC_URL": "https://vault.example",
        "ZKVAULT_OIDC_ISSUER": "https://idp.example",
        "ZKVAULT_OIDC_CLIENT_SECRET": "s3cr3t-from-the-idp",
        "ZKVAULT_SIGNING_KEYS": f'["{b64url_encode(os.urandom(32))}"]',
        "ZKVAULT_TOKEN_SECRETS": f'["{b64url_encode(os.urandom(32))}"]',
    }


def test_serve_refuses_a_database_one_migration_behind_unless_told_to_migrate(
    behind: str, tmp_path: Path
) -> None:
    port = free_port()
    env = _production_env(behind, port)
    serve = [sys.executable, "-m", "server.main", "serve"]
    refused = subprocess.run(serve, cwd=ROOT, env=env, capture_output=True, timeout=60)
    said = refused.stderr.decode(errors="replace")
    assert refused.returncode == 2, said
    assert f"lacks migration {NEWEST}" in said and "zkvault-server migrate" in said
    assert "Traceback" not in said
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*serve, "--migrate"], cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc, timeout=60)
        r = httpx.get(f"http://127.0.0.1:{port}/readyz")
        assert r.status_code == 200, r.text
    finally:
        proc.terminate()
        proc.wait(20)


def test_an_empty_metrics_token_serves_no_metrics(
    app: FastAPI, database_url: str, idp: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZKVAULT_METRICS_TOKEN", "")
    assert Settings().metrics_token is None  # as the environment gives it
    for empty in ["", "   "]:
        open_ = create_app(make_settings(database_url, idp, metrics_token=empty))
        try:
            client = TestClient(open_, base_url=BASE_URL)
            for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer"}):
                r = client.get("/metrics", headers=headers)
                assert (r.status_code, r.json()["code"]) == (404, "not_found")
        finally:
            open_.state.zk.engine.dispose()
    token = b64url_encode(os.urandom(18))  # the control: a real token serves them
    served = create_app(make_settings(database_url, idp, metrics_token=token))
    try:
        r = TestClient(served, base_url=BASE_URL).get(
            "/metrics", headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 200 and "zkvault_head_waiters" in r.text
    finally:
        served.state.zk.engine.dispose()


def test_a_statement_held_by_a_lock_ends_at_the_statement_timeout(idp: str) -> None:
    """A PostgreSQL backend that never answers because another session holds a lock:
    the read gives up after DB_STATEMENT_TIMEOUT_SECONDS with a 503, and works again
    once the lock is gone."""
    with fresh_pg_database("zkv_locked") as url:
        engine = make_engine(Settings(database_url=url, environment="development"))
        upgrade(engine)
        engine.dispose()
        app = create_app(make_settings(url, idp, db_statement_timeout_seconds=1))
        try:
            with app.state.zk.engine.connect() as conn:
                assert conn.execute(text("SHOW statement_timeout")).scalar() == "1s"
            api = Api(app, idp)
            user = api.sign_in()
            vault_id = uuid.uuid4()
            assert (
                api.put_vault(user, 0, vault_blob(user.account_id, 1, vault_id)).status_code == 200
            )
            admin = url.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(admin) as holder:
                holder.execute("LOCK TABLE vaults IN ACCESS EXCLUSIVE MODE")
                started = time.monotonic()
                r = api.anon.get("/api/vault", auth=user.auth)
                took = time.monotonic() - started
                assert (r.status_code, r.json()["code"]) == (503, "database_unavailable")
                assert took < 4, took
            r = api.anon.get("/api/vault", auth=user.auth)  # the lock is gone
            assert r.status_code == 200 and r.json()["revision"] == 1
        finally:
            app.state.zk.engine.dispose()
