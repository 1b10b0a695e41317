"""Rewriting an audit export as a server that wants to hide something would: edit an event
and recompute every hash after it so the chain still links (only the anchors sealed in
the vault tell), drop the tail, swap two events. Shared by the unit, API and CLI tests."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from vault_core.audit_chain import GENESIS, HASHED, SYSTEM_CHAIN, event_hash
from vault_core.lineage import AuditAnchor as Anchor

__all__ = ["Anchor", "anchors_of", "exported_hash", "relink", "rewritten", "swapped", "truncated"]


def exported_hash(event: dict[str, Any], chain: str) -> str:
    fields = {k: event[k] for k in HASHED if k != "chain"}
    fields.update(
        chain=chain,
        account_id=chain if chain != SYSTEM_CHAIN else None,
        created_at=datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")),
        prev_hash=event["prev_hash"],
    )
    return event_hash(fields)


def relink(doc: dict[str, Any], start: int = 0) -> dict[str, Any]:
    """Recompute prev_hash and hash from events[start] on, and the head: a chain that
    verifies in itself."""
    events = doc["events"]
    prev = events[start - 1]["hash"] if start else GENESIS
    for e in events[start:]:
        e["prev_hash"] = prev
        e["hash"] = prev = exported_hash(e, doc["chain"])
    doc["head_seq"] = events[-1]["seq"] if events else 0
    doc["head_hash"] = prev
    return doc


def rewritten(doc: dict[str, Any], seq: int, **fields: Any) -> dict[str, Any]:
    """The event at seq changed (outcome "failure" by default), the chain relinked."""
    out = copy.deepcopy(doc)
    index = next(i for i, e in enumerate(out["events"]) if e["seq"] == seq)
    out["events"][index].update(fields or {"outcome": "failure"})
    return relink(out, index)


def truncated(doc: dict[str, Any], keep: int) -> dict[str, Any]:
    """Only the first `keep` events, the head moved back to match."""
    out = copy.deepcopy(doc)
    out["events"] = out["events"][:keep]
    return relink(out, len(out["events"]))


def swapped(doc: dict[str, Any], seq: int) -> dict[str, Any]:
    """The events at seq and seq + 1 change places (as stored: seq numbers go with them)."""
    out = copy.deepcopy(doc)
    events = out["events"]
    i = next(i for i, e in enumerate(events) if e["seq"] == seq)
    events[i], events[i + 1] = events[i + 1], events[i]
    return out


def anchors_of(doc: dict[str, Any], *seqs: int) -> list[Anchor]:
    by_seq = {e["seq"]: e["hash"] for e in doc["events"]}
    return [Anchor(s, by_seq[s]) for s in seqs]
