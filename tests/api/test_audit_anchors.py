"""The vault's reads and writes name the audit chain's head (what clients seal into their
next save), and real exports check out against those heads, or fail to once rewritten."""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.auditforge import Anchor, rewritten, swapped, truncated
from vault_core.audit_chain import verify_export

from .conftest import Api, Device, User


def _export(api: Api, who: User | Device) -> dict[str, Any]:
    r = api.anon.get("/api/audit/export", auth=who.auth)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _head_of(doc: dict[str, Any]) -> dict[str, Any]:
    return {"seq": doc["head_seq"], "hash": doc["head_hash"]}


def test_reads_and_writes_name_the_chain_head(api: Api) -> None:
    user = api.sign_in()
    vid = uuid.uuid4()
    first = api.put_vault(user, 0, api.blob(user.account_id, 1, vid))
    assert first.status_code == 200, first.text
    doc = _export(api, user)
    # After the write's own event: the head is the vault.write just recorded.
    assert first.json()["audit_head"] == _head_of(doc)
    assert doc["events"][-1]["action"] == "vault.write"
    machine = api.pair(user)  # more events: approve, pair
    read = api.get_vault(machine)
    assert read.status_code == 200
    doc = _export(api, machine)  # a machine reads the export too (zkvault audit verify)
    assert read.json()["audit_head"] == _head_of(doc)
    assert doc["events"][-1]["action"] == "machine.pair"
    second = api.put_vault(machine, 1, api.blob(user.account_id, 2, vid))
    assert second.json()["audit_head"]["seq"] == doc["head_seq"] + 1
    restored = api.restore(user, 1, 2, api.blob(user.account_id, 3, vid))
    assert restored.status_code == 200, restored.text
    doc = _export(api, user)
    assert restored.json()["audit_head"] == _head_of(doc)
    assert doc["events"][-1]["action"] == "vault.restore"
    # Another account's head is never named: each read names the caller's own chain.
    other = api.sign_in()
    api.put_vault(other, 0, api.blob(other.account_id, 1, uuid.uuid4()))
    assert api.get_vault(user).json()["audit_head"] == _head_of(_export(api, user))


def test_a_machine_reads_the_kept_revisions(api: Api) -> None:
    user = api.sign_in()
    vid = uuid.uuid4()
    blobs = [api.blob(user.account_id, r, vid) for r in (1, 2)]
    for base, blob in enumerate(blobs):
        assert api.put_vault(user, base, blob).status_code == 200
    machine = api.pair(user)
    listed = api.anon.get("/api/vault/history", auth=machine.auth)
    assert [v["revision"] for v in listed.json()] == [2, 1]
    kept = api.anon.get("/api/vault/history/1", auth=machine.auth)
    assert kept.status_code == 200
    assert kept.json()["revision"] == 1 and kept.json()["blob"]


def test_real_exports_against_the_heads_clients_saw(api: Api) -> None:
    """The anchors a client would seal (the heads its reads and writes were told), held
    against the real export: intact, then rewritten, truncated and reordered by hand."""
    user = api.sign_in()
    vid = uuid.uuid4()
    anchors: list[Anchor] = []
    for revision in range(1, 5):
        r = api.put_vault(user, revision - 1, api.blob(user.account_id, revision, vid))
        head = r.json()["audit_head"]
        anchors.append(Anchor(head["seq"], head["hash"]))
        api.pair(user, name=f"m{revision}")  # events between the saves
    doc = _export(api, user)
    report = verify_export(doc, anchors)
    assert report.consistent, report.problems
    assert (report.checked, report.anchors) == (len(doc["events"]), 4)
    middle = anchors[1].seq
    assert verify_export(rewritten(doc, middle - 1), anchors).kinds == ("rewritten",)
    assert verify_export(truncated(doc, anchors[2].seq - 1), anchors).kinds == ("truncated",)
    assert "reordered" in verify_export(swapped(doc, middle), anchors).kinds
