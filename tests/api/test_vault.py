"""Vault storage: own vault only, optimistic concurrency, history, restore, limits."""

from __future__ import annotations

import threading
import uuid

from server.encoding import b64url_decode, b64url_encode
from tests.support.report import record

from .conftest import Api


def test_no_vault_yet(api: Api) -> None:
    user = api.sign_in()
    r = api.anon.get("/api/vault", auth=user.auth)
    assert r.status_code == 404
    assert r.json() == {"code": "no_vault", "message": "this account has no vault yet"}


def test_write_then_read_round_trips_the_opaque_blob(api: Api) -> None:
    user = api.sign_in()
    vid = uuid.uuid4()
    blob = api.blob(user.account_id, 1, vid)
    r = api.put_vault(user, 0, blob)
    assert r.status_code == 200, r.text
    assert r.json()["revision"] == 1 and r.json()["vault_id"] == str(vid)
    got = api.anon.get("/api/vault", auth=user.auth).json()
    assert b64url_decode(got["blob"]) == blob
    assert (got["revision"], got["size"]) == (1, len(blob))


def test_stale_write_gets_409_with_current_revision_and_loses_nothing(api: Api) -> None:
    user = api.sign_in()
    vid = uuid.uuid4()
    assert api.put_vault(user, 0, api.blob(user.account_id, 1, vid)).status_code == 200
    winner = api.blob(user.account_id, 2, vid)
    assert api.put_vault(user, 1, winner).status_code == 200
    r = api.put_vault(user, 1, api.blob(user.account_id, 2, vid))
    assert r.status_code == 409
    assert r.json()["code"] == "revision_conflict" and r.json()["current_revision"] == 2
    assert b64url_decode(api.anon.get("/api/vault", auth=user.auth).json()["blob"]) == winner
    # A second "first save" also conflicts instead of replacing the vault.
    r = api.put_vault(user, 0, api.blob(user.account_id, 1, vid))
    assert r.status_code == 409 and r.json()["current_revision"] == 2


