"""Vectors for format 2 (format.md §14 and §12.1's revocations): the lineage record's grammar,
what a writer writes next (the bound of 64 devices and of the record's size), the descent
check a client makes with what it remembers, the revoked record, and vaults of format 1 and
2 opened with and without a memory. Fields: tests/vectors/README.md."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from tests.vectors.checker import _descent, _lineage, _lineage_next
from tests.vectors.common import (
    ITEMS,
    LAPTOP,
    PASSPHRASE,
    SAVED_AT,
    Stream,
    b64,
    build_vault,
    create,
    raw_save,
    reopen,
    vault_vector,
)
from vault_core import Item
from vault_core.encoding import canonical_json
from vault_core.lineage import (
    LINEAGE_ITEM,
    AuditAnchor,
    Device,
    DeviceWrite,
    Lineage,
    VaultMemory,
    Write,
)

A, B, C, D = ("a" * 32, "b" * 32, "c" * 32, "d" * 32)  # device ids: this reader is A
AT = "2026-12-01T10:00:00Z"
AUDIT = {"head": "ab" * 32, "seq": "41"}


def _digest(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def _w(revision: int, label: str | None = None) -> Write:
    """A write: revision ``revision`` of the history ``label`` (default: the main one)."""
    return Write(revision, _digest(f"{label or 'main'} {revision}"))


def _wd(write: Write) -> dict[str, str]:
    return {"digest": write.digest, "rev": str(write.revision)}


def _record(
    parent: Any = None,
    devices: Any = None,
    floor: Any = "0",
    saved: Any = None,
    audit: Any = None,
    v: Any = "2",
) -> dict[str, Any]:
    """A lineage record as a JSON object (canonical_json writes it)."""
    return {
        "audit": audit,
        "devices": devices if devices is not None else {},
        "floor": floor,
        "parent": parent,
        "saved": saved if saved is not None else {"at": AT, "by": C, "name": "desktop"},
        "v": v,
    }


def _text(doc: Any) -> str:
    return canonical_json(doc).decode()


def _entry(write: Write, name: str = "phone") -> dict[str, str]:
    return {**_wd(write), "name": name}


def lineage_vectors() -> list[dict[str, Any]]:
    """§14.1: the record of revision ``revision``, accepted (its value) or ``lineage``."""
    full = _record(
        parent=_wd(_w(6)),
        devices={A: _entry(_w(3), "laptop ✓"), B: _entry(_w(6), "phone")},
        floor="1",
        audit=AUDIT,
    )

    def vector(name: str, description: str, secret: str, revision: int, expect: str) -> Any:
        out = {
            "kind": "lineage",
            "name": f"lineage-{name}",
            "description": description,
            "expect": expect,
            "secret": secret,
            "revision": revision,
        }
        if expect == "ok":
            out["value"] = _lineage(out)
        return out

    def bad(name: str, description: str, doc: Any, revision: int = 7) -> Any:
        secret = doc if isinstance(doc, str) else _text(doc)
        return vector(name, description, secret, revision, "lineage")

    def change(**fields: Any) -> dict[str, Any]:
        return {**full, **fields}

    many = {f"{i:032x}": _entry(_w(5), "d") for i in range(65)}
    return [
        vector("ok", "revision 7: parent 6, two devices, an audit anchor", _text(full), 7, "ok"),
        vector(
            "ok-first",
            "revision 1: no parent, no device, no audit anchor",
            _text(_record()),
            1,
            "ok",
        ),
        vector(
            "ok-64-devices",
            "64 devices, each last written at revision 5",
            _text(change(devices=dict(list(many.items())[:64]))),
            7,
            "ok",
        ),
        bad("65-devices", "65 devices", change(devices=many)),
        bad("not-canonical", "a space after a colon", _text(full).replace(":", ": ", 1)),
        bad("not-json", "not JSON", "{lineage"),
        bad("v-1", '"v": "1"', change(v="1")),
        bad("v-number", '"v": 2 (a number)', _text(full).replace('"v":"2"', '"v":2')),
        bad("extra-key", "a seventh top-level key", change(x=None)),
        bad("missing-audit", "no audit key", {k: v for k, v in full.items() if k != "audit"}),
        bad(
            "device-id-upper-case",
            "a device id in upper case",
            change(devices={A.upper(): _entry(_w(3))}),
        ),
        bad(
            "device-id-uuid",
            "a device id with hyphens",
            change(devices={str(uuid.UUID(A)): _entry(_w(3))}),
        ),
        bad(
            "digest-upper-case",
            "a digest in upper case",
            change(parent={"digest": _w(6).digest.upper(), "rev": "6"}),
        ),
        bad("digest-short", "a 63-digit digest", change(parent={"digest": "0" * 63, "rev": "6"})),
        bad(
            "rev-leading-zero",
            'a rev of "06"',
            change(parent={"digest": _w(6).digest, "rev": "06"}),
        ),
        bad("rev-zero", 'a device\'s rev "0"', change(devices={A: {**_entry(_w(3)), "rev": "0"}})),
        bad("rev-2-63", "a rev of 2^63", change(floor=str(2**63))),
        bad(
            "floor-number",
            "the floor as a JSON number",
            _text(full).replace('"floor":"1"', '"floor":1'),
        ),
        bad("name-empty", "an empty device name", change(devices={A: _entry(_w(3), "")})),
        bad(
            "name-129",
            "a device name of 129 characters",
            change(devices={A: _entry(_w(3), "é" * 129)}),
        ),
        vector(
            "name-128",
            "a device name of 128 characters",
            _text(change(devices={A: _entry(_w(3), "é" * 128)})),
            7,
            "ok",
        ),
        bad("name-control", "a tab in a device name", change(devices={A: _entry(_w(3), "a\tb")})),
        bad(
            "name-extra-field",
            "a device entry with a fourth key",
            change(devices={A: {**_entry(_w(3)), "x": ""}}),
        ),
        bad(
            "saved-at-offset",
            "saved.at with +00:00",
            change(saved={"at": "2026-12-01T10:00:00+00:00", "by": C, "name": "desktop"}),
        ),
        bad("saved-by-missing", "saved without by", change(saved={"at": AT, "name": "desktop"})),
        bad("audit-seq-zero", 'audit.seq "0"', change(audit={"head": AUDIT["head"], "seq": "0"})),
        bad(
            "audit-head-short",
            "audit.head of 62 digits",
            change(audit={"head": "ab" * 31, "seq": "1"}),
        ),
        bad(
            "parent-not-previous",
            "revision 7 naming revision 5 as its parent",
            change(parent=_wd(_w(5))),
        ),
        bad("parent-missing", "revision 7 with no parent", change(parent=None)),
        bad("parent-at-first", "revision 1 with a parent", change(), 1),
        bad(
            "device-at-revision",
            "a device's last write at revision 7 itself",
            change(devices={A: _entry(_w(7))}),
        ),
        bad("floor-at-revision", "the floor at revision 7 itself", change(floor="7")),
    ]


def lineage_next_vectors() -> list[dict[str, Any]]:
    """§14.1, "Writing": the record a save writes after a parent with a given record."""
    me = {"id": A, "name": "laptop"}

    def vector(
        name: str,
        description: str,
        previous: Lineage | None,
        parent: Write | None,
        audit: AuditAnchor | None = None,
    ) -> Any:
        out = {
            "kind": "lineage_next",
            "name": f"lineage-next-{name}",
            "description": description,
            "expect": "ok",
            "previous": None if previous is None else previous.dumps(),
            "parent": None if parent is None else {"digest": parent.digest, "rev": parent.revision},
            "device": me,
            "at": AT,
            "audit": None if audit is None else {"head": audit.head, "seq": audit.seq},
        }
        out["value"] = _lineage_next(out)
        return out

    phone = Device(B, "phone")
    desktop = Device(C, "desktop")
    at_5 = Lineage(_w(4), {B: DeviceWrite(_w(4), "phone")}, 0, AT, desktop)
    full = {f"{i:032x}": DeviceWrite(_w(10 + i), f"device {i}") for i in range(64)}
    at_80 = Lineage(_w(79), full, 3, AT, phone)
    long_names = {f"{i:032x}": DeviceWrite(_w(10 + i), "界" * 128) for i in range(30)}
    at_50 = Lineage(_w(49), long_names, 0, AT, phone)
    return [
        vector("first", "revision 1: no parent, nothing before", None, None),
        vector("upgrade", "the first format-2 save after format-1 revision 4", None, _w(4)),
        vector(
            "following",
            "after revision 5 saved by another device: its write joins the vector",
            at_5,
            _w(5),
            AuditAnchor(41, "ab" * 32),
        ),
        vector(
            "bound-64",
            "64 devices and the parent's saver a 65th: the oldest write leaves, the floor rises",
            at_80,
            _w(80),
        ),
        vector(
            "bound-size",
            "31 devices with 128-character names exceed 16,384 bytes: the oldest leave",
            at_50,
            _w(50),
        ),
        vector(
            "own-entry-kept",
            "this device's earlier write stays in the vector beside the parent's saver",
            Lineage(_w(6), {A: DeviceWrite(_w(3), "laptop")}, 0, AT, desktop),
            _w(7),
        ),
    ]


def _memory(**fields: Any) -> VaultMemory:
    base: dict[str, Any] = {
        "format": 2,
        "head": _w(5),
        "head_by": B,
        "devices": {C: _w(4)},
        "own": _w(3),
        "pending": None,
        "confirmed": True,
    }
    base.update(fields)
    return VaultMemory(**base)


def _lineage_of(
    parent: Write | None, devices: dict[str, Write], floor: int = 0, by: str = C
) -> str:
    return Lineage(
        parent,
        {d: DeviceWrite(w, "device") for d, w in devices.items()},
        floor,
        AT,
        Device(by, "device"),
    ).dumps()


def descent_vectors() -> list[dict[str, Any]]:
    """§14.2: a remembered state and a verified revision's facts: accepted (the memory after
    it is the value), or ``downgrade``, ``rollback``, ``fork``."""

    def vector(
        name: str,
        description: str,
        expect: str,
        memory: VaultMemory | None,
        write: Write,
        lineage: str | None,
        version: int = 2,
        device_id: str | None = A,
    ) -> Any:
        out = {
            "kind": "descent",
            "name": f"descent-{name}",
            "description": description,
            "expect": expect,
            "memory": None if memory is None else memory.to_json(),
            "version": version,
            "revision": write.revision,
            "digest": write.digest,
            "lineage": lineage,
            "device_id": device_id,
        }
        if expect == "ok":
            out["value"] = _descent(out)
        return out

    base = {A: _w(3), B: _w(5), C: _w(4)}
    return [
        vector(
            "ok-next",
            "revision 6 based on the head, every write kept",
            "ok",
            _memory(),
            _w(6),
            _lineage_of(_w(5), base),
        ),
        vector(
            "ok-same",
            "the head itself again",
            "ok",
            _memory(),
            _w(5),
            _lineage_of(_w(4), {A: _w(3), C: _w(4)}, by=B),
        ),
        vector(
            "ok-later",
            "revision 9: not the next, but every write seen is there or later",
            "ok",
            _memory(),
            _w(9),
            _lineage_of(_w(8), {A: _w(3), B: _w(7), C: _w(8)}, by=D),
        ),
        vector(
            "same-revision-other-content",
            "revision 5 again, with another digest than the head",
            "fork",
            _memory(),
            _w(5, "other"),
            _lineage_of(_w(4), {A: _w(3), C: _w(4)}, by=B),
        ),
        vector(
            "not-based-on-head",
            "revision 6 whose parent is another revision 5",
            "fork",
            _memory(),
            _w(6, "other"),
            _lineage_of(_w(5, "other"), base),
        ),
        vector(
            "rollback",
            "revision 4 after the head, revision 5",
            "rollback",
            _memory(),
            _w(4),
            _lineage_of(_w(3), {A: _w(3)}, by=C),
        ),
        vector(
            "own-write-missing",
            "revision 9 whose vector has this device's write at revision 2, not its 3",
            "fork",
            _memory(),
            _w(9),
            _lineage_of(_w(8), {A: _w(2), B: _w(7), C: _w(8)}, by=D),
        ),
        vector(
            "own-write-other-content",
            "this device's write at revision 3 with another digest",
            "fork",
            _memory(),
            _w(9),
            _lineage_of(_w(8), {A: _w(3, "other"), B: _w(7), C: _w(8)}, by=D),
        ),
        vector(
            "own-write-absent",
            "no entry for this device and a floor below its write",
            "fork",
            _memory(),
            _w(9),
            _lineage_of(_w(8), {B: _w(7), C: _w(8)}, floor=2, by=D),
        ),
        vector(
            "own-pending-lost-answer-accepted",
            "this device sent revision 6 and lost the answer; revision 8 records it",
            "ok",
            _memory(pending=_w(6)),
            _w(8),
            _lineage_of(_w(7), {A: _w(6), B: _w(5), C: _w(7)}, by=D),
        ),
        vector(
            "own-pending-refused",
            "this device sent a revision 6 the server refused; revision 8 has another 6",
            "ok",
            _memory(pending=_w(6, "mine")),
            _w(8),
            _lineage_of(_w(7), {A: _w(3), B: _w(6), C: _w(7)}, by=D),
        ),
        vector(
            "own-pending-came-back",
            "the revision 6 this device sent, fetched back",
            "ok",
            _memory(pending=_w(6)),
            _w(6),
            _lineage_of(_w(5), base, by=A),
        ),
        vector(
            "own-stacked-write",
            "revision 7 by this device (a second save stacked on a first it sent)",
            "ok",
            _memory(pending=_w(7)),
            _w(7, "stacked"),
            _lineage_of(_w(6), {A: _w(6), B: _w(5), C: _w(4)}, by=A),
        ),
        vector(
            "seen-device-regressed",
            "device C's last write at revision 2, after this device saw it at 4",
            "fork",
            _memory(),
            _w(9),
            _lineage_of(_w(8), {A: _w(3), B: _w(7), C: _w(2)}, by=D),
        ),
        vector(
            "seen-device-other-content",
            "device C's write at revision 4 with another digest",
            "fork",
            _memory(),
            _w(9),
            _lineage_of(_w(8), {A: _w(3), B: _w(7), C: _w(4, "other")}, by=D),
        ),
        vector(
            "head-saver-missing",
            "the head's saver B absent from revision 9's vector, floor 0",
            "fork",
            _memory(),
            _w(9),
            _lineage_of(_w(8), {A: _w(3), C: _w(8)}, by=D),
        ),
        vector(
            "floor-pruned",
            "devices A, B and C absent, the floor at 5: they may have been pruned",
            "ok",
            _memory(),
            _w(90),
            _lineage_of(_w(89), {D: _w(88)}, floor=5, by=D),
        ),
        vector(
            "floor-below",
            "devices A, B and C absent, the floor at 4: B's write at 5 is missing",
            "fork",
            _memory(),
            _w(90),
            _lineage_of(_w(89), {D: _w(88)}, floor=4, by=D),
        ),
        vector(
            "downgrade",
            "a format-1 revision 6 after format 2 was seen",
            "downgrade",
            _memory(),
            _w(6),
            None,
            version=1,
        ),
        vector(
            "order-downgrade-before-rollback",
            "a format-1 revision 4 after format-2 revision 5",
            "downgrade",
            _memory(),
            _w(4),
            None,
            version=1,
        ),
        vector(
            "format-1-memory-upgrade",
            "a device that saw format-1 revision 5 meets the format-2 revision 6 based on it",
            "ok",
            _memory(format=1, head_by=None, devices={}, own=None),
            _w(6),
            _lineage_of(_w(5), {}),
        ),
        vector(
            "format-1-memory-upgrade-elsewhere",
            "a format-2 revision 6 based on another revision 5 than the format-1 one seen",
            "fork",
            _memory(format=1, head_by=None, devices={}, own=None),
            _w(6),
            _lineage_of(_w(5, "other"), {}),
        ),
        vector(
            "format-1-after-format-1",
            "format 1 with a format-1 memory: only the revision number is checked",
            "ok",
            _memory(format=1, head_by=None, devices={}, own=None),
            _w(8, "any"),
            None,
            version=1,
        ),
        vector(
            "no-memory",
            "a device new to the vault: accepted, and remembered unconfirmed",
            "ok",
            None,
            _w(9),
            _lineage_of(_w(8), base, by=D),
        ),
        vector(
            "unconfirmed-then-later",
            "an unconfirmed device sees a later revision by another device: now confirmed",
            "ok",
            _memory(confirmed=False, own=None),
            _w(6),
            _lineage_of(_w(5), {B: _w(5), C: _w(4)}),
        ),
        vector(
            "unconfirmed-own-write",
            "an unconfirmed device's own write back: still unconfirmed",
            "ok",
            _memory(confirmed=False, own=None, pending=_w(6)),
            _w(6),
            _lineage_of(_w(5), {B: _w(5), C: _w(4)}, by=A),
        ),
        vector(
            "no-device-id",
            "a reader that keeps no device id: its own write is not checked",
            "ok",
            _memory(),
            _w(9),
            _lineage_of(_w(8), {B: _w(7), C: _w(8)}, by=D),
            device_id=None,
        ),
    ]


def revoked_vectors() -> list[dict[str, Any]]:
    """§12.1 ``.zkvault-revoked``: its grammar (``pin`` when damaged) and the refusal of a
    revoked id or key (``key_revoked``)."""
    rid = "0d5e8a80-9f0e-4a0b-9c7e-3c1f5e2b7d44"
    other = "6f1d1c52-3d6e-4c55-9a55-0b8f1f0f4a11"
    key = bytes(range(32))
    key_text = b64(key).replace("+", "-").replace("/", "_").rstrip("=")
    entry = {"at": AT, "key": key_text, "kind": "runner", "name": "ci-1 ✓"}

    def doc(devices: Any, v: Any = "1") -> str:
        return canonical_json({"devices": devices, "v": v}).decode()

    def vector(name: str, description: str, secret: str, expect: str, **check: Any) -> Any:
        out = {
            "kind": "revoked",
            "name": f"revoked-{name}",
            "description": description,
            "expect": expect,
            "secret": secret,
            **check,
        }
        if expect == "ok":
            out["value"] = {
                d: {**e, "key": bytes(range(32)).hex()} for d, e in sorted(_devices(secret).items())
            }
        return out

    def _devices(secret: str) -> dict[str, Any]:
        import json

        devices: dict[str, Any] = json.loads(secret)["devices"]
        return devices

    def bad(name: str, description: str, secret: str) -> Any:
        return vector(name, description, secret, "pin")

    good = doc({rid: entry})
    return [
        vector("ok", "one runner revoked", good, "ok"),
        vector("ok-empty", "nothing revoked", doc({}), "ok"),
        vector(
            "ok-other-id-other-key",
            "checking another id and key: allowed",
            good,
            "ok",
            check_id=other,
            check_key=bytes(range(1, 33)).hex(),
        ),
        vector(
            "id",
            "checking the revoked id (with a new key)",
            good,
            "key_revoked",
            check_id=rid,
            check_key=bytes(range(1, 33)).hex(),
        ),
        vector(
            "key",
            "checking the revoked key under a new id",
            good,
            "key_revoked",
            check_id=other,
            check_key=key.hex(),
        ),
        vector(
            "key-only",
            "checking the revoked key with no id",
            good,
            "key_revoked",
            check_id=None,
            check_key=key.hex(),
        ),
        bad("v-2", '"v": "2"', doc({rid: entry}, "2")),
        bad("not-canonical", "a space after a colon", good.replace(":", ": ", 1)),
        bad("kind-other", 'kind "laptop"', doc({rid: {**entry, "kind": "laptop"}})),
        bad("id-upper-case", "the id in upper case", doc({rid.upper(): entry})),
        bad(
            "key-short",
            "a 31-byte key",
            doc(
                {
                    rid: {
                        **entry,
                        "key": b64(key[:31]).replace("+", "-").replace("/", "_").rstrip("="),
                    }
                }
            ),
        ),
        bad("key-padded", "a key with = padding", doc({rid: {**entry, "key": key_text + "="}})),
        bad("at-date-only", "at without the time", doc({rid: {**entry, "at": "2026-12-01"}})),
        bad("name-empty", "an empty name", doc({rid: {**entry, "name": ""}})),
        bad("name-control", "a newline in the name", doc({rid: {**entry, "name": "a\nb"}})),
        bad("extra-field", "a fifth key in an entry", doc({rid: {**entry, "why": "lost"}})),
        bad(
            "65-entries",
            "65 revocations",
            doc({str(uuid.UUID(int=i, version=4)): entry for i in range(65)}),
        ),
    ]


def _memory_of(vault_memory: VaultMemory | None) -> VaultMemory:
    assert vault_memory is not None
    return vault_memory


def format_vectors() -> list[dict[str, Any]]:
    """Vaults of format 1 (as a format-1 client wrote them) and 2, with and without a
    memory (format.md §6.1 steps 9 and 16-17, §14)."""
    out = []
    v1_vault, v1 = build_vault(b"main", version=1)
    out.append(
        vault_vector(
            "ok-format-1",
            "three items as a format-1 client wrote them (no lineage, ITEM_AD version 1):"
            " byte for byte the format-1 ok-three-items vector",
            v1,
            "ok",
            vault=reopen(v1),
        )
    )
    stream = Stream(b"format-1-upgrade")
    v1_vault._random_bytes = stream
    upgraded = v1_vault.save()
    out.append(
        vault_vector(
            "ok-format-1-upgraded",
            "the format-1 vault saved once by a format-2 client: every record resealed",
            upgraded,
            "ok",
            vault=reopen(upgraded),
        )
    )
    v1_memory = _memory_of(reopen(v1).memory)
    out.append(
        vault_vector(
            "ok-format-1-memory-meets-upgrade",
            "a device that saw the format-1 revision 1 opens the upgraded revision 2",
            upgraded,
            "ok",
            vault=reopen(upgraded),
            memory=v1_memory,
            device_id=B,
        )
    )
    after = reopen(upgraded).memory
    out.append(
        vault_vector(
            "downgrade-format-1",
            "the format-1 revision 1 after the format-2 revision 2 was seen",
            v1,
            "downgrade",
            memory=after,
            device_id=B,
        )
    )
    # A format-1 revision 2 (a format-1 client's second save) after a format-2 revision 1
    # was seen: downgrade alone.
    v1b_vault, _ = build_vault(b"main", version=1)
    v1b_vault.add(Item(name="later", kind="generic", url="", secret="x"))
    v1_second = raw_save(v1b_vault, 1)
    out.append(
        vault_vector(
            "downgrade-format-1-later",
            "a format-1 revision 2, after format 2 was seen at revision 1",
            v1_second,
            "downgrade",
            memory=VaultMemory(format=2, head=Write(1, _digest("any")), confirmed=True),
        )
    )
    out.append(
        vault_vector(
            "order-downgrade-before-wrong-passphrase",
            "a format-1 vault after format 2 was seen, and a wrong passphrase",
            v1,
            "downgrade",
            passphrase=PASSPHRASE + "!",
            memory=after,
        )
    )

    # Format 2 with a memory: same number, other content; a successor; a stale memory.
    main, r1 = build_vault(b"descent")
    r1_memory = _memory_of(reopen(r1).memory)
    main.add(Item(name="second save", kind="generic", url="", secret="y"))
    r2 = main.save()
    out.append(
        vault_vector(
            "ok-descends",
            "revision 2, by the device that saved revision 1, opened by one that saw 1",
            r2,
            "ok",
            vault=reopen(r2),
            memory=r1_memory,
            device_id=B,
        )
    )
    _, fork_r1 = build_vault(b"descent", items=ITEMS[:1])
    out.append(
        vault_vector(
            "fork-same-revision",
            "a revision 1 of this vault with other content than the one this device saw",
            fork_r1,
            "fork",
            memory=r1_memory,
            device_id=B,
        )
    )
    own = VaultMemory(
        format=2,
        head=Write(1, _digest("r1")),
        head_by=A,
        own=Write(1, _digest("r1")),
        confirmed=True,
    )
    out.append(
        vault_vector(
            "fork-not-based-on-head",
            "revision 2 not based on the revision 1 this device (A) saved",
            r2,
            "fork",
            memory=own,
            device_id=A,
        )
    )

    # Lineage faults, each written by a key holder that skipped or botched §6.2's step.
    missing_vault = create(stream=Stream(b"lineage-missing"))
    missing_vault.add(ITEMS[0])
    out.append(
        vault_vector(
            "lineage-missing",
            "a format-2 vault with no lineage record",
            raw_save(missing_vault, 2),
            "lineage",
        )
    )
    stale_vault, _ = build_vault(b"lineage-stale")
    stale_vault.add(Item(name="second save", kind="generic", url="", secret="y"))
    out.append(
        vault_vector(
            "lineage-stale",
            "revision 2 carrying revision 1's lineage record (item_rev 1)",
            raw_save(stale_vault, 2),
            "lineage",
        )
    )
    for name, description, secret in [
        ("lineage-damaged", "a lineage record that is not its grammar", '{"v":"2"}'),
        (
            "lineage-wrong-parent",
            "revision 1's lineage names a parent",
            Lineage(_w(1), {}, 0, SAVED_AT, LAPTOP).dumps(),
        ),
    ]:
        vault = create(stream=Stream(name.encode()))
        vault.add(ITEMS[0])
        vault._put_bookkeeping(LINEAGE_ITEM, secret)
        out.append(vault_vector(name, description, raw_save(vault, 2), "lineage"))
    bad_item = create(stream=Stream(b"order-items-before-lineage"))
    bad_item.add(ITEMS[0])
    bad_item._put_bookkeeping(LINEAGE_ITEM, "{}")
    blob = raw_save(bad_item, 2)
    out.append(
        vault_vector(
            "order-lineage-before-descent",
            "a damaged lineage record, in a revision 1 other than the revision 1 seen",
            blob,
            "lineage",
            memory=VaultMemory(format=2, head=Write(1, _digest("other")), confirmed=True),
        )
    )
    return out
