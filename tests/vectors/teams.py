"""Vectors for teams (format.md §15): identities, membership logs, team key boxes and team
vaults, genuine and altered. Every key derives from fixed seeds and every draw from the
seeded stream, so the files are reproducible."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from tests.vectors.common import Stream
from vault_core import Item
from vault_core.audit_chain import AuditAnchor
from vault_core.b64url import b64url_decode, b64url_encode
from vault_core.bookkeeping import AUDIT_ANCHOR_ITEM, bookkeeping_item
from vault_core.encoding import canonical_json
from vault_core.fingerprints import fingerprint
from vault_core.teams import (
    IdentityKeys,
    TeamState,
    TeamVault,
    add_entry,
    apply,
    create_entry,
    leave_entry,
    parse_entry,
    remove_entry,
    role_entry,
    rotate_entry,
    seal_team_key,
    sign_entry,
)
from vault_core.teams.teamvault import _Stored
from vault_core.teams.tvformat import TEAM_HEADER_BYTES

AT = 1_796_000_000  # every entry's clock (informational)


def _person(n: int) -> IdentityKeys:
    return IdentityKeys(uuid.UUID(int=0xA0 + n), hashlib.sha256(b"identity %d" % n).digest())


OWNER, ADMIN, WRITER, READER, OUTSIDER = (_person(n) for n in range(5))
EMAILS = {
    OWNER: "owner@example.com",
    ADMIN: "admin@example.com",
    WRITER: "writer@example.com",
    READER: "reader@example.com",
    OUTSIDER: "outsider@example.com",
}
ITEMS = [
    Item(name="ci", kind="github", url="https://github.com", secret="ghp_" + "T3amT0k3n" * 4),
    Item(name="deploy", kind="generic", url="", secret="s3cret deploy value"),
]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _seed(keys: IdentityKeys) -> dict[str, str]:
    return {"account_id": keys.account_id.hex, "seed": keys.seed_bytes().hex()}


# --- identities ---------------------------------------------------------------------------


def identity_vectors() -> list[dict[str, Any]]:
    keys = OWNER
    bundle = keys.bundle()
    value = {
        "account_id": keys.account_id.hex,
        "sign_key": keys.sign_key.hex(),
        "box_key": keys.box_key.hex(),
        "safety_number": keys.safety_number,
    }
    vectors: list[dict[str, Any]] = [
        {
            "kind": "identity",
            "name": "identity-ok",
            "description": "an identity bundle and the seed it derives from",
            "expect": "ok",
            "bundle": bundle.hex(),
            "account_id": keys.account_id.hex,
            "seed": keys.seed_bytes().hex(),
            "value": value,
        },
        {
            "kind": "fingerprint",
            "name": "fingerprint-identity",
            "description": "an identity: account id, sign key and box key, 80 bytes",
            "expect": "ok",
            "key_type": "identity",
            "key": (keys.account_id.bytes + keys.sign_key + keys.box_key).hex(),
            "value": fingerprint("identity", keys.account_id.bytes + keys.sign_key + keys.box_key),
        },
    ]
    swapped = bytearray(bundle)
    swapped[54:86] = ADMIN.box_key

    def fail(name: str, description: str, data: bytes, expect: str, account: str | None) -> None:
        vectors.append(
            {
                "kind": "identity",
                "name": name,
                "description": description,
                "expect": expect,
                "bundle": data.hex(),
                "account_id": account,
            }
        )

    me = keys.account_id.hex
    fail(
        "identity-box-key-substituted",
        "another box key under the owner's signature",
        bytes(swapped),
        "identity_auth",
        me,
    )
    fail(
        "identity-other-account",
        "a genuine bundle, asked for as another account's",
        bundle,
        "identity_binding",
        ADMIN.account_id.hex,
    )
    fail("identity-truncated", "the last byte cut", bundle[:-1], "malformed", None)
    fail("identity-trailing-byte", "one byte appended", bundle + b"\0", "malformed", None)
    fail("identity-magic", "magic ZKIE", b"ZKIE" + bundle[4:], "malformed", None)
    fail(
        "identity-version-2",
        "version 2",
        bundle[:4] + b"\0\2" + bundle[6:],
        "unsupported_version",
        None,
    )
    fail(
        "identity-order-version-before-length",
        "version 2 and truncated",
        bundle[:4] + b"\0\2" + bundle[6:-1],
        "unsupported_version",
        None,
    )
    return vectors


# --- the membership log -------------------------------------------------------------------


class _Log:
    """A genuine log: owner creates, adds admin, writer, reader (seq 1-4)."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        raw, self.key = create_entry(
            OWNER,
            EMAILS[OWNER],
            "Platform",
            team_id=uuid.UUID(int=0x7EA),
            at=AT,
            random_bytes=stream,
        )
        self.entries = [raw]
        self.states = [apply(None, parse_entry(raw))]
        for keys, role, verified in (
            (ADMIN, "admin", "fingerprint"),
            (WRITER, "writer", "tofu"),
            (READER, "reader", "fingerprint"),
        ):
            self.append(
                add_entry(
                    OWNER,
                    self.state,
                    keys.identity(),
                    EMAILS[keys],
                    role,
                    verified,
                    self.key,
                    at=AT,
                    random_bytes=stream,
                )
            )

    @property
    def state(self) -> TeamState:
        return self.states[-1]

    def append(self, raw: bytes) -> None:
        self.states.append(apply(self.state, parse_entry(raw)))
        self.entries.append(raw)


