"""The audit trail's hash chain: the one definition of an event's hash, and the check of
an owner's export (GET /api/audit/export) against the chain heads the owner's vault
saves committed to (docs/server.md, "Audit"; docs/format.md, lineage).

Standard library only: the server hashes with it, and the CLI and the browser's worker
(Pyodide) verify with it. ``verify_export`` never raises on what a server sends.

An anchor is the (seq, hash) of the chain's head as a client saw it when it saved the
vault, sealed inside the vault: the server cannot change it afterwards. Each event's hash
covers the previous one's, so an export that still holds the anchored hash at the anchored
seq holds the same events 1..seq as the client saw; one that does not was rewritten (a
different hash there), truncated (it ends before the seq), or is not one chain.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

__all__ = ["GENESIS", "AuditAnchor", "Problem", "Report", "event_hash", "verify_export"]


@dataclass(frozen=True)
class AuditAnchor:
    """The audit-chain head a saver saw: the event's sequence number and its hash."""

    seq: int
    head: str

    @classmethod
    def from_server(cls, head: Any) -> AuditAnchor | None:
        """The ``audit_head`` a server answered ({seq, hash}), or None if it is not one: the
        server's word, read defensively, so that it can never make a save write a lineage
        record no reader accepts."""
        if not isinstance(head, dict):
            return None
        seq, digest = head.get("seq"), head.get("hash")
        if isinstance(seq, str) and _DECIMAL.fullmatch(seq):
            seq = int(seq)
        if (
            isinstance(seq, int)
            and not isinstance(seq, bool)
            and 1 <= seq <= 2**63 - 1
            and isinstance(digest, str)
            and _HEX64.fullmatch(digest)
        ):
            return cls(seq, digest)
        return None


GENESIS = "0" * 64  # the "previous hash" of every chain's first event
SYSTEM_CHAIN = "system"  # events with no account (an anonymous pairing request, say)
HASHED = ("chain", "seq", "actor", "action", "target", "tag", "outcome", "source", "detail")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_DECIMAL = re.compile(r"[1-9][0-9]{0,18}")  # ASCII only: str.isdigit() also takes "٣"
_STRINGS = ("actor", "action", "target", "tag", "outcome", "source", "detail")
MAX_LISTED = 100  # problems kept in a report; the rest are only counted

# Problem kinds (docs/cli.md, "zkvault audit verify"):
REWRITTEN = "rewritten"  # the event at an anchored seq has another hash than anchored
TRUNCATED = "truncated"  # the export ends before an anchored seq, or before its own head
REORDERED = "reordered"  # seq numbers missing, repeated or out of order
UNLINKED = "unlinked"  # an event's previous hash is not the hash of the event before it
ALTERED = "altered"  # an event's contents do not hash to the hash it carries
MALFORMED = "malformed"  # not an export, an event or an anchor of the documented shape


def event_hash(e: Mapping[str, Any]) -> str:
    """SHA-256 (lowercase hex) over the canonical JSON of the event's fields and the
    previous hash: ``HASHED``, ``account_id`` (text or None), ``created_at`` (a datetime,
    hashed as its ISO 8601 text) and ``prev_hash``."""
    fields: dict[str, Any] = {k: e[k] for k in HASHED}
    fields["account_id"] = str(e["account_id"]) if e["account_id"] else None
    fields["time"] = e["created_at"].isoformat()
    fields["prev"] = e["prev_hash"]
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


class Anchor(Protocol):
    """A chain head sealed in a vault revision (``AuditAnchor``, re-exported here for the
    clients that seal and check them)."""

    @property
    def seq(self) -> int: ...

    @property
    def head(self) -> str: ...


@dataclass(frozen=True)
class Problem:
    kind: str
    seq: int | None  # the event (or anchor) concerned; None for the export as a whole
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "seq": self.seq, "message": self.message}


@dataclass(frozen=True)
class Report:
    checked: int  # events in the export
    anchors: int  # distinct anchors held against it
    problems: tuple[Problem, ...] = ()
    omitted: int = 0  # problems past MAX_LISTED, counted only
    kinds: tuple[str, ...] = field(default=())  # every kind found, listed or not

    @property
    def consistent(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.consistent:
            return f"consistent ({self.checked} events, {self.anchors} anchors)"
        found = len(self.problems) + self.omitted
        return f"NOT consistent: {found} problem(s) ({', '.join(self.kinds)})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "consistent": self.consistent,
            "checked": self.checked,
            "anchors": self.anchors,
            "kinds": list(self.kinds),
            "problems": [p.to_dict() for p in self.problems],
            "omitted": self.omitted,
        }


