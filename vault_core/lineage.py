"""Lineage: what each vault revision descends from, so that a fork is evident (format.md §14).

Every save of a format-2 vault writes the reserved item ``.zkvault-lineage``: the revision
and blob digest it was based on, each device's last write before it (a version vector, as
in SUNDR), who saved it and when, and the audit-chain head the saver saw. Only a holder of
the vault key can write it, so a server that shows two devices different histories can
never again show either one the other's later writes without the check here failing.

A client remembers, per vault, a ``VaultMemory``: the head it accepted (revision and
digest), that head's vector, its own last write and the write it has sent but not yet
seen accepted. ``check_descent`` compares a newly verified revision with that memory.

Standard library only: runs unchanged natively and under Pyodide.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .audit_chain import AuditAnchor as AuditAnchor  # re-exported: the record holds one
from .bookkeeping import checked_name
from .encoding import REVISION_MAX, canonical_json, parse_canonical_json
from .errors import (
    DowngradeError,
    ForkError,
    LimitExceededError,
    LineageError,
    MalformedError,
    RollbackError,
    VaultError,
)
from .items import RESERVED_PREFIX, SECRET_MAX_BYTES

LINEAGE_ITEM = RESERVED_PREFIX + "lineage"
LINEAGE_VERSION = "2"
MAX_DEVICES = 64  # entries kept in the vector; the oldest writes make way (§14, "Bound")
DEVICE_ID = re.compile(r"[0-9a-f]{32}")
DIGEST = re.compile(r"[0-9a-f]{64}")
DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")
TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


@dataclass(frozen=True)
class Write:
    """One saved revision: its number and the SHA-256 (hex) of its whole blob."""

    revision: int
    digest: str


@dataclass(frozen=True)
class Device:
    """A writer: a random id the client drew for itself, and a name a person recognises."""

    id: str
    name: str

    def __post_init__(self) -> None:
        if not DEVICE_ID.fullmatch(self.id):
            raise LineageError("a device id is 32 lowercase hex digits")
        _name(self.name)


@dataclass(frozen=True)
class DeviceWrite:
    write: Write
    name: str


@dataclass(frozen=True)
class Lineage:
    """The ``.zkvault-lineage`` record of one revision (format.md §14.1)."""

    parent: Write | None  # the revision this one was based on; None only for revision 1
    devices: Mapping[str, DeviceWrite]  # each device's last write up to the parent
    floor: int  # writes at or below this revision may have left the vector
    saved_at: str  # UTC, "YYYY-MM-DDTHH:MM:SSZ", the saver's clock
    saved_by: Device
    audit: AuditAnchor | None = None

    @classmethod
    def following(
        cls,
        previous: Lineage | None,
        parent: Write | None,
        device: Device,
        at: str,
        audit: AuditAnchor | None,
        held: Write | None = None,
    ) -> Lineage:
        """The lineage of the save that follows ``parent`` (whose own lineage is
        ``previous``; None when it is a format-1 revision or there is none). ``held``: the
        write ``previous`` belongs to, when the save goes on top of a later revision this
        client could not open (format.md §14.1, "Writing"), so that no device is credited
        with a write it did not make."""
        devices = dict(previous.devices) if previous else {}
        floor = previous.floor if previous else 0
        if previous is not None and parent is not None:
            devices[previous.saved_by.id] = DeviceWrite(held or parent, previous.saved_by.name)
        lineage = cls(parent, devices, floor, at, device, audit)
        # The bound (format.md §14.1): at most MAX_DEVICES entries, and the record within an
        # item's secret. 64 entries with long names would not fit in 16,384 bytes, and a
        # record that cannot be written would make the vault unsaveable; the oldest writes
        # make way, and the floor says up to which revision a device may have left.
        while len(devices) > MAX_DEVICES or len(lineage.dumps_unchecked()) > SECRET_MAX_BYTES:
            oldest = min(devices, key=lambda d: (devices[d].write.revision, d))
            floor = max(floor, devices.pop(oldest).write.revision)
            lineage = cls(parent, devices, floor, at, device, audit)
        return lineage

    @classmethod
    def parse(cls, secret: str) -> Lineage:
        try:
            data = parse_canonical_json(secret.encode("utf-8"))
        except (VaultError, UnicodeError):
            raise LineageError("not canonical JSON") from None
        doc = _object(data, ["audit", "devices", "floor", "parent", "saved", "v"])
        if doc["v"] != LINEAGE_VERSION:
            raise LineageError(f'"v" is not "{LINEAGE_VERSION}"')
        devices_doc = doc["devices"]
        if not isinstance(devices_doc, dict) or len(devices_doc) > MAX_DEVICES:
            raise LineageError(f"devices is an object of at most {MAX_DEVICES} entries")
        devices = {}
        for device_id, entry in devices_doc.items():
            if not DEVICE_ID.fullmatch(device_id):
                raise LineageError("a device id is 32 lowercase hex digits")
            fields = _object(entry, ["digest", "name", "rev"])
            write = _write(fields)
            devices[device_id] = DeviceWrite(write, _name(fields["name"]))
        saved = _object(doc["saved"], ["at", "by", "name"])
        if not isinstance(saved["at"], str) or not TIME.fullmatch(saved["at"]):
            raise LineageError("saved.at is not YYYY-MM-DDTHH:MM:SSZ")
        if not isinstance(saved["by"], str) or not DEVICE_ID.fullmatch(saved["by"]):
            raise LineageError("saved.by is not a device id")
        audit = None
        if doc["audit"] is not None:
            anchor = _object(doc["audit"], ["head", "seq"])
            if not isinstance(anchor["head"], str) or not DIGEST.fullmatch(anchor["head"]):
                raise LineageError("audit.head is not 64 lowercase hex digits")
            audit = AuditAnchor(_decimal(anchor["seq"], minimum=1), anchor["head"])
        parent_doc = doc["parent"]
        parent = None if parent_doc is None else _write(_object(parent_doc, ["digest", "rev"]))
        return cls(
            parent,
            devices,
            _decimal(doc["floor"], minimum=0),
            saved["at"],
            Device(saved["by"], _name(saved["name"])),
            audit,
        )

    def dumps(self) -> str:
        text = self.dumps_unchecked()
        if len(text) > SECRET_MAX_BYTES:
            raise LimitExceededError(f"the lineage record is limited to {SECRET_MAX_BYTES} bytes")
        return text.decode("utf-8")

    def dumps_unchecked(self) -> bytes:
        """The record's canonical JSON (UTF-8), whatever its size."""
        doc = {
            "audit": None
            if self.audit is None
            else {"head": self.audit.head, "seq": str(self.audit.seq)},
            "devices": {
                device_id: {**_write_doc(entry.write), "name": entry.name}
                for device_id, entry in self.devices.items()
            },
            "floor": str(self.floor),
            "parent": None if self.parent is None else _write_doc(self.parent),
            "saved": {"at": self.saved_at, "by": self.saved_by.id, "name": self.saved_by.name},
            "v": LINEAGE_VERSION,
        }
        return canonical_json(doc)

    def check_revision(self, revision: int) -> None:
        """The record's own consistency with the revision that carries it."""
        if (self.parent is None) != (revision == 1) or (
            self.parent is not None and self.parent.revision != revision - 1
        ):
            raise LineageError("the parent is not the revision before this one")
        if any(e.write.revision >= revision for e in self.devices.values()):
            raise LineageError("a device's last write is not before this revision")
        if self.floor >= revision:
            raise LineageError("the floor is not below this revision")


