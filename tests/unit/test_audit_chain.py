"""vault_core.audit_chain: an export checked in itself and against the anchors sealed in
vault saves. Real server exports: tests/api/test_audit_anchors.py; these are hand-made
chains and hand-edited exports, one per kind of problem, and inputs that are not exports."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.auditforge import Anchor, anchors_of, relink, rewritten, swapped, truncated
from vault_core import audit_chain
from vault_core.audit_chain import GENESIS, verify_export

CHAIN = str(uuid.UUID(int=42))
START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def export(n: int = 8) -> dict[str, Any]:
    """A chain of n events in the server's export shape, hashed by the one definition."""
    events = [
        {
            "seq": i,
            "time": (START + timedelta(seconds=i, microseconds=i * 1001)).isoformat(),
            "actor": f"account:{CHAIN}",
            "action": "vault.write",
            "tag": "account:vault:write",
            "target": "vault:x",
            "outcome": "success",
            "source": "127.0.0.1",
            "detail": f"revision {i}",
            "prev_hash": "",
            "hash": "",
        }
        for i in range(1, n + 1)
    ]
    for e in events[::3]:  # the server's own form of UTC times too
        e["time"] = str(e["time"]).replace("+00:00", "Z")
    return relink({"chain": CHAIN, "head_seq": 0, "head_hash": GENESIS, "events": events})


def kinds(doc: Any, anchors: Any = ()) -> list[str]:
    return list(verify_export(doc, anchors).kinds)


def test_an_intact_export_matches_its_anchors() -> None:
    doc = export()
    report = verify_export(doc, anchors_of(doc, 2, 5, 5, 8))
    assert report.consistent and report.problems == ()
    assert (report.checked, report.anchors) == (8, 3)  # the same anchor twice counts once
    assert report.summary() == "consistent (8 events, 3 anchors)"
    assert verify_export(doc, [Anchor(0, GENESIS)]).consistent  # a save before any event
    assert verify_export(doc, (), chain=CHAIN).consistent
    assert verify_export(doc, (), chain=str(uuid.uuid4())).kinds == ("malformed",)


def test_the_hash_is_the_servers() -> None:
    """The definition the server hashes with (server.audit imports this one)."""
    from server import audit

    assert audit.event_hash is audit_chain.event_hash
    assert audit.GENESIS == GENESIS


def test_a_rewrite_that_relinks_the_chain_is_caught_only_by_the_anchor() -> None:
    doc = export()
    anchors = anchors_of(doc, 3, 6)
    forged = rewritten(doc, 4)
    assert verify_export(forged, ()).consistent  # in itself it is a fine chain
    report = verify_export(forged, anchors)
    assert report.kinds == ("rewritten",)
    assert [(p.kind, p.seq) for p in report.problems] == [("rewritten", 6)]  # 3 still holds
    assert "NOT consistent" in report.summary()


def test_truncation_before_an_anchor() -> None:
    doc = export()
    assert kinds(truncated(doc, 5), anchors_of(doc, 2, 7)) == ["truncated"]
    # An export that stops short of its own head, anchors or not.
    short = copy.deepcopy(doc)
    short["events"].pop()
    assert kinds(short) == ["truncated"]
    # Everything gone: the head reset to the start.
    assert kinds(truncated(doc, 0), anchors_of(doc, 1)) == ["truncated"]


def test_reordered_and_unlinked() -> None:
    doc = export()
    assert set(kinds(swapped(doc, 4))) == {"reordered", "unlinked"}
    gap = copy.deepcopy(doc)
    del gap["events"][3]  # seq 4 missing, the rest untouched
    relink(gap, 3)  # even relinked, the seq numbers show the gap
    assert kinds(gap, anchors_of(doc, 2)) == ["reordered"]
    renumbered = copy.deepcopy(doc)
    renumbered["events"][2]["seq"] = 2  # seq 2 twice
    relink(renumbered, 2)
    assert kinds(renumbered)[0] == "reordered"
    broken = copy.deepcopy(doc)
    broken["events"][5]["prev_hash"] = "a" * 64
    broken["events"][5]["hash"] = relink(copy.deepcopy(broken), 5)["events"][5]["hash"]
    assert "unlinked" in kinds(broken)


def test_an_edit_that_keeps_the_old_hash_is_altered() -> None:
    doc = export()
    doc["events"][1]["outcome"] = "failure"
    report = verify_export(doc, anchors_of(doc, 2, 8))
    assert report.kinds == ("altered",)
    assert report.problems[0].seq == 2


@pytest.mark.parametrize(
    "document",
    [
        None,
        [],
        "{}",
        {},
        {"events": "all of them"},
        {"chain": CHAIN, "events": [None], "head_seq": 0, "head_hash": GENESIS},
        {"chain": 7, "events": [], "head_seq": 0, "head_hash": GENESIS},
        {"chain": CHAIN, "events": [], "head_seq": "0", "head_hash": GENESIS},
        {"chain": CHAIN, "events": [], "head_seq": 0, "head_hash": "XYZ"},
    ],
)
def test_what_is_not_an_export_is_malformed(document: Any) -> None:
    report = verify_export(document, ())
    assert "malformed" in report.kinds and not report.consistent


@pytest.mark.parametrize(
    ("field", "value"),
    [("seq", "1"), ("seq", True), ("time", "yesterday"), ("hash", "g" * 64), ("actor", None)],
)
def test_an_event_of_the_wrong_shape_is_malformed(field: str, value: Any) -> None:
    doc = export(3)
    doc["events"][1][field] = value
    assert "malformed" in kinds(doc)
    doc["events"][1].pop(field)
    assert "malformed" in kinds(doc)


@pytest.mark.parametrize(
    "anchors",
    [None, 5, [Anchor(-1, GENESIS)], [Anchor(1, "nothex")], [object()], [{"seq": 1}]],
)
def test_anchors_of_the_wrong_shape_are_malformed_never_raised(anchors: Any) -> None:
    assert kinds(export(3), anchors) == ["malformed"]


def test_problems_are_bounded() -> None:
    doc = export(3)
    doc["events"] = doc["events"] * 100
    report = verify_export(doc, ())
    assert len(report.problems) == audit_chain.MAX_LISTED and report.omitted > 0
    assert report.to_dict()["omitted"] == report.omitted