def state_value(state: TeamState) -> dict[str, Any]:
    """What a reader must find after replaying a log (README: `team_log`)."""
    return {
        "team": state.team_id,
        "name": state.name,
        "seq": str(state.seq),
        "head": state.head.hex(),
        "epoch": str(state.epoch),
        "key_check": state.key_check.hex(),
        "left": sorted(state.left_since_rotation),
        "members": {
            a: {
                "email": m.email,
                "role": m.role,
                "verified": m.verified,
                "sign_key": m.sign_key.hex(),
                "box_key": m.box_key.hex(),
            }
            for a, m in sorted(state.members.items())
        },
    }


def _resign(keys: IdentityKeys, raw: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    body = json.loads(raw)["body"]
    change(body)
    return sign_entry(keys, body)


def _rewrap(raw: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    """The same signature over a changed body (or a changed outer object)."""
    outer = json.loads(raw)
    change(outer)
    return canonical_json(outer)


def team_log_vectors() -> list[dict[str, Any]]:
    log = _Log(Stream(b"team log"))
    entries, state = log.entries, log.state
    vectors: list[dict[str, Any]] = []

    def vector(
        name: str, description: str, raws: list[bytes], expect: str, value: Any = None
    ) -> None:
        v: dict[str, Any] = {
            "kind": "team_log",
            "name": name,
            "description": description,
            "expect": expect,
            "entries": [b64(r) for r in raws],
        }
        if expect == "ok":
            v["value"] = value
        vectors.append(v)

    vector(
        "team-log-ok",
        "create, then add an admin, a writer and a reader",
        entries,
        "ok",
        state_value(state),
    )
    removal, _ = remove_entry(ADMIN, state, WRITER.account_id.hex, at=AT, random_bytes=log.stream)
    after = apply(state, parse_entry(removal))
    vector(
        "team-log-ok-remove",
        "the admin removes the writer: epoch 2, boxes for the rest",
        [*entries, removal],
        "ok",
        state_value(after),
    )
    left = leave_entry(READER, state, at=AT)
    after_leave = apply(state, parse_entry(left))
    rotate, _ = rotate_entry(ADMIN, after_leave, at=AT, random_bytes=log.stream)
    vector(
        "team-log-ok-leave",
        "the reader leaves: no new epoch, listed as left",
        [*entries, left],
        "ok",
        state_value(after_leave),
    )
    vector(
        "team-log-ok-leave-rotate",
        "the reader leaves, the admin rotates",
        [*entries, left, rotate],
        "ok",
        state_value(apply(after_leave, parse_entry(rotate))),
    )

    promote = role_entry(OWNER, state, READER.account_id.hex, "writer", at=AT)
    sig = bytearray(b64url_decode(json.loads(promote)["sig"]))
    sig[0] ^= 1
    vector(
        "team-log-forged-signature",
        "a role entry with one signature bit flipped",
        [*entries, _rewrap(promote, lambda o: o.update(sig=b64url_encode(bytes(sig))))],
        "team_log_signature",
    )
    server = IdentityKeys(OWNER.account_id, bytes(32))
    vector(
        "team-log-signed-by-unrecorded-key",
        "by the owner's id, signed by another key",
        [*entries, role_entry(server, state, READER.account_id.hex, "admin", at=AT)],
        "team_log_signature",
    )
    vector(
        "team-log-dropped-entry", "entry 3 of 4 dropped", entries[:2] + entries[3:], "team_log_gap"
    )
    vector("team-log-replayed-entry", "entry 4 sent twice", [*entries, entries[3]], "team_log_gap")
    vector("team-log-starts-late", "the log begins at entry 2 (an add)", entries[1:], "team_log")
    vector(
        "team-log-fork",
        "entry 5 names another entry 4 as prev (signed by the owner)",
        [*entries, _resign(OWNER, promote, lambda b: b.update(prev="00" * 32))],
        "team_log_fork",
    )
    vector(
        "team-log-reader-signs",
        "the reader promotes itself",
        [*entries, role_entry(READER, state, READER.account_id.hex, "admin", at=AT)],
        "team_permission",
    )
    vector(
        "team-log-writer-adds",
        "the writer adds an outsider",
        [
            *entries,
            add_entry(
                WRITER,
                state,
                OUTSIDER.identity(),
                EMAILS[OUTSIDER],
                "reader",
                "tofu",
                log.key,
                at=AT,
                random_bytes=log.stream,
            ),
        ],
        "team_permission",
    )
    demote = role_entry(OWNER, state, ADMIN.account_id.hex, "reader", at=AT)
    after_demote = apply(state, parse_entry(demote))
    vector(
        "team-log-ex-admin-signs",
        "the admin, demoted to reader, then adds an outsider",
        [
            *entries,
            demote,
            add_entry(
                ADMIN,
                after_demote,
                OUTSIDER.identity(),
                EMAILS[OUTSIDER],
                "reader",
                "tofu",
                log.key,
                at=AT,
                random_bytes=log.stream,
            ),
        ],
        "team_permission",
    )
    vector(
        "team-log-admin-raises-to-owner",
        "the admin raises the writer to owner",
        [*entries, role_entry(ADMIN, state, WRITER.account_id.hex, "owner", at=AT)],
        "team_permission",
    )
    vector(
        "team-log-admin-removes-owner",
        "the admin removes the owner",
        [
            *entries,
            remove_entry(ADMIN, state, OWNER.account_id.hex, at=AT, random_bytes=log.stream)[0],
        ],
        "team_permission",
    )
    vector(
        "team-log-last-owner-leaves",
        "the only owner leaves",
        [*entries, leave_entry(OWNER, state, at=AT)],
        "team_permission",
    )
    readd = add_entry(
        WRITER,
        after,
        WRITER.identity(),
        EMAILS[WRITER],
        "writer",
        "tofu",
        log.key,
        at=AT,
        random_bytes=log.stream,
    )
    vector(
        "team-log-removed-member-readds-itself",
        "removed, then an add signed by itself",
        [*entries, removal, readd],
        "team_permission",
    )
    rot, _ = rotate_entry(OWNER, state, at=AT, random_bytes=log.stream)
    vector(
        "team-log-epoch-without-every-box",
        "a rotate without the reader's box",
        [*entries, _resign(OWNER, rot, lambda b: b["boxes"].pop(READER.account_id.hex))],
        "team_log",
    )
    vector(
        "team-log-skipped-epoch",
        "a rotate to epoch 3 from epoch 1",
        [*entries, _resign(OWNER, rot, lambda b: b.update(epoch="3"))],
        "team_log",
    )
    vector(
        "team-log-member-added-twice",
        "the owner adds the reader again",
        [
            *entries,
            add_entry(
                OWNER,
                state,
                READER.identity(),
                EMAILS[READER],
                "writer",
                "tofu",
                log.key,
                at=AT,
                random_bytes=log.stream,
            ),
        ],
        "team_log",
    )
    vector(
        "team-log-other-team",
        "an entry naming another team",
        [*entries, _resign(OWNER, promote, lambda b: b.update(team="ab" * 16))],
        "team_log",
    )

    def substitute(body: dict[str, Any]) -> None:
        bundle = bytearray(b64url_decode(body["member"]["identity"]))
        bundle[54:86] = OUTSIDER.box_key
        body["member"]["identity"] = b64url_encode(bytes(bundle))

    vector(
        "team-log-substituted-identity",
        "an add whose identity carries another box key",
        [*entries[:3], _resign(OWNER, entries[3], substitute)],
        "identity_auth",
    )
    vector(
        "team-log-seq-number",
        "seq written as a JSON number",
        [*entries[:3], entries[3].replace(b'"seq":"4"', b'"seq":4')],
        "non_canonical",
    )
    vector(
        "team-log-seq-leading-zero",
        'seq written as "04"',
        [*entries[:3], entries[3].replace(b'"seq":"4"', b'"seq":"04"')],
        "malformed",
    )
    vector(
        "team-log-version-2",
        'v is "2"',
        [*entries[:3], entries[3].replace(b'"v":"1"', b'"v":"2"')],
        "unsupported_version",
    )
    vector(
        "team-log-unknown-op",
        "op promote",
        [*entries, promote.replace(b'"op":"role"', b'"op":"promote"')],
        "malformed",
    )
    vector(
        "team-log-extra-field",
        "a body with one more key",
        [*entries, _resign(OWNER, promote, lambda b: b.update(why="x"))],
        "malformed",
    )
    vector(
        "team-log-spaced",
        "a space after the first brace",
        [*entries[:3], b"{ " + entries[3][1:]],
        "non_canonical",
    )
    vector(
        "team-log-oversized",
        "an entry of 262,145 bytes",
        [*entries, promote + b" " * (262_145 - len(promote))],
        "limit_exceeded",
    )
    vector(
        "team-log-order-gap-before-signature",
        "a dropped entry and a flipped signature",
        [*entries[:2], _rewrap(promote, lambda o: o.update(sig=b64url_encode(bytes(sig))))],
        "team_log_gap",
    )
    vector(
        "team-log-order-signature-before-permission",
        "the reader promotes itself, signed by another key",
        [
            *entries,
            role_entry(
                IdentityKeys(READER.account_id, bytes(32)),
                state,
                READER.account_id.hex,
                "admin",
                at=AT,
            ),
        ],
        "team_log_signature",
    )
    return vectors


# --- key boxes ----------------------------------------------------------------------------


def team_key_box_vectors() -> list[dict[str, Any]]:
    stream = Stream(b"team key box")
    team = uuid.UUID(int=0x7EA)
    team_key = stream(32)
    check = _key_check(team_key, team, 1)
    vectors: list[dict[str, Any]] = []

    def vector(name: str, description: str, box: bytes, expect: str) -> None:
        v: dict[str, Any] = {
            "kind": "team_key_box",
            "name": name,
            "description": description,
            "expect": expect,
            "box": b64(box),
            **_seed(READER),
            "team_id": team.hex,
            "epoch": "1",
            "key_check": check.hex(),
        }
        if expect == "ok":
            v["value"] = team_key.hex()
        vectors.append(v)

    def box(
        key: bytes, epoch: int, member: IdentityKeys, to: IdentityKeys, the_team: uuid.UUID = team
    ) -> bytes:
        return seal_team_key(key, the_team, epoch, member.account_id, to.box_key, stream)

    vector(
        "team-key-box-ok",
        "the epoch-1 key sealed to the reader",
        box(team_key, 1, READER, READER),
        "ok",
    )
    vector(
        "team-key-box-other-member",
        "sealed to the writer's key",
        box(team_key, 1, WRITER, WRITER),
        "team_key",
    )
    vector(
        "team-key-box-names-other-member",
        "sealed to the reader, naming the writer",
        box(team_key, 1, WRITER, READER),
        "team_key",
    )
    vector(
        "team-key-box-other-epoch",
        "sealed to the reader for epoch 2",
        box(team_key, 2, READER, READER),
        "team_key",
    )
    vector(
        "team-key-box-other-team",
        "sealed to the reader for another team",
        box(team_key, 1, READER, READER, uuid.UUID(int=0x7EB)),
        "team_key",
    )
    vector(
        "team-key-box-other-key",
        "another key, sealed correctly to the reader",
        box(stream(32), 1, READER, READER),
        "team_key_check",
    )
    good = box(team_key, 1, READER, READER)
    vector(
        "team-key-box-flipped",
        "one ciphertext byte flipped",
        good[:60] + bytes([good[60] ^ 1]) + good[61:],
        "team_key",
    )
    vector("team-key-box-short", "the first 47 bytes", good[:47], "team_key")
    return vectors


def _key_check(team_key: bytes, team: uuid.UUID, epoch: int) -> bytes:
    from vault_core.teams import key_check

    return key_check(team_key, team, epoch)


# --- team vaults --------------------------------------------------------------------------


def team_vault_vectors() -> list[dict[str, Any]]:
    stream = Stream(b"team vault")
    log = _Log(stream)
    state = log.state
    vault = TeamVault(uuid.UUID(hex=state.team_id), log.key, 1)
    for item in ITEMS:
        vault.add(item, random_bytes=stream)
    blob = vault.save(WRITER, state, random_bytes=stream)
    vectors: list[dict[str, Any]] = []

    def vector(
        name: str,
        description: str,
        data: bytes,
        expect: str,
        *,
        entries: list[bytes] | None = None,
        reader: IdentityKeys = READER,
        memory: dict[str, str] | None = None,
        opened: TeamVault | None = None,
    ) -> None:
        v: dict[str, Any] = {
            "kind": "team_vault",
            "name": name,
            "description": description,
            "expect": expect,
            "blob": b64(data),
            "entries": [b64(r) for r in (log.entries if entries is None else entries)],
            **_seed(reader),
            "memory": memory,
        }
        if expect == "ok":
            assert opened is not None
            v["value"] = _vault_value(data, opened)
        vectors.append(v)

    vector("team-vault-ok", "two items, written by the writer at seq 4", blob, "ok", opened=vault)
    spans = _spans(blob, 2)
    mac_at = TEAM_HEADER_BYTES + 2 * 56
    sig_at = mac_at + 32

    def flipped(at: int) -> bytes:
        return blob[:at] + bytes([blob[at] ^ 1]) + blob[at + 1 :]

    vector(
        "team-vault-flipped-signature",
        "one signature bit flipped",
        flipped(sig_at),
        "team_vault_signature",
    )
    vector(
        "team-vault-flipped-mac",
        "one header MAC bit flipped (the signature covers it)",
        flipped(mac_at),
        "team_vault_signature",
    )
    other_key = TeamVault(uuid.UUID(hex=state.team_id), stream(32), 1)
    other_key.add(ITEMS[0], random_bytes=stream)
    vector(
        "team-vault-other-key",
        "signed by the writer, MAC and items under another key",
        other_key.save(WRITER, state, random_bytes=stream),
        "header_auth",
    )
    vector(
        "team-vault-flipped-record",
        "one ciphertext bit of the second record",
        flipped(spans[1] - 1),
        "body_auth",
    )
    vector(
        "team-vault-writer-is-reader",
        "the header names the reader as writer",
        blob[:46] + READER.account_id.bytes + blob[62:],
        "team_permission",
    )
    vector(
        "team-vault-writer-outsider",
        "the header names an outsider as writer",
        blob[:46] + OUTSIDER.account_id.bytes + blob[62:],
        "team_permission",
    )
    vector(
        "team-vault-log-ahead",
        "written at log seq 5 of a 4-entry log",
        blob[:38] + (5).to_bytes(8, "big") + blob[46:],
        "team_log_gap",
    )
    vector(
        "team-vault-other-log-head",
        "log_head of another history",
        blob[:62] + bytes(32) + blob[94:],
        "team_log_fork",
    )
    vector(
        "team-vault-other-team",
        "another team id",
        blob[:6] + uuid.UUID(int=0x7EB).bytes + blob[22:],
        "wrong_vault",
    )
    vector("team-vault-magic", "magic ZKVT (a personal vault's)", b"ZKVT" + blob[4:], "malformed")
    vector(
        "team-vault-version-2", "version 2", blob[:4] + b"\0\2" + blob[6:], "unsupported_version"
    )
    vector("team-vault-truncated", "the last byte cut", blob[:-1], "malformed")
    vector("team-vault-revision-zero", "revision 0", blob[:22] + bytes(8) + blob[30:], "malformed")
    vector(
        "team-vault-too-many-items",
        "item_count 1,001",
        blob[:94] + (1001).to_bytes(4, "big") + blob[98:],
        "limit_exceeded",
    )
    vector(
        "team-vault-oversized",
        "1,048,577 bytes",
        blob + bytes(1_048_577 - len(blob)),
        "limit_exceeded",
    )
    digest = hashlib.sha256(blob).hexdigest()
    head = state.head.hex()
    vector(
        "team-vault-rollback",
        "the client remembers revision 2",
        blob,
        "rollback",
        memory=_memory(state.team_id, 4, head, 2, "00" * 32),
    )
    vector(
        "team-vault-fork",
        "the client remembers another blob at revision 1",
        blob,
        "fork",
        memory=_memory(state.team_id, 4, head, 1, "00" * 32),
    )
    vector(
        "team-vault-ok-remembered",
        "the client remembers this very revision",
        blob,
        "ok",
        memory=_memory(state.team_id, 4, head, 1, digest),
        opened=vault,
    )
    vector(
        "team-vault-log-rollback",
        "the client remembers log seq 5",
        blob,
        "team_log_rollback",
        memory=_memory(state.team_id, 5, "00" * 32, 0, ""),
    )
    vector(
        "team-vault-log-fork",
        "the client remembers another entry 4",
        blob,
        "team_log_fork",
        memory=_memory(state.team_id, 4, "00" * 32, 0, ""),
    )
    vector(
        "team-vault-order-signature-before-record",
        "signature and a record flipped",
        flipped(sig_at)[: spans[1] - 1] + bytes([blob[spans[1] - 1] ^ 1]) + blob[spans[1] :],
        "team_vault_signature",
    )

    # The writer is removed: the admin rotates and writes epoch 2.
    removal, new_key = remove_entry(ADMIN, state, WRITER.account_id.hex, at=AT, random_bytes=stream)
    log.append(removal)
    later = TeamVault.open(blob, states=log.states[:4], team_key=log.key)
    later.rekey(new_key, 2)
    blob2 = later.save(ADMIN, log.state, random_bytes=stream)
    vector(
        "team-vault-ok-after-removal",
        "epoch 2, written by the admin after the removal",
        blob2,
        "ok",
        opened=later,
    )
    vector(
        "team-vault-stale-epoch", "the epoch-1 vault, shown after the removal", blob, "stale_epoch"
    )
    forged = TeamVault.open(blob, states=log.states[:4], team_key=log.key)
    forged.update(
        forged.lookup("deploy"), Item(name="deploy", kind="generic", url="", secret="planted")
    )
    vector(
        "team-vault-old-key-write",
        "the removed writer writes with the epoch-1 key",
        forged.save(WRITER, log.states[3], random_bytes=stream),
        "stale_epoch",
    )
    vector(
        "team-vault-removed-member-reads",
        "the removed writer opens the epoch-2 vault",
        blob2,
        "team_permission",
        reader=WRITER,
    )

    # The admin's next save seals the team's audit-chain head it saw (§15, "Audit anchors").
    anchored = TeamVault.open(blob2, states=log.states, team_key=new_key)
    anchored.set_audit_anchor(AuditAnchor(7, "7e" * 32), random_bytes=stream)
    vector(
        "team-vault-ok-anchored",
        "epoch 2, revision 3: the admin's save seals audit head seq 7",
        anchored.save(ADMIN, log.state, random_bytes=stream),
        "ok",
        opened=anchored,
    )
    damaged = TeamVault.open(blob2, states=log.states, team_key=new_key)
    # The anchor item is written by hand: set_audit_anchor never writes a bad one.
    damaged._items[uuid.UUID(bytes=stream(16))] = _Stored(
        None, bookkeeping_item(AUDIT_ANCHOR_ITEM, '{"head":"7e","seq":"07","v":"1"}')
    )
    vector(
        "team-vault-anchor-malformed",
        "signed and sealed, but its audit anchor's seq has a leading zero and its head is short",
        damaged.save(ADMIN, log.state, random_bytes=stream),
        "malformed",
    )
    return vectors


def _memory(team: str, seq: int, head: str, revision: int, digest: str) -> dict[str, str]:
    return {
        "team": team,
        "log_seq": str(seq),
        "log_head": head,
        "revision": str(revision),
        "digest": digest,
        "v": "1",
    }


def _spans(blob: bytes, count: int) -> list[int]:
    """The end offset of each record."""
    at = TEAM_HEADER_BYTES + count * 56 + 32 + 64
    ends = []
    for _ in range(count):
        ct_len = int.from_bytes(blob[at + 48 : at + 52], "big")
        at += 52 + ct_len
        ends.append(at)
    return ends


def _vault_value(blob: bytes, vault: TeamVault) -> dict[str, Any]:
    anchor = vault.audit_anchor
    items = []
    for info in vault.items():
        entry = json.loads(vault.get(info.id).to_json())
        entry["id"] = info.id.hex
        entry["revision"] = str(info.revision)
        items.append(entry)
    header = {
        "revision": str(int.from_bytes(blob[22:30], "big")),
        "epoch": str(int.from_bytes(blob[30:38], "big")),
        "log_seq": str(int.from_bytes(blob[38:46], "big")),
        "writer": blob[46:62].hex(),
    }
    return {
        "audit": None if anchor is None else {"head": anchor.head, "seq": str(anchor.seq)},
        "header": header,
        "items": sorted(items, key=lambda d: d["id"]),
    }