@dataclass(frozen=True)
class VaultMemory:
    """What a client remembers of one vault between runs (format.md §14.2). Holds no
    secret: revisions, digests and device ids."""

    format: int
    head: Write
    head_by: str | None = None  # the device that saved the head (None: format 1)
    devices: Mapping[str, Write] = field(default_factory=dict)  # the head's vector
    own: Write | None = None  # this device's last write seen accepted
    pending: Write | None = None  # sent, not yet seen accepted
    confirmed: bool = False  # a person confirmed it, or a later revision was seen

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "head": _write_doc(self.head),
            "head_by": self.head_by,
            "devices": {d: _write_doc(w) for d, w in self.devices.items()},
            "own": None if self.own is None else _write_doc(self.own),
            "pending": None if self.pending is None else _write_doc(self.pending),
            "confirmed": self.confirmed,
        }

    @classmethod
    def from_json(cls, data: Any) -> VaultMemory:
        """The memory a client stored; MalformedError if it is not one."""
        try:
            head_by = data["head_by"]
            if head_by is not None and not DEVICE_ID.fullmatch(head_by):
                raise ValueError(head_by)
            devices = {d: _write(w) for d, w in data["devices"].items() if DEVICE_ID.fullmatch(d)}
            memory = cls(
                format=int(data["format"]),
                head=_write(data["head"]),
                head_by=head_by,
                devices=devices,
                own=None if data["own"] is None else _write(data["own"]),
                pending=None if data["pending"] is None else _write(data["pending"]),
                confirmed=data["confirmed"] is True,
            )
        except (KeyError, TypeError, ValueError, AttributeError, LineageError):
            raise MalformedError("not a remembered vault state") from None
        if len(devices) != len(data["devices"]) or memory.format not in (1, 2):
            raise MalformedError("not a remembered vault state")
        return memory

    def confirm(self) -> VaultMemory:
        """A person confirmed that this is their current vault (format.md §14.3)."""
        return replace(self, confirmed=True)

    def sending(self, write: Write) -> VaultMemory:
        """This device is about to upload ``write``: remembered before it is sent, so that a
        write the server took while its answer was lost is still recognised as ours."""
        return replace(self, pending=write)