def test_concurrent_writers_lose_nothing(api: Api) -> None:
    """Two clients race; each retries on 409. Every save lands exactly once."""
    user = api.sign_in()
    vid = uuid.uuid4()
    writes_each = 6
    landed: list[bytes] = []
    lock = threading.Lock()

    def writer(tag: bytes) -> None:
        client = api.client()
        for i in range(writes_each):
            while True:
                r = client.get("/api/vault", auth=user.auth)
                base = r.json()["revision"] if r.status_code == 200 else 0
                body = tag + bytes([i]) * 8
                blob = api.blob(user.account_id, base + 1, vid, body)
                w = client.put(
                    "/api/vault",
                    auth=user.auth,
                    json={"base_revision": base, "blob": b64url_encode(blob)},
                )
                if w.status_code == 200:
                    with lock:
                        landed.append(blob)
                    break
                assert w.status_code == 409, w.text

    threads = [threading.Thread(target=writer, args=(t,)) for t in (b"A", b"B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(landed) == 2 * writes_each
    final = api.anon.get("/api/vault", auth=user.auth).json()
    assert final["revision"] == 2 * writes_each
    history = api.anon.get("/api/vault/history", auth=user.auth).json()
    revisions = [h["revision"] for h in history]
    assert revisions == list(range(12, 0, -1))  # all young: every one kept
    # Each kept revision is exactly the blob the writer saw acknowledged.
    for rev in revisions:
        kept = api.anon.get(f"/api/vault/history/{rev}", auth=user.auth).json()
        assert b64url_decode(kept["blob"]) in landed


def test_header_must_match_account_revision_and_vault(api: Api) -> None:
    user = api.sign_in()
    other = api.sign_in()
    vid = uuid.uuid4()
    cases = [
        (api.blob(other.account_id, 1, vid), "wrong_account"),
        (api.blob(user.account_id, 2, vid), "revision_mismatch"),
        (api.blob(user.account_id, 1, vid, version=3), "unsupported_version"),
        (b"ZKVX" + api.blob(user.account_id, 1, vid)[4:], "malformed"),
        (b"ZKVT\x00\x01", "malformed"),
        (api.blob(user.account_id, 0, vid), "malformed"),
    ]
    for blob, code in cases:
        r = api.put_vault(user, 0, blob)
        assert (r.status_code, r.json()["code"]) == (422, code)
    assert api.put_vault(user, 0, api.blob(user.account_id, 1, vid)).status_code == 200
    r = api.put_vault(user, 1, api.blob(user.account_id, 2, uuid.uuid4()))
    assert (r.status_code, r.json()["code"]) == (422, "wrong_vault")


def test_size_limit_is_a_clear_413(api: Api) -> None:
    user = api.sign_in()
    vid = uuid.uuid4()
    limit = 1024 * 1024
    header_len = len(api.blob(user.account_id, 1, vid, b"x")) - 1
    exact = api.blob(user.account_id, 1, vid, b"\0" * (limit - header_len))
    assert len(exact) == limit
    assert api.put_vault(user, 0, exact).status_code == 200
    over = api.blob(user.account_id, 2, vid, b"\0" * (limit - header_len + 1))
    near = api.put_vault(user, 1, over)
    # Far over: refused by the body limit before any parsing.
    far = api.anon.put(
        "/api/vault",
        auth=user.auth,
        headers={"content-type": "application/json"},
        content=b"{" + b" " * (3 * limit) + b"}",
    )
    shut = [(r.status_code, r.json()["code"]) == (413, "too_large") for r in (near, far)]
    record("api attacks", "oversized bodies", tried=len(shut), refused=sum(shut))
    assert all(shut), (near.text, far.text)


def test_history_and_restore(api: Api) -> None:
    user = api.sign_in()
    vid = uuid.uuid4()
    for rev in range(1, 4):
        assert api.put_vault(user, rev - 1, api.blob(user.account_id, rev, vid)).status_code == 200
    old = api.anon.get("/api/vault/history/1", auth=user.auth)
    assert old.status_code == 200 and old.json()["revision"] == 1
    resealed = api.blob(user.account_id, 4, vid, b"items of revision 1")
    r = api.anon.post(
        "/api/vault/restore",
        auth=user.auth,
        json={"from_revision": 1, "base_revision": 3, "blob": b64url_encode(resealed)},
    )
    assert r.status_code == 200 and r.json()["revision"] == 4
    r = api.anon.post(
        "/api/vault/restore",
        auth=user.auth,
        json={
            "from_revision": 99,
            "base_revision": 4,
            "blob": b64url_encode(api.blob(user.account_id, 5, vid)),
        },
    )
    assert r.status_code == 404 and r.json()["code"] == "no_such_revision"
    export = api.anon.get("/api/audit/export", auth=user.auth).json()
    actions = [e["action"] for e in export["events"]]
    assert actions.count("vault.write") == 3 and actions.count("vault.restore") == 1


def test_each_account_sees_only_its_own_vault(api: Api) -> None:
    alice, bob = api.sign_in(), api.sign_in()
    vid = uuid.uuid4()
    assert api.put_vault(alice, 0, api.blob(alice.account_id, 1, vid)).status_code == 200
    assert api.anon.get("/api/vault", auth=bob.auth).status_code == 404
    assert api.anon.get("/api/vault/history/1", auth=bob.auth).status_code == 404
    assert api.anon.get("/api/vault/history", auth=bob.auth).json() == []


def test_a_write_can_name_the_exact_blob_it_replaces(api: Api) -> None:
    """Two different blobs can both claim revision N (one accepted, one a device's
    unaccepted save). With base_sha256 the server tells them apart."""
    import hashlib

    user = api.sign_in()
    vid = uuid.uuid4()
    first = api.blob(user.account_id, 1, vid, b"first")
    r = api.put_vault(user, 0, first)
    assert r.json()["sha256"] == hashlib.sha256(first).hexdigest()
    got = api.anon.get("/api/vault", auth=user.auth).json()
    assert got["sha256"] == hashlib.sha256(first).hexdigest()
    # A device's own unaccepted revision 1 (never stored) as the claimed parent: refused.
    ghost = api.blob(user.account_id, 1, vid, b"my unaccepted save")
    r = api.anon.put(
        "/api/vault",
        auth=user.auth,
        json={
            "base_revision": 1,
            "base_sha256": hashlib.sha256(ghost).hexdigest(),
            "blob": b64url_encode(api.blob(user.account_id, 2, vid, b"built on the ghost")),
        },
    )
    assert r.status_code == 409 and r.json()["current_revision"] == 1
    # Naming the real parent works; so does the revision alone (the older contract).
    second = api.blob(user.account_id, 2, vid, b"second")
    r = api.anon.put(
        "/api/vault",
        auth=user.auth,
        json={"base_revision": 1, "base_sha256": got["sha256"], "blob": b64url_encode(second)},
    )
    assert r.status_code == 200 and r.json()["revision"] == 2
    assert api.put_vault(user, 2, api.blob(user.account_id, 3, vid)).status_code == 200
    r = api.anon.put(
        "/api/vault",
        auth=user.auth,
        json={"base_revision": 3, "base_sha256": "A" * 64, "blob": b64url_encode(second)},
    )
    assert r.status_code == 422  # lowercase hex only
