"""`zkvault audit verify` against the real server (SQLite and PostgreSQL) and a real agent:
vault saves seal the audit heads the server named, then the database's chain is rewritten,
truncated or reordered behind the server's back, and the command says so (exit 11)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, delete, select, update

from tests.native.serverproc import Owner, Server, start_server
from tests.native.support import FAST_KDF, ITEMS, PASSPHRASE, Env
from tests.native.test_server import connect
from tests.support import auditdb
from tests.support.auditforge import swapped
from vault_core import Vault
from vault_core.lineage import AuditAnchor

pytestmark = pytest.mark.slow
EVENTS, HEADS = auditdb.EVENTS, auditdb.HEADS


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db_server(request: pytest.FixtureRequest) -> Iterator[tuple[Server, str]]:
    if request.param == "sqlite":
        server = start_server()
        url = f"sqlite:///{server.workdir / 'zkvault.sqlite3'}"
        try:
            yield server, url
        finally:
            server.stop()
        return
    from tests.api.conftest import fresh_pg_database

    with fresh_pg_database("zkv_audit") as url:
        server = start_server(ZKVAULT_DATABASE_URL=url)
        try:
            yield server, url
        finally:
            server.stop()


def _anchor(answer: dict[str, Any]) -> AuditAnchor:
    head = answer["audit_head"]
    return AuditAnchor(int(head["seq"]), str(head["hash"]))


def _saved_with_anchors(env: Env, server: Server) -> tuple[Owner, list[AuditAnchor]]:
    """Three saves, each sealing the head its client was last told (as the web app does),
    with pairing events in between; then this machine connected and unlocked."""
    owner = Owner(server)
    vault = Vault.create(uuid.UUID(owner.account_id), PASSPHRASE, kdf=FAST_KDF)
    for item in ITEMS:
        vault.add(item)
    vault.ensure_identity()  # the unlock below then saves nothing: the revisions are these
    told = _anchor(owner.put_vault(0, vault.save()))
    anchors = []
    for base in (1, 2):
        vault.audit_anchor = told
        anchors.append(told)
        told = _anchor(owner.put_vault(base, vault.save()))
        if base == 1:
            connect(env, owner, server.url)
            got = owner.call("GET", "/api/vault")
            told = _anchor(got.json())  # the pairing's events: a later head
    vault.audit_anchor = told
    anchors.append(told)
    owner.put_vault(3, vault.save())
    done = env.unlock()
    assert done.returncode == 0, done.stderr
    return owner, anchors


def _verify(env: Env, *args: str) -> tuple[int, str]:
    done = env.zk("audit", "verify", *args, timeout=60)
    assert "Traceback" not in done.stderr
    return done.returncode, done.stdout + done.stderr


Tamper = Callable[[Connection, str, list[AuditAnchor]], None]


def rewrite(conn: Connection, chain: str, anchors: list[AuditAnchor]) -> None:
    auditdb.rewrite(conn, chain, anchors[1].seq - 1)  # between the first and second anchor


def truncate(conn: Connection, chain: str, anchors: list[AuditAnchor]) -> None:
    """Everything after the first anchor goes. The command's own token refresh appends an
    event before it fetches the export, so the cut is deep: had that event landed on an
    anchored seq, it would read as rewritten there (which it then is)."""
    conn.execute(delete(EVENTS).where(EVENTS.c.chain == chain, EVENTS.c.seq > anchors[0].seq))
    auditdb.relink(conn, chain, anchors[0].seq + 1)


def delete_middle(conn: Connection, chain: str, anchors: list[AuditAnchor]) -> None:
    conn.execute(delete(EVENTS).where(EVENTS.c.chain == chain, EVENTS.c.seq == 2))


def swap_two(conn: Connection, chain: str, anchors: list[AuditAnchor]) -> None:
    a, b = anchors[1].seq - 1, anchors[1].seq - 2  # two events of the pairing
    where = EVENTS.c.chain == chain
    conn.execute(update(EVENTS).where(where, EVENTS.c.seq == a).values(seq=-1))
    conn.execute(update(EVENTS).where(where, EVENTS.c.seq == b).values(seq=a))
    conn.execute(update(EVENTS).where(where, EVENTS.c.seq == -1).values(seq=b))


CASES: list[tuple[Tamper, set[str]]] = [
    (rewrite, {"REWRITTEN"}),
    (truncate, {"TRUNCATED"}),  # and nothing else: the first anchor still holds
    (delete_middle, {"REORDERED"}),
    (swap_two, {"UNLINKED", "ALTERED"}),
]


def test_audit_verify_against_the_database(env: Env, db_server: tuple[Server, str]) -> None:
    server, url = db_server
    owner, anchors = _saved_with_anchors(env, server)
    chain = owner.account_id
    code, out = _verify(env)
    assert code == 0, out
    assert "audit trail consistent (" in out and ", 3 anchors); 4 vault revision(s) read" in out
    engine = create_engine(url)
    try:
        for tamper, kinds in CASES:
            with engine.begin() as conn:
                before = auditdb.chain_rows(conn, chain)
                head = conn.execute(select(HEADS).where(HEADS.c.chain == chain)).one()
                tamper(conn, chain, anchors)
            code, out = _verify(env)
            assert code == 11, (tamper.__name__, out)
            found = {line.split(" ", 1)[0].rstrip(":") for line in out.splitlines()}
            assert kinds <= found, (tamper.__name__, out)
            if tamper is truncate:
                assert found & {"REWRITTEN", "REORDERED", "UNLINKED", "ALTERED"} == set(), out
            if tamper is rewrite:  # the first anchor still holds: only later ones differ
                assert f"REWRITTEN at seq {anchors[0].seq}" not in out
                assert f"REWRITTEN at seq {anchors[1].seq}" in out
            with engine.begin() as conn:  # put the chain back for the next case
                conn.execute(delete(EVENTS).where(EVENTS.c.chain == chain))
                conn.execute(EVENTS.insert(), before)
                conn.execute(
                    update(HEADS).where(HEADS.c.chain == chain).values(seq=head.seq, hash=head.hash)
                )
            assert _verify(env)[0] == 0, tamper.__name__
    finally:
        engine.dispose()


def test_audit_verify_of_a_saved_export(
    env: Env, db_server: tuple[Server, str], tmp_path: Path
) -> None:
    server, _ = db_server
    owner, anchors = _saved_with_anchors(env, server)
    export = owner.call("GET", "/api/audit/export").json()
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(export))
    done = env.zk("audit", "verify", "--export", str(path), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and report["anchors"] == 3 and report["revisions"] == 4
    path.write_text(json.dumps(swapped(export, anchors[1].seq - 2)))
    done = env.zk("audit", "verify", "--export", str(path), "--json")
    assert done.returncode == 11
    assert "reordered" in json.loads(done.stdout)["kinds"]
    path.write_text("not json")
    done = env.zk("audit", "verify", "--export", str(path))
    assert done.returncode == 2 and "cannot read" in done.stderr
    env.zk("lock", check=True)
    done = env.zk("audit", "verify")
    assert done.returncode == 3 and "locked" in done.stderr