def check_descent(
    memory: VaultMemory | None,
    *,
    version: int,
    write: Write,
    lineage: Lineage | None,
    device_id: str | None,
) -> None:
    """Refuse a verified revision that cannot follow what this client accepted before
    (format.md §14.2): ``downgrade``, ``rollback`` or ``fork``."""
    if memory is None:
        return  # a device with no memory: format.md §14.3
    if version < memory.format:
        raise DowngradeError(f"format {version}, after format {memory.format} was seen")
    head = memory.head
    if write.revision < head.revision:
        raise RollbackError(
            f"the vault is at revision {write.revision}, older than revision "
            f"{head.revision} already seen"
        )
    if write.revision == head.revision:
        if write.digest != head.digest:
            raise ForkError(f"revision {write.revision} with other content than this device saw")
        return
    if write == memory.pending or lineage is None:
        return  # our own upload came back; or format 1, which records no lineage
    if write.revision == head.revision + 1 and lineage.parent != head:
        raise ForkError(f"revision {write.revision} is not based on the revision this device saw")
    # Every write this device saw or made must still be in the history: each device's entry
    # at or after that write (a later write of an honest device descends from its earlier
    # ones), or gone below the floor. A write sent whose answer was lost (``pending``) is
    # not required: the server may have refused it, which this device cannot tell apart.
    seen = dict(memory.devices)
    if memory.head_by is not None:
        seen[memory.head_by] = head
    if memory.own is not None and device_id is not None:
        seen[device_id] = _later(seen.get(device_id), memory.own)
    for device, earlier in seen.items():
        entry = lineage.devices.get(device)
        if entry is None:
            if earlier.revision > lineage.floor:
                raise ForkError(_missing(device, device_id))
        elif entry.write.revision < earlier.revision or (
            entry.write.revision == earlier.revision and entry.write.digest != earlier.digest
        ):
            raise ForkError(_missing(device, device_id))


def _later(a: Write | None, b: Write) -> Write:
    return b if a is None or b.revision >= a.revision else a


def _missing(device: str, device_id: str | None) -> str:
    if device == device_id:
        return "this device's last write is missing from the vault's history"
    return "a write this device saw is missing from the vault's history"


def remember(
    memory: VaultMemory | None,
    *,
    version: int,
    write: Write,
    lineage: Lineage | None,
    device_id: str | None,
) -> VaultMemory:
    """The memory after accepting ``write`` (``check_descent`` passed)."""
    own = memory.own if memory else None
    pending = memory.pending if memory else None
    if pending is not None and write == pending:
        own = pending
    elif lineage is not None and device_id is not None:
        # This device's last write as the history records it: this revision if it saved
        # it, else its entry (a pending write the server took though the answer was lost).
        if lineage.saved_by.id == device_id:
            own = _later(own, write)
        elif device_id in lineage.devices:
            own = _later(own, lineage.devices[device_id].write)
    if pending is not None and pending.revision <= write.revision:
        pending = None  # in this history, or another write took its revision: refused
    confirmed = memory is not None and (
        memory.confirmed or (write.revision > memory.head.revision and write != own)
    )
    return VaultMemory(
        format=max(version, memory.format if memory else version),
        head=write,
        head_by=lineage.saved_by.id if lineage else None,
        devices={d: e.write for d, e in lineage.devices.items()} if lineage else {},
        own=own,
        pending=pending,
        confirmed=confirmed,
    )


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _object(value: Any, keys: list[str]) -> dict[str, Any]:
    if not isinstance(value, dict) or sorted(value) != keys:
        raise LineageError(f"an object with exactly the keys {', '.join(keys)} was expected")
    return value


def _decimal(value: Any, *, minimum: int) -> int:
    if not isinstance(value, str) or not DECIMAL.fullmatch(value):
        raise LineageError("a number is written as a decimal string without leading zeros")
    number = int(value)
    if not minimum <= number <= REVISION_MAX:
        raise LineageError("a number is out of range")
    return number


def _write(doc: Any) -> Write:
    if not isinstance(doc, dict) or not isinstance(doc.get("digest"), str):
        raise LineageError("a write is {digest, rev}")
    if not DIGEST.fullmatch(doc["digest"]):
        raise LineageError("a digest is 64 lowercase hex digits")
    return Write(_decimal(doc.get("rev"), minimum=1), doc["digest"])


def _write_doc(write: Write) -> dict[str, str]:
    return {"digest": write.digest, "rev": str(write.revision)}


def _name(name: Any) -> str:
    return checked_name(name, LineageError, "a device")
