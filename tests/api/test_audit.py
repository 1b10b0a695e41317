"""Audit: every security event, hash-chained per account, verifiable by a command."""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, func, select, update

from server.audit import GENESIS
from server.main import main
from server.models import AuditEvent

from .conftest import Api, User


def _realistic_use(api: Api) -> User:
    user = api.sign_in()
    vid = uuid.uuid4()
    assert api.put_vault(user, 0, api.blob(user.account_id, 1, vid)).status_code == 200
    machine = api.pair(user)
    api.anon.post(
        "/auth/token",
        json={"grant_type": "refresh_token", "refresh_token": machine.refresh_token},
        auth=machine.proof,
    )
    p = api.request_pairing()
    user.browser.post("/api/pairings/refuse", json={"code": p["code"]}, auth=user.auth)
    runner = api.pair(user, "runner")
    api.anon.put(
        f"/api/runners/{runner.client_id}/grant",
        auth=user.auth,
        json={"revision": 1, "blob": "AAAA"},
    )
    api.anon.delete(f"/api/machines/{machine.client_id}", auth=user.auth)
    return user


def test_owner_reads_and_exports_their_chain(api: Api) -> None:
    user = _realistic_use(api)
    other = api.sign_in()
    export = api.anon.get("/api/audit/export", auth=user.auth)
    assert export.status_code == 200
    assert "attachment" in export.headers["content-disposition"]
    body = export.json()
    events = body["events"]
    tags = {e["tag"] for e in events}
    assert {
        "account:session:sign-in",
        "account:vault:write",
        "account:pairing:approve",
        "machine:machine:pair",
        "machine:token:refresh",
        "account:pairing:refuse",
        "runner:runner:enrol",
        "account:grant:write",
        "account:machine:revoke",
    } <= tags
    for e in events:
        assert e["source"] == "testclient" and e["outcome"] in {"success", "failure"}
        assert e["actor"] and e["target"] and e["time"]
    # The chain links, oldest first, up to the head.
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["prev_hash"] == GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(events))
    assert (body["head_seq"], body["head_hash"]) == (events[-1]["seq"], events[-1]["hash"])
    # Paging, newest first; nobody else sees these events.
    page = api.anon.get("/api/audit?limit=3", auth=user.auth).json()
    assert [e["seq"] for e in page["events"]] == [len(events), len(events) - 1, len(events) - 2]
    nxt = api.anon.get(f"/api/audit?limit=3&before={page['next_before']}", auth=user.auth).json()
    assert nxt["events"][0]["seq"] == len(events) - 3
    theirs = api.anon.get("/api/audit/export", auth=other.auth).json()["events"]
    assert {e["action"] for e in theirs} == {"session.sign-in", "token.refresh"}


@pytest.mark.parametrize("tamper", ["edit", "delete-middle", "truncate-tail"])
def test_verify_command_detects_tampering(
    api: Api,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tamper: str,
) -> None:
    user = _realistic_use(api)
    monkeypatch.setenv("ZKVAULT_DATABASE_URL", database_url)
    monkeypatch.setenv("ZKVAULT_ENVIRONMENT", "development")
    assert main(["verify-audit"]) == 0
    assert "chain intact" in capsys.readouterr().out
    engine = create_engine(database_url)
    chain = user.account_id
    with engine.begin() as conn:
        last = conn.execute(
            select(func.max(AuditEvent.seq)).where(AuditEvent.chain == chain)
        ).scalar_one()
        where = AuditEvent.chain == chain
        if tamper == "edit":
            conn.execute(
                update(AuditEvent).where(where, AuditEvent.seq == 2).values(outcome="failure")
            )
        elif tamper == "delete-middle":
            conn.execute(delete(AuditEvent).where(where, AuditEvent.seq == 3))
        else:
            conn.execute(delete(AuditEvent).where(where, AuditEvent.seq == last))
    engine.dispose()
    assert main(["verify-audit"]) == 1
    out = capsys.readouterr().out
    assert "TAMPERED" in out and chain in out


def test_owner_can_verify_an_export_offline(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    user = _realistic_use(api)
    body = api.anon.get("/api/audit/export", auth=user.auth).json()
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(body))
    assert main(["verify-export", str(path)]) == 0
    assert f"checked {len(body['events'])} exported events: chain intact" in capsys.readouterr().out
    for tamper in ("edit", "drop", "truncate"):
        doc = json.loads(json.dumps(body))
        if tamper == "edit":
            doc["events"][1]["outcome"] = "failure"
        elif tamper == "drop":
            del doc["events"][2]
        else:
            doc["events"].pop()
        path.write_text(json.dumps(doc))
        assert main(["verify-export", str(path)]) == 1, tamper
        assert "TAMPERED" in capsys.readouterr().out


_APPENDER = """
import sys, time, uuid
from server.audit import Actor, record
from server.db import make_engine, make_sessionmaker
from server.settings import Settings

url, account = sys.argv[1], uuid.UUID(sys.argv[2])
count, seconds = int(sys.argv[3]), float(sys.argv[4])
engine = make_engine(Settings(database_url=url, environment="development"))
sessions = make_sessionmaker(engine)
actor = Actor("account", str(account), account, "appender")
deadline, done = time.monotonic() + seconds, 0
print("ready", flush=True)
while done < count and time.monotonic() < deadline:
    with sessions() as db:
        record(db, actor, "vault", "write", "vault:x", detail=f"append {done}")
        record(db, Actor("anonymous", "", None, "appender"), "pairing", "request", "p")
        db.commit()
    done += 1
print(done, flush=True)
"""


def test_verify_and_export_see_one_snapshot_while_another_process_appends(
    api: Api, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another process appends to the owner's chain and the system chain in a loop while
    verify-audit and the export run over and over: no false TAMPERED, no broken export."""
    import json
    import subprocess
    import sys
    import time

    from server.audit import verify_export

    user = _realistic_use(api)
    monkeypatch.setenv("ZKVAULT_DATABASE_URL", database_url)
    monkeypatch.setenv("ZKVAULT_ENVIRONMENT", "development")
    appender = subprocess.Popen(
        [sys.executable, "-c", _APPENDER, database_url, user.account_id, "3000", "60"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert appender.stdout is not None and appender.stdout.readline().strip() == "ready"
        runs = alarms = 0
        seen: list[int] = []
        deadline = time.monotonic() + 60
        while appender.poll() is None and runs < 25 and time.monotonic() < deadline:
            code = main(["verify-audit"])
            out = capsys.readouterr().out
            alarms += code != 0 or "TAMPERED" in out
            body = api.anon.get("/api/audit/export", auth=user.auth).json()
            checked, problems = verify_export(json.loads(json.dumps(body)))
            alarms += bool(problems)
            seen.append(checked)
            runs += 1
    finally:
        appender.terminate()
        appender.wait(30)
    print(
        f"{runs} verify+export runs during appends, {alarms} alarms, exports {seen[0]}..{seen[-1]}"
    )
    assert alarms == 0
    assert runs >= 3 and len(set(seen)) >= 3  # the appends really ran in between
