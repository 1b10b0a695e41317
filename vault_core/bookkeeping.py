"""The vault's bookkeeping items and their grammar (format.md §12, "Bookkeeping items").

Two reserved items hold what clients record about runners: ``.zkvault-pins`` (the key each
runner was approved with: vault_core.pins) and ``.zkvault-grants`` (which items each runner
is granted: here). Their ``secret`` is one canonical JSON document,
``{"runners":{...},"v":"1"}``, read strictly: anything else is the item's own typed error,
so a damaged record never passes for an empty or a different one. A team vault keeps one
of its own, ``.zkvault-audit-anchor`` (format.md §15, "Audit anchors"): the team's audit
chain head its writer saw, ``{"head":...,"seq":...,"v":"1"}``.

Standard library only: runs unchanged natively and under Pyodide.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .audit_chain import AuditAnchor
from .encoding import canonical_json, parse_canonical_json
from .errors import GrantListError, LimitExceededError, MalformedError, VaultError
from .items import MAX_ITEMS, RESERVED_PREFIX, SECRET_MAX_BYTES, Item

PINS_ITEM = RESERVED_PREFIX + "pins"
GRANTS_ITEM = RESERVED_PREFIX + "grants"
AUDIT_ANCHOR_ITEM = RESERVED_PREFIX + "audit-anchor"  # team vaults only
BOOKKEEPING_VERSION = "1"
# A runner id as text: the hyphenated lowercase form, the only one accepted (so one runner
# cannot appear twice under two spellings).
RUNNER_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ITEM_ID = re.compile(r"[0-9a-f]{32}")  # as in a grant body (format.md §7)
NAME_MAX = 128  # characters: a runner's, a revoked device's or a saving device's name


def checked_name(name: object, error: type[VaultError], whose: str) -> str:
    """A name of the bookkeeping records (format.md §12.1 NAME, §14.1): 1 to 128 Unicode
    scalar values, no control character; ``error`` otherwise."""
    if (
        not isinstance(name, str)
        or not 1 <= len(name) <= NAME_MAX
        or any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF for c in name)
    ):
        raise error(f"{whose} name is 1 to {NAME_MAX} characters, no controls")
    return name


_NOTES = {
    PINS_ITEM: "The runner keys the owner approved (kept by zkvault).",
    GRANTS_ITEM: "Which items each runner is granted (kept by zkvault).",
    RESERVED_PREFIX + "lineage": "Which writes this revision descends from (kept by zkvault).",
    RESERVED_PREFIX + "revoked": "The runners and machines revoked (kept by zkvault).",
    RESERVED_PREFIX + "identity": "Your identity key for teams (kept by zkvault).",
    RESERVED_PREFIX + "contacts": "The identity keys of people you pinned (kept by zkvault).",
    AUDIT_ANCHOR_ITEM: "The team's audit-chain head its writer saw (kept by zkvault).",
}
# The contacts' further shards (format.md §15.5): ".zkvault-contacts-2" and on.
_CONTACTS_SHARD = re.compile(re.escape(RESERVED_PREFIX) + r"contacts-[1-9][0-9]*")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SEQ = re.compile(r"[1-9][0-9]{0,18}")


def dump_anchor(anchor: AuditAnchor) -> str:
    """The ``.zkvault-audit-anchor`` secret: ``{"head":64 hex,"seq":decimal,"v":"1"}``."""
    text = canonical_json(
        {"head": anchor.head, "seq": str(anchor.seq), "v": BOOKKEEPING_VERSION}
    ).decode("utf-8")
    parse_anchor(text)  # never writes what no reader accepts
    return text


def parse_anchor(secret: str) -> AuditAnchor:
    """The anchor a ``.zkvault-audit-anchor`` secret holds, read strictly: ``malformed``
    for anything but the one canonical spelling (seq 1 to 2**63 - 1)."""
    try:
        data = parse_canonical_json(secret.encode("utf-8"))
    except (VaultError, UnicodeError):
        data = None
    if (
        not isinstance(data, dict)
        or sorted(data) != ["head", "seq", "v"]
        or data["v"] != BOOKKEEPING_VERSION
        or not isinstance(data["head"], str)
        or not _HEX64.fullmatch(data["head"])
        or not isinstance(data["seq"], str)
        or not _SEQ.fullmatch(data["seq"])
        or int(data["seq"]) > 2**63 - 1
    ):
        raise MalformedError('the audit anchor is not {"head":...,"seq":...,"v":"1"}')
    return AuditAnchor(int(data["seq"]), data["head"])


# An earlier writer: from a parsed record, the text it would have written and the runners.
LegacyWriter = Callable[[Any], tuple[str, dict[str, Any]]]


def parse_document(secret: str, error: type[VaultError], legacy: LegacyWriter) -> dict[str, Any]:
    """The ``runners`` object of a bookkeeping secret, its keys checked; ``error`` for any
    departure from the grammar (the value's shape is the caller's to check). A record that
    an earlier client wrote is read too, if it is exactly the text ``legacy`` writes for
    what it holds (format.md §12.1, "Records written before this grammar")."""
    try:
        data = parse_canonical_json(secret.encode("utf-8"))
    except (VaultError, UnicodeError):
        data = None
    if (
        isinstance(data, dict)
        and sorted(data) == ["runners", "v"]
        and data["v"] == BOOKKEEPING_VERSION
        and isinstance(data["runners"], dict)
    ):
        runners: dict[str, Any] = data["runners"]
    else:
        earlier = _legacy_runners(secret, legacy)
        if earlier is None:
            raise error('not {"runners":{...},"v":"1"} in canonical JSON')
        runners = earlier
    if not all(RUNNER_ID.fullmatch(rid) for rid in runners):
        raise error("a runner id is not a lowercase hyphenated UUID")
    return runners


def _legacy_runners(secret: str, legacy: LegacyWriter) -> dict[str, Any] | None:
    """The runners of a record in an earlier writer's form, or None if it is not one."""

    def no_constants(name: str) -> None:
        raise ValueError(name)  # NaN and Infinity were never written

    try:
        text, runners = legacy(json.loads(secret, parse_constant=no_constants))
    except (ValueError, TypeError, AttributeError, KeyError):
        return None
    # Rewriting it must give back the very text: one spelling per record.
    return runners if text == secret else None