class _Findings:
    def __init__(self) -> None:
        self.listed: list[Problem] = []
        self.omitted = 0
        self.kinds: dict[str, None] = {}

    def add(self, kind: str, seq: int | None, message: str) -> None:
        self.kinds[kind] = None
        if len(self.listed) < MAX_LISTED:
            self.listed.append(Problem(kind, seq, message))
        else:
            self.omitted += 1

    def report(self, checked: int, anchors: int) -> Report:
        return Report(checked, anchors, tuple(self.listed), self.omitted, tuple(self.kinds))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _hex(value: Any) -> str | None:
    return value if isinstance(value, str) and _HEX64.fullmatch(value) else None


def _recomputed(e: Any, chain: str) -> str | None:
    """The hash an exported event's contents give; None if it is not an event."""
    if not isinstance(e, Mapping) or _int(e.get("seq")) is None or _hex(e.get("hash")) is None:
        return None
    if _hex(e.get("prev_hash")) is None or not all(isinstance(e.get(k), str) for k in _STRINGS):
        return None
    try:
        created = datetime.fromisoformat(str(e.get("time")).replace("Z", "+00:00"))
    except ValueError:
        return None
    fields = {k: e[k] for k in HASHED if k != "chain"}
    fields.update(
        chain=chain,
        account_id=chain if chain != SYSTEM_CHAIN else None,
        created_at=created,
        prev_hash=e["prev_hash"],
    )
    return event_hash(fields)


def _walk(events: list[Any], chain: str, found: _Findings) -> dict[int, str]:
    """Checks the events in order; returns seq -> hash of those that are events."""
    hashes: dict[int, str] = {}
    prev, expected = GENESIS, 1
    for index, e in enumerate(events):
        recomputed = _recomputed(e, chain)
        if recomputed is None:
            found.add(MALFORMED, None, f"event #{index + 1} is not an audit event")
            continue
        seq, own = int(e["seq"]), str(e["hash"])
        if seq in hashes:
            found.add(REORDERED, seq, f"seq {seq} appears more than once")
        elif seq != expected:
            missing = "missing" if seq > expected else "out of order"
            found.add(REORDERED, seq, f"seq {seq} where {expected} was expected ({missing})")
        if e["prev_hash"] != prev:
            found.add(UNLINKED, seq, f"seq {seq} does not link to the event before it")
        if recomputed != own:
            found.add(ALTERED, seq, f"seq {seq}: its contents do not match its hash")
        hashes.setdefault(seq, own)
        prev, expected = own, seq + 1
    return hashes


def _anchors(anchors: Iterable[Any], found: _Findings) -> dict[tuple[int, str], None]:
    unique: dict[tuple[int, str], None] = {}
    try:
        for a in anchors:
            seq, head = _int(getattr(a, "seq", None)), _hex(getattr(a, "head", None))
            if seq is None or head is None or seq < 0:
                found.add(MALFORMED, None, "an anchor is not a (seq, head) pair")
            else:
                unique[(seq, head)] = None
    except TypeError:
        found.add(MALFORMED, None, "the anchors are not a list")
    return unique


def verify_export(document: Any, anchors: Iterable[Anchor], chain: str | None = None) -> Report:
    """Checks an export's chain in itself and against ``anchors`` (and, given ``chain``,
    that it is that account's chain); never raises."""
    found = _Findings()
    unique = _anchors(anchors, found)
    if not isinstance(document, Mapping) or not isinstance(document.get("events"), list):
        found.add(MALFORMED, None, "this is not an audit export (no list of events)")
        return found.report(0, len(unique))
    expected_chain, chain = chain, document.get("chain")
    if not isinstance(chain, str) or not chain:
        found.add(MALFORMED, None, "the export names no chain")
        chain = ""
    elif expected_chain is not None and chain != expected_chain:
        found.add(MALFORMED, None, "the export is of another account's chain")
    events: list[Any] = document["events"]
    hashes = _walk(events, chain, found)
    last = max(hashes, default=0)
    head_seq, head_hash = _int(document.get("head_seq")), _hex(document.get("head_hash"))
    if head_seq is None or head_hash is None:
        found.add(MALFORMED, None, "the export's head is not a (seq, hash) pair")
    elif head_seq != last or head_hash != hashes.get(last, GENESIS):
        found.add(
            TRUNCATED, head_seq, f"the export's head is seq {head_seq}, its last event {last}"
        )
    for seq, head in sorted(unique):
        if seq == 0:
            if head != GENESIS:
                found.add(REWRITTEN, 0, "an anchor at seq 0 names a head other than the start")
        elif seq > last:
            found.add(TRUNCATED, seq, f"a vault save saw seq {seq}; the export ends at seq {last}")
        elif seq not in hashes:
            found.add(TRUNCATED, seq, f"a vault save saw seq {seq}; the export lacks it")
        elif hashes[seq] != head:
            found.add(REWRITTEN, seq, f"seq {seq} has another hash than a vault save saw")
    return found.report(len(events), len(unique))
