"""The worker's audit anchors (vault_web, in-process): the head the page hands over is sealed
by the next save, and the export is checked against the heads of the vault and its kept
revisions. The page's side is in tests/e2e/test_audit_verify.py."""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.auditforge import anchors_of, rewritten, truncated
from tests.unit.test_audit_chain import CHAIN, export
from tests.unit.test_worker_vault import PASS, call, glue, ok
from vault_core import Vault
from vault_core.b64url import b64url_decode

__all__ = ["glue"]  # the fixture, used by name


def _save(session: Any, name: str) -> str:
    """An edit, as the page makes one: returns the blob the server is sent."""
    edit = ok(session, "add", fields={"name": name, "kind": "generic", "url": ""}, secret="s3")
    ok(session, "committed", revision=edit["revision"])
    return str(edit["blob"])


def test_saves_seal_the_head_and_the_export_is_checked_against_them(glue: Any) -> None:
    session, _ = glue
    doc = export(9)
    created = ok(session, "create", account_id=CHAIN, passphrase=PASS, confirm=PASS)
    ok(session, "committed", revision=created["revision"])
    kept: list[dict[str, Any]] = []
    for seq in (3, 6):
        (anchor,) = anchors_of(doc, seq)
        assert ok(session, "saw_audit_head", seq=anchor.seq, hash=anchor.head)["anchored"]
        kept.append({"revision": len(kept) + 2, "blob": _save(session, f"item {seq}")})
    # The head really is inside the saved, authenticated vault.
    opened = Vault.open(b64url_decode(kept[0]["blob"]), PASS, account_id=uuid.UUID(CHAIN))
    assert opened.lineage is not None and opened.lineage.audit == anchors_of(doc, 3)[0]

    report = ok(session, "verify_audit", export=doc, blobs=kept[:1])
    assert report["consistent"] and (report["checked"], report["anchors"]) == (9, 2)
    assert report["summary"] == "consistent (9 events, 2 anchors)"
    assert report["revisions"] == 2 and report["unreadable"] == []

    forged = ok(session, "verify_audit", export=rewritten(doc, 5), blobs=kept)
    assert forged["kinds"] == ["rewritten"] and forged["problems"][0]["seq"] == 6
    short = ok(session, "verify_audit", export=truncated(doc, 4), blobs=kept)
    assert short["kinds"] == ["truncated"]
    # Garbage among the kept revisions is skipped and named; junk input never raises.
    junk = [{"revision": 9, "blob": "AAAA"}, {"revision": 8}, "x"]
    report = ok(session, "verify_audit", export=doc, blobs=junk)
    assert report["consistent"] and report["unreadable"] == [9, 8, None]
    assert ok(session, "verify_audit", export="nothing", blobs=None)["kinds"] == ["malformed"]


def test_a_head_before_unlock_is_not_taken(glue: Any) -> None:
    session, _ = glue
    assert ok(session, "saw_audit_head", seq=1, hash="0" * 64) == {"anchored": False}
    reply = call(session, "verify_audit", export={}, blobs=[])
    assert reply["code"] == "locked"