def legacy_pins(data: Any) -> tuple[str, dict[str, Any]]:
    """How clients before §12.1's grammar wrote the pins record: {"v":1,"runners":...}."""
    if sorted(data) != ["runners", "v"] or type(data["v"]) is not int or data["v"] != 1:
        raise ValueError("not an earlier pins record")
    runners = {
        rid: {"key": pin["key"], "name": pin["name"]}
        for rid, pin in sorted(data["runners"].items())
    }
    return json.dumps({"v": 1, "runners": runners}, separators=(",", ":")), runners


def legacy_grants(data: Any) -> tuple[str, dict[str, Any]]:
    """How clients before §12.1's grammar wrote the grants record: runner id → item ids,
    with no version."""
    if not isinstance(data, dict) or "v" in data:
        raise ValueError("not an earlier grants record")
    return json.dumps(data, sort_keys=True, separators=(",", ":")), data


def dump_document(runners: Mapping[str, Any], error: type[VaultError]) -> str:
    text = canonical_json({"runners": dict(runners), "v": BOOKKEEPING_VERSION}).decode("utf-8")
    if len(text.encode("utf-8")) > SECRET_MAX_BYTES:
        raise LimitExceededError(f"the {error.code} record is limited to {SECRET_MAX_BYTES} bytes")
    return text


def bookkeeping_item(name: str, secret: str) -> Item:
    """The item that stores a bookkeeping document: the fields other than ``secret`` are
    fixed, and readers ignore them."""
    note = _NOTES[RESERVED_PREFIX + "contacts" if _CONTACTS_SHARD.fullmatch(name) else name]
    return Item(name=name, kind="generic", url="", secret=secret, note=note)


class RunnerGrants:
    """Which items each runner is granted, as kept in ``.zkvault-grants``.

    Runners are keyed by id; each holds a non-empty, sorted tuple of item ids. Ids of items
    since removed may remain: a seal grants only the items still in the vault."""

    def __init__(self, runners: Mapping[uuid.UUID, Iterable[uuid.UUID]] | None = None) -> None:
        self.runners: dict[uuid.UUID, tuple[uuid.UUID, ...]] = {}
        for runner_id, item_ids in (runners or {}).items():
            self.set(runner_id, item_ids)

    def set(self, runner_id: uuid.UUID, item_ids: Iterable[uuid.UUID]) -> None:
        """Grant exactly these items (none: the runner leaves the record)."""
        chosen = tuple(sorted(set(item_ids), key=lambda i: i.bytes))
        if len(chosen) > MAX_ITEMS:
            raise LimitExceededError(f"a grant holds at most {MAX_ITEMS} items")
        if chosen:
            self.runners[runner_id] = chosen
        else:
            self.runners.pop(runner_id, None)

    def items_of(self, runner_id: uuid.UUID) -> tuple[uuid.UUID, ...]:
        return self.runners.get(runner_id, ())

    def to_dict(self) -> dict[str, list[str]]:
        """Runner id text → item ids as 32 hex digits: what the document holds."""
        return {
            str(rid): [i.hex for i in ids]
            for rid, ids in sorted(self.runners.items(), key=lambda kv: str(kv[0]))
        }

    @classmethod
    def parse(cls, secret: str) -> RunnerGrants:
        runners = parse_document(secret, GrantListError, legacy_grants)
        grants = cls()
        for rid, item_ids in runners.items():
            if (
                not isinstance(item_ids, list)
                or not 1 <= len(item_ids) <= MAX_ITEMS
                or not all(isinstance(i, str) and ITEM_ID.fullmatch(i) for i in item_ids)
            ):
                raise GrantListError("a runner's items are not 1 to 1,000 item ids")
            if any(a >= b for a, b in itertools.pairwise(item_ids)):
                raise GrantListError("a runner's item ids are not in ascending order")
            grants.runners[uuid.UUID(rid)] = tuple(uuid.UUID(hex=i) for i in item_ids)
        return grants

    def dumps(self) -> str:
        return dump_document(self.to_dict(), GrantListError)
