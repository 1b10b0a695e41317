"""Forgeries made with the owner's keys: vaults and grants whose every authentication check
passes but whose content breaks one rule of docs/format.md (or several at once, to pin down
which error wins). These are what a buggy or hostile client holding the vault key could
write; a reader must refuse them with the code the spec names."""

from __future__ import annotations

import uuid

from tests.vectors.common import ACCOUNT, RUNNER, Stream, create
from vault_core import Item, Vault
from vault_core import container as layout
from vault_core.backend import get_backend
from vault_core.encoding import u16, u32, u64
from vault_core.grants import GRANT_MAGIC, _seal
from vault_core.keys import LABEL_GRANT_SIGNATURE, wipe

WRONG_AD = None  # a plaintext slot holding this is encrypted under another item_rev's AD


def forge_vault(seed: bytes, plaintexts: list[bytes | None]) -> bytes:
    """A revision-1 vault with one record per entry, in manifest order, each encrypted by the
    vault's own item key from exactly those bytes (WRONG_AD: decryption fails although the
    record's hash is authentic)."""
    vault = create(stream=Stream(seed))
    ids = [
        vault.add(Item(name=f"placeholder {index}", kind="generic", url="", secret="x"))
        for index in range(len(plaintexts))
    ]
    _, item_key, _ = vault._keys()
    backend = get_backend()
    for item_id, text in zip(sorted(ids, key=lambda i: i.bytes), plaintexts, strict=True):
        stored = vault._items[item_id]
        nonce = stored.record.nonce
        ad = vault._item_ad(item_id, 1 if text is not WRONG_AD else 2, 2)
        plaintext = b"{}" if text is WRONG_AD else text
        ciphertext = backend.aead_encrypt(bytes(item_key), nonce, plaintext, ad)
        record = layout.Record(item_id, 1, nonce, ciphertext)
        vault._items[item_id] = type(stored)(
            record, backend.blake2b(32, record.encode()), stored.info, 2
        )
    return vault.save()


def grant_signed_part(
    body: bytes,
    runner_public_key: bytes,
    *,
    revision: int = 5,
    account: uuid.UUID = ACCOUNT,
    runner_id: uuid.UUID = RUNNER,
    version: int = 1,
    magic: bytes = GRANT_MAGIC,
) -> bytes:
    """Every PAYLOAD byte before the signature (format.md §7)."""
    return (
        magic
        + u16(version)
        + account.bytes
        + runner_id.bytes
        + u64(revision)
        + runner_public_key
        + u32(len(body))
        + body
    )


def sign(vault: Vault, signed: bytes) -> bytes:
    seed = vault.grant_signing_seed()
    _, secret_key = get_backend().sign_seed_keypair(bytes(seed))
    try:
        return get_backend().sign_detached(LABEL_GRANT_SIGNATURE + signed, bytes(secret_key))
    finally:
        wipe(seed)
        wipe(secret_key)


def seal(runner_public_key: bytes, payload: bytes, rng: Stream) -> bytes:
    return _seal(runner_public_key, payload, rng)
