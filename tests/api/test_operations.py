"""What an operator runs against: liveness and readiness, Prometheus metrics that leak
no secret or account, JSON logs, and migrations started by several instances at once."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import psycopg
from fastapi import FastAPI
from starlette.testclient import TestClient

from server.app import create_app
from server.encoding import b64url_encode
from tests.support.dpop import DpopKey
from tests.support.processes import ROOT, free_port, start_server, stop

from .conftest import BASE_URL, PG_ADMIN, Api, fresh_pg_database, make_settings

METRICS_TOKEN = b64url_encode(os.urandom(24))


def test_readiness_follows_the_database_and_liveness_does_not(app: FastAPI, idp: str) -> None:
    up = TestClient(app, base_url=BASE_URL)
    assert up.get("/healthz").status_code == 200
    assert (up.get("/readyz").status_code, up.get("/readyz").json()) == (200, {"status": "ready"})
    # Nothing listens on this port: the database is unreachable.
    gone = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/zkvault"
    unreachable = create_app(make_settings(gone, idp))
    try:
        down = TestClient(unreachable, base_url=BASE_URL)
        assert down.get("/healthz").status_code == 200
        r = down.get("/readyz")
        assert (r.status_code, r.json()["code"]) == (503, "database_unavailable")
    finally:
        unreachable.state.zk.engine.dispose()


def _metrics(client: TestClient) -> str:
    r = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return r.text


def _value(text: str, series: str) -> float:
    found = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(series)]
    return sum(found)


def test_metrics_are_private_by_default_and_name_no_secret_or_account(
    app: FastAPI, database_url: str, idp: str
) -> None:
    closed = TestClient(app, base_url=BASE_URL)
    assert closed.get("/metrics").status_code == 404  # no token configured: not served
    open_ = create_app(
        make_settings(database_url, idp, metrics_token=METRICS_TOKEN, rate_signin_per_ip=2)
    )
    try:
        api = Api(open_, idp)
        client = api.anon
        for wrong in ({}, {"Authorization": "Bearer nope"}):
            assert client.get("/metrics", headers=wrong).status_code == 401
        before = _metrics(client)
        user = api.sign_in()
        machine = api.pair(user)
        rt = machine.refresh_token
        assert rt is not None
        body = {"grant_type": "refresh_token", "refresh_token": rt}
        first, again = [client.post("/auth/token", json=body, auth=machine.proof) for _ in "12"]
        assert first.status_code == again.status_code == 200  # a retry by the same key
        stolen = client.post("/auth/token", json=body, auth=DpopKey().auth())
        assert stolen.json()["code"] == "refresh_reused"
        machine_id = str(uuid.uuid4())
        assert client.delete(f"/api/machines/{machine_id}", auth=user.auth).status_code == 404
        limited = [
            client.post("/auth/login", auth=DpopKey("ES256").auth()).status_code for _ in "123"
        ]
        assert 429 in limited
        text = _metrics(client)
    finally:
        open_.state.zk.engine.dispose()
    grew = {
        "zkvault_refresh_reuse_total": 1,
        "zkvault_refresh_retries_total": 1,
        'zkvault_rate_limited_total{limit="signin"}': 1,
        'zkvault_errors_total{code="refresh_reused"}': 1,
        'zkvault_http_requests_total{method="DELETE",route="/api/machines/{client_id}",'
        'status="404"}': 1,
    }
    for series, at_least in grew.items():
        assert _value(text, series) - _value(before, series) >= at_least, series
    assert (
        'zkvault_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/readyz"'
        in (text)
        or "zkvault_http_request_duration_seconds_count" in text
    )
    assert re.search(r'zkvault_db_pool_connections\{state="checked_out"\} \d', text)
    # No id, token or address in any label: only route templates and bounded names.
    secrets = [user.account_id, machine.client_id, machine_id, rt, user.token, "127.0.0.1"]
    secrets += [first.json()["refresh_token"], "testclient"]
    assert [s for s in secrets if s in text] == []
    routes = set(re.findall(r'route="([^"]*)"', text))
    assert routes and all(not re.search(r"[0-9a-f]{8}-", r) for r in routes), routes


def test_json_logs_are_the_production_default_and_keep_query_strings_out(
    idp: str, tmp_path: Path
) -> None:
    from server.main import _log_config
    from server.settings import Settings

    fmt = _log_config(Settings(environment="production"))["handlers"]
    assert fmt == {"err": {"class": "logging.StreamHandler", "formatter": "json"}}
    server = start_server(idp, tmp_path, ZKVAULT_LOG_FORMAT="json")
    try:
        secret = b64url_encode(os.urandom(18))
        httpx.get(f"{server.url}/auth/callback?code={secret}&state={secret}")
        httpx.get(f"{server.url}/healthz")
    finally:
        stop(server.proc)
    lines = [line for line in server.log.read_text().splitlines() if line.strip()]
    assert lines
    not_json = [line for line in lines if not line.startswith("{")]
    assert not_json == [], not_json[:3]
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    access = [p for p in parsed if p["logger"] == "zkvault.access"]
    assert {a["http"]["path"] for a in access} >= {"/auth/callback", "/healthz"}
    assert all({"time", "level", "message"} <= p.keys() for p in parsed)
    assert secret not in server.log.read_text()


def test_several_instances_migrating_an_empty_database_at_once(tmp_path: Path) -> None:
    """Four `zkvault-server migrate` started together on an empty PostgreSQL database:
    every one succeeds, the schema is created once."""
    with fresh_pg_database("zkv_migrate_race") as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZKVAULT_")}
        env |= {"ZKVAULT_DATABASE_URL": url, "ZKVAULT_ENVIRONMENT": "development"}
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "server.main", "migrate"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for _ in range(4)
        ]
        outputs = [p.communicate(timeout=180)[0].decode(errors="replace") for p in procs]
        codes = [p.returncode for p in procs]
        assert codes == [0, 0, 0, 0], [o[-800:] for o in outputs]
        name = url.rsplit("/", 1)[1]
        admin = PG_ADMIN.rsplit("/", 1)[0]
        with psycopg.connect(f"{admin}/{name}") as conn:
            versions = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        assert len(versions) == 1
