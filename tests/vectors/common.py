"""What every vector generator shares: the fixed inputs, a seeded randomness stream, and the
helpers that build a vault and describe a vector (field meanings: tests/vectors/README.md)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import uuid
from typing import Any

from vault_core import Item, KdfParams, RunnerKeyPair, Vault
from vault_core import container as layout
from vault_core.backend import get_backend
from vault_core.kdf import derive_kek
from vault_core.lineage import Device, VaultMemory

PASSPHRASE = "correct horse battery staple, café ✓"  # é precomposed (NFC)
ACCOUNT = uuid.UUID("0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3")
OTHER_ACCOUNT = uuid.UUID("f0e1d2c3-b4a5-4968-8776-655443322110")
RUNNER = uuid.UUID("11111111-2222-4333-8444-555555555555")
FAST = KdfParams.floor()  # vectors use the floor so that every runtime checks them quickly
SAVED_AT = "2026-12-01T09:00:00Z"  # every vector vault's clock (the lineage's saved.at)
LAPTOP = Device("1a" * 16, "laptop")  # the device that saves the vector vaults

ITEMS = [
    Item(
        name="github-ci",
        kind="github",
        url="https://github.com",
        username="ci-bot",
        secret="ghp_" + "A1b2C3d4" * 4 + "xyzw",
        scopes=("repo", "read:packages"),
        expires="2027-01-31",
    ),
    Item(
        name="gitlab deploy",
        kind="gitlab",
        url="https://gitlab.example.com/group/project.git",
        username="deploy",
        secret="glpat-ZZZ\u00e9\u00df\u6f22",
        note="rotates monthly",
    ),
    Item(
        name="deploy-key",
        kind="git",
        url="ssh://git@git.example.com:2222/infra.git",
        secret="-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n"
        "-----END OPENSSH PRIVATE KEY-----\n",
    ),
]


class Stream:
    """Reproducible stand-in for a CSPRNG: SHA-256(seed || counter) blocks. Passed to
    vault_core explicitly (``random_bytes=``); ``restart`` begins a new seed's stream."""

    def __init__(self, seed: bytes) -> None:
        self.restart(seed)

    def restart(self, seed: bytes) -> None:
        self._seed, self._counter = seed, 0

    def __call__(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(self._seed + self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
        return out[:n]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def item_json(vault: Vault, item_id: uuid.UUID) -> dict[str, Any]:
    """Every item, bookkeeping (reserved names) included: a reader of §6.1 lists them all."""
    (info,) = [i for i in vault.items(reserved=True) if i.id == item_id]
    data = info.to_dict()
    data["secret"] = vault.get(item_id).secret
    return data


def build_vault(
    seed: bytes,
    *,
    account: uuid.UUID = ACCOUNT,
    kdf: KdfParams = FAST,
    items: list[Item] = ITEMS,
    stream: Stream | None = None,
    version: int = 2,
) -> tuple[Vault, bytes]:
    """A vault with ``items`` saved once (``version`` 1: as a format-1 client wrote it); its
    randomness is ``stream`` or Stream(seed), its clock SAVED_AT, its device LAPTOP."""
    vault = create(account, kdf=kdf, stream=stream or Stream(seed))
    for item in items:
        vault.add(item)
    return vault, (vault.save() if version == 2 else raw_save(vault, 1))


def create(
    account: uuid.UUID = ACCOUNT, *, kdf: KdfParams = FAST, stream: Stream, device: Device = LAPTOP
) -> Vault:
    vault = Vault.create(account, PASSPHRASE, kdf=kdf, random_bytes=stream, device=device)
    vault.clock = lambda: SAVED_AT
    return vault


def raw_save(vault: Vault, version: int) -> bytes:
    """Serialise the vault's items as they are at the next revision, in format ``version``,
    writing no lineage record: with version 1, what a format-1 client wrote (every record
    written since the last save sealed under ITEM_AD's version 1); with version 2, a forgery
    by a key holder that skipped §6.2's lineage step. Later ``save()`` calls write format 2
    (from a format-1 state: the upgrade)."""
    header_key, item_key, _ = vault._keys()
    backend = get_backend()
    vault.revision += 1
    for item_id, stored in list(vault._items.items()):
        if stored.version != version:
            assert stored.record.item_rev == vault.revision, "only new records are resealed"
            plaintext = vault._decrypt(stored.record, stored.version).to_json()
            ad = vault._item_ad(item_id, vault.revision, version)
            ciphertext = backend.aead_encrypt(bytes(item_key), stored.record.nonce, plaintext, ad)
            record = layout.Record(item_id, vault.revision, stored.record.nonce, ciphertext)
            vault._items[item_id] = dataclasses.replace(
                stored,
                record=record,
                record_hash=backend.blake2b(32, record.encode()),
                version=version,
            )
    stored_items = sorted(vault._items.values(), key=lambda s: s.record.item_id.bytes)
    manifest = tuple(
        layout.ManifestEntry(s.record.item_id, s.record.item_rev, s.record_hash)
        for s in stored_items
    )
    authenticated = layout.encode_authenticated(
        version, vault.account_id, vault.vault_id, vault.revision, vault.key_slot, manifest
    )
    mac = backend.blake2b(32, authenticated, bytes(header_key))
    blob = authenticated + mac + b"".join(s.record.encode() for s in stored_items)
    vault.head_sha256 = hashlib.sha256(blob).hexdigest()
    vault.version, vault.lineage, vault.seen_revision = version, None, vault.revision
    return blob


def vault_vector(
    name: str,
    description: str,
    blob: bytes,
    expect: str,
    *,
    account: uuid.UUID = ACCOUNT,
    passphrase: str = PASSPHRASE,
    vault_id: uuid.UUID | None = None,
    min_revision: int = 0,
    vault: Vault | None = None,
    memory: VaultMemory | None = None,
    device_id: str | None = None,
) -> dict[str, Any]:
    vector: dict[str, Any] = {
        "kind": "vault",
        "name": name,
        "description": description,
        "expect": expect,
        "passphrase": passphrase,
        "account_id": str(account),
        "vault_id": str(vault_id) if vault_id else None,
        "min_revision": min_revision,
        "memory": None if memory is None else memory.to_json(),
        "device_id": device_id,
        "blob": b64(blob),
    }
    if vault is not None:  # success: what an implementation must find, intermediates included
        parsed = layout.parse(blob)
        kek = derive_kek(passphrase, parsed.slot.salt, parsed.slot.kdf)
        vector.update(
            revision=vault.revision,
            format=parsed.version,
            vault_id=str(vault.vault_id),
            kdf={
                "id": parsed.slot.kdf.kdf_id,
                "ops": parsed.slot.kdf.ops,
                "mem_kib": parsed.slot.kdf.mem_kib,
                "salt": parsed.slot.salt.hex(),
            },
            kek=kek.hex(),
            items=sorted(
                (item_json(vault, i.id) for i in vault.items(reserved=True)),
                key=lambda d: d["id"],
            ),
        )
    return vector


def flip(blob: bytes, offset: int, mask: int = 0x01) -> bytes:
    data = bytearray(blob)
    data[offset] ^= mask
    return bytes(data)


def record_spans(blob: bytes) -> list[tuple[int, int]]:
    parsed = layout.parse(blob)
    start = layout.HEADER_BYTES + len(parsed.manifest) * layout.MANIFEST_ENTRY_BYTES + 32
    spans = []
    for record in parsed.records:
        end = start + len(record.encode())
        spans.append((start, end))
        start = end
    return spans


def reopen(blob: bytes, passphrase: str = PASSPHRASE) -> Vault:
    return Vault.open(blob, passphrase, account_id=ACCOUNT)


def set_bytes(blob: bytes, offset: int, value: bytes) -> bytes:
    return blob[:offset] + value + blob[offset + len(value) :]


def grant_vector(
    vault: Vault,
    runner: RunnerKeyPair,
    name: str,
    description: str,
    data: bytes,
    expect: str,
    **extra: Any,
) -> dict[str, Any]:
    """A grant vector for ``runner`` (account ACCOUNT, id RUNNER) pinning ``vault``'s grant key."""
    return {
        "kind": "grant",
        "runner_seed": runner.seed_bytes().hex(),
        "runner_public_key": runner.public_key.hex(),
        "account_id": str(ACCOUNT),
        "runner_id": str(RUNNER),
        "owner_verify_key": vault.owner_verify_key.hex(),
        "min_revision": 0,
        "name": name,
        "description": description,
        "expect": expect,
        "blob": b64(data),
        **extra,
    }
