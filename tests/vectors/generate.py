"""Regenerate the known-answer vectors in tests/vectors/ (deterministic).

    python -m tests.vectors.generate [OUTPUT_DIR]

Every vector is one JSON file: a success case, or a failure with the error code
it must produce in ``expect``; a vector with two faults at once pins down which
error wins (fields: tests/vectors/README.md).
Randomness is a seeded stream passed to vault_core explicitly
(common.Stream), so running this again gives identical files;
tests/unit/test_vectors.py checks that.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.vectors import history, records, rules, sshkeys, teamgrants, teams
from tests.vectors.common import (
    ITEMS,
    OTHER_ACCOUNT,
    PASSPHRASE,
    RUNNER,
    Stream,
    build_vault,
    flip,
    grant_vector,
    item_json,
    record_spans,
    reopen,
    set_bytes,
    vault_vector,
)
from tests.vectors.forge import forge_vault
from vault_core import Item, KdfParams, RunnerKeyPair, seal_grant
from vault_core import container as layout
from vault_core.encoding import u32, u64
from vault_core.header import VAULT_MAX_BYTES
from vault_core.kdf import MAX_MEM_KIB, MIN_OPS, derive_kek

HERE = Path(__file__).parent
# Offsets of format.md §4.1.
REGIONS = {
    "magic": 0,
    "version": 5,
    "account_id": 6,
    "vault_id": 22,
    "revision": 44,
    "kdf_id": 46,
    "kdf_ops": 50,
    "kdf_mem_kib": 54,
    "kdf_salt": 55,
    "slot_nonce": 71,
    "slot_ciphertext": 95,
    "item_count": 146,
}


def vault_vectors() -> list[dict[str, Any]]:
    stream = Stream(b"main")
    vault, blob = build_vault(b"main", stream=stream)
    spans = record_spans(blob)
    manifest_start = layout.HEADER_BYTES
    mac_start = layout.HEADER_BYTES + len(spans) * 56
    first = spans[0][0]
    vectors = [
        vault_vector(
            "ok-three-items", "three items, floor KDF parameters", blob, "ok", vault=vault
        ),
    ]
    empty_vault, empty = build_vault(b"empty", items=[])
    vectors.append(
        vault_vector("ok-empty", "a new vault with no items", empty, "ok", vault=empty_vault)
    )
    default_vault, default = build_vault(b"default", kdf=KdfParams.default(), items=ITEMS[:1])
    vectors.append(
        vault_vector(
            "ok-default-kdf",
            "default KDF parameters (64 MiB, t=3)",
            default,
            "ok",
            vault=default_vault,
        )
    )

    # Later revisions of the main vault: an edit, then a passphrase change.
    stream.restart(b"main-r2")
    first_id = vault.items()[0].id
    old = vault.get(first_id)
    vault.update(
        first_id,
        Item(
            name=old.name,
            kind=old.kind,
            url=old.url,
            secret="rotated-secret",
            username=old.username,
        ),
    )
    blob2 = vault.save()
    vault.change_passphrase("a new passphrase for revision three")
    blob3 = vault.save()
    vectors.append(
        vault_vector(
            "ok-revision-2",
            "one item rewritten at revision 2",
            blob2,
            "ok",
            min_revision=1,
            vault=reopen(blob2, PASSPHRASE),
        )
    )
    vectors.append(
        vault_vector(
            "ok-passphrase-changed",
            "key slot rewrapped at revision 3",
            blob3,
            "ok",
            passphrase="a new passphrase for revision three",
            vault=reopen(blob3, "a new passphrase for revision three"),
        )
    )

    def fail(name: str, description: str, data: bytes, expect: str, **kw: Any) -> None:
        vectors.append(vault_vector(name, description, data, expect, **kw))

    for region, offset in REGIONS.items():
        expect = {
            "magic": "malformed",
            "version": "unsupported_version",
            "account_id": "wrong_account",
            "vault_id": "header_auth",
            "revision": "header_auth",
            "kdf_id": "unsupported_version",
            "kdf_ops": "wrong_passphrase",
            "kdf_mem_kib": "wrong_passphrase",
            "kdf_salt": "wrong_passphrase",
            "slot_nonce": "wrong_passphrase",
            "slot_ciphertext": "wrong_passphrase",
            # 4 → 5: the manifest runs into the header MAC, and the misaligned records
            # then claim more bytes than are left
            "item_count": "malformed",
        }[region]
        fail(
            f"flip-{region}",
            f"one bit of the header's {region} flipped",
            flip(blob, offset),
            expect,
        )
    fail(
        "flip-vault-id-pinned",
        "vault_id flipped, the client pinned the real one",
        flip(blob, REGIONS["vault_id"]),
        "wrong_vault",
        vault_id=vault.vault_id,
    )
    fail(
        "flip-manifest-id-order",
        "first manifest id made larger than the second",
        flip(blob, manifest_start, 0xFF),
        "non_canonical",
    )
    fail(
        "flip-manifest-hash",
        "one bit of a manifest record hash flipped",
        flip(blob, manifest_start + 30),
        "header_auth",
    )
    fail(
        "flip-header-mac", "one bit of the header MAC flipped", flip(blob, mac_start), "header_auth"
    )
    fail(
        "flip-record-id",
        "one bit of a record's item id flipped",
        flip(blob, first + 15),
        "item_replayed",
    )
    fail(
        "flip-record-rev",
        "a record's item_rev changed",
        flip(blob, first + 23, 0x02),
        "item_replayed",
    )
    fail(
        "flip-record-nonce",
        "one bit of a record nonce flipped",
        flip(blob, first + 30),
        "body_auth",
    )
    fail(
        "flip-record-length",
        "a record's ciphertext length changed (the next record misaligns)",
        flip(blob, first + 51),
        "limit_exceeded",
    )
    fail(
        "flip-record-ciphertext",
        "one bit of a record's ciphertext flipped",
        flip(blob, first + 60),
        "body_auth",
    )
    fail(
        "flip-record-tag",
        "one bit of the last record's tag flipped",
        flip(blob, len(blob) - 1),
        "body_auth",
    )
    fail("kdf-below-floor", "kdf_ops set to 1", set_bytes(blob, 47, u32(MIN_OPS - 1)), "weak_kdf")
    fail(
        "kdf-above-ceiling",
        "kdf_mem_kib above 1 GiB",
        set_bytes(blob, 51, u32(MAX_MEM_KIB + 1)),
        "limit_exceeded",
    )
    fail(
        "unknown-version",
        "format version 3",
        set_bytes(blob, 4, b"\x00\x03"),
        "unsupported_version",
    )
    fail("too-many-items", "item_count 1001", set_bytes(blob, 143, u32(1001)), "limit_exceeded")
    fail("zero-revision", "revision 0", set_bytes(blob, 38, u64(0)), "malformed")
    for cut in (3, 100, layout.HEADER_BYTES + 10, mac_start + 16, first + 40, len(blob) - 1):
        fail(f"truncated-{cut}", f"only the first {cut} bytes", blob[:cut], "malformed")
    fail("trailing-byte", "one byte appended", blob + b"\x00", "malformed")
    oversized = vault_vector(
        "oversized",
        "more than 1 MiB: blob followed by append_zeros zero bytes",
        blob,
        "limit_exceeded",
    )
    vectors.append({**oversized, "append_zeros": VAULT_MAX_BYTES})
    fail(
        "wrong-passphrase",
        "a different passphrase",
        blob,
        "wrong_passphrase",
        passphrase=PASSPHRASE + "!",
    )
    fail(
        "nfd-passphrase-opens",
        "the passphrase in NFD form opens it (NFC normalisation)",
        blob,
        "ok",
        passphrase=PASSPHRASE.replace("\u00e9", "e\u0301"),
        vault=reopen(blob, PASSPHRASE),
    )
    _, other_account_blob = build_vault(b"other-account", account=OTHER_ACCOUNT)
    fail(
        "other-account",
        "another account's vault, same passphrase",
        other_account_blob,
        "wrong_account",
    )
    _, other_vault = build_vault(b"other-vault")
    fail(
        "other-vault",
        "another vault of the same account, this one pinned",
        other_vault,
        "wrong_vault",
        vault_id=vault.vault_id,
    )
    fail("rollback", "revision 1 after revision 2 was seen", blob, "rollback", min_revision=2)
    fail(
        "dropped-item",
        "the second record removed",
        blob[: spans[1][0]] + blob[spans[1][1] :],
        "item_missing",
    )
    fail(
        "duplicated-item",
        "the first record repeated",
        blob + blob[spans[0][0] : spans[0][1]],
        "item_duplicated",
    )
    fail(
        "swapped-records",
        "the first two records swapped",
        blob[: spans[0][0]]
        + blob[spans[1][0] : spans[1][1]]
        + blob[spans[0][0] : spans[0][1]]
        + blob[spans[1][1] :],
        "non_canonical",
    )
    # Replay: revision 2's vault with the rewritten item's revision-1 record put back.
    replayed = _replace_record(blob2, blob, first_id)
    fail(
        "replayed-item",
        "an item's revision-1 record in the revision-2 vault",
        replayed,
        "item_replayed",
        min_revision=1,
    )
    fail(
        "foreign-records",
        "the header of one vault with the records of another",
        blob[:first] + other_vault[first:],
        "item_replayed",
    )
    fail(
        "non-canonical-item",
        "an item encrypted as JSON with spaces",
        _non_canonical(),
        "non_canonical",
    )
    return vectors


def _replace_record(new_blob: bytes, old_blob: bytes, item_id: uuid.UUID) -> bytes:
    new_spans = dict(
        zip(
            (r.item_id for r in layout.parse(new_blob).records), record_spans(new_blob), strict=True
        )
    )
    old_spans = dict(
        zip(
            (r.item_id for r in layout.parse(old_blob).records), record_spans(old_blob), strict=True
        )
    )
    (ns, ne), (os_, oe) = new_spans[item_id], old_spans[item_id]
    return new_blob[:ns] + old_blob[os_:oe] + new_blob[ne:]


def _non_canonical() -> bytes:
    """A vault whose only item is authentic but encrypted from non-canonical JSON."""
    text = json.dumps(json.loads(ITEMS[0].to_json()), sort_keys=True).encode()
    return forge_vault(b"non-canonical", [text])


def grant_vectors() -> list[dict[str, Any]]:
    vault, _ = build_vault(b"main")
    other, _ = build_vault(b"other-vault")
    ids = sorted(i.id for i in vault.items())[:2]
    runner = RunnerKeyPair(bytes(range(32)))
    stranger = RunnerKeyPair(bytes(range(1, 33)))
    rng = Stream(b"grants")
    grant = seal_grant(vault, RUNNER, runner.public_key, ids, 5, random_bytes=rng)
    to_stranger = seal_grant(vault, RUNNER, stranger.public_key, ids, 5, random_bytes=rng)
    other_runner = seal_grant(
        vault, uuid.UUID(int=RUNNER.int ^ 1), runner.public_key, ids, 5, random_bytes=rng
    )
    forged = seal_grant(
        other,
        RUNNER,
        runner.public_key,
        sorted(i.id for i in other.items())[:2],
        5,
        random_bytes=rng,
    )
    old = seal_grant(vault, RUNNER, runner.public_key, ids[:1], 4, random_bytes=rng)

    def vector(
        name: str, description: str, data: bytes, expect: str, **extra: Any
    ) -> dict[str, Any]:
        return grant_vector(vault, runner, name, description, data, expect, **extra)

    ok = vector(
        "grant-ok",
        "two of three items granted at revision 5",
        grant,
        "ok",
        revision=5,
        items=[{**item_json(vault, i), "id": i.hex} for i in ids],
    )
    for entry in ok["items"]:
        entry.pop("revision")
    return [
        ok,
        vector(
            "grant-sealed-to-other-runner",
            "sealed to another runner's key",
            to_stranger,
            "grant_auth",
        ),
        vector(
            "grant-for-other-runner-id", "names another runner id", other_runner, "grant_binding"
        ),
        vector("grant-forged", "signed by another vault's grant key", forged, "grant_auth"),
        vector(
            "grant-rollback",
            "revision 4 after revision 5 was seen",
            old,
            "rollback",
            min_revision=5,
        ),
        vector("grant-flipped", "one bit of the sealed box flipped", flip(grant, 40), "grant_auth"),
        vector("grant-truncated", "last byte removed", grant[:-1], "grant_auth"),
        vector(
            "grant-oversized",
            "more than 1 MiB: blob followed by append_zeros zero bytes",
            grant,
            "limit_exceeded",
            append_zeros=1_048_576,
        ),
    ]


def argon2_vectors() -> list[dict[str, Any]]:
    cases = [
        ("argon2id-design-check", "correct horse", bytes(16), 3, 65_536),
        ("argon2id-floor", PASSPHRASE, bytes(range(16)), 2, 19_456),
    ]
    return [
        {
            "kind": "argon2id",
            "name": name,
            "description": "crypto_pwhash ALG_ARGON2ID13, p=1",
            "expect": "ok",
            "passphrase": passphrase,
            "salt": salt.hex(),
            "ops": ops,
            "mem_kib": mem,
            "output": derive_kek(passphrase, salt, KdfParams(ops=ops, mem_kib=mem)).hex(),
        }
        for name, passphrase, salt, ops, mem in cases
    ]


GENERATORS: list[Callable[[], list[dict[str, Any]]]] = [
    argon2_vectors,
    vault_vectors,
    grant_vectors,
    rules.passphrase_vectors,
    rules.order_vectors,
    rules.item_vectors,
    rules.grant_rule_vectors,
    records.json_rule_vectors,
    records.pins_vectors,
    records.pin_add_vectors,
    records.grant_list_vectors,
    records.fingerprint_vectors,
    records.item_name_vectors,
    records.local_state_vectors,
    history.lineage_vectors,
    history.lineage_next_vectors,
    history.descent_vectors,
    history.revoked_vectors,
    history.format_vectors,
    sshkeys.ssh_key_vectors,
    teams.identity_vectors,
    teams.team_log_vectors,
    teams.team_key_box_vectors,
    teams.team_vault_vectors,
    teamgrants.team_grant_vectors,
]


def generate(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for make in GENERATORS:
        for vector in make():
            path = out / f"{vector['name']}.json"
            path.write_text(
                json.dumps(vector, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                encoding="utf-8",
            )
            written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    print(f"wrote {len(generate(target))} vectors to {target}")
