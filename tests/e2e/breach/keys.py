"""The key material a breach must not expose, recomputed from the spec (docs/format.md §2-3)
with PyNaCl alone, like tests/unit/spec_reader.py: if vault_core derived its keys some
other way, the search would still look for the keys the format defines.

From a vault blob and a passphrase that opens it: the KEK (Argon2id), the vault key (the
key slot's plaintext) and its subkeys (header MAC, item encryption, grant signing seed).
From a runner credential: the X25519 seed and the private key it gives.
"""

from __future__ import annotations

import hashlib
import struct
import time
import unicodedata
from collections.abc import Iterable

import nacl.bindings as s
from nacl.exceptions import CryptoError

LABELS = {
    "header-MAC key": b"zkvault/1 header-mac",
    "item key": b"zkvault/1 item-key",
    "grant signing seed": b"zkvault/1 grant-signing-seed",
}


def _kek(passphrase: str, salt: bytes, ops: int, mem_kib: int) -> bytes:
    pw = unicodedata.normalize("NFC", passphrase).encode()
    return bytes(
        s.crypto_pwhash_alg(32, pw, salt, ops, mem_kib * 1024, s.crypto_pwhash_ALG_ARGON2ID13)
    )


def vault_keys(blobs: Iterable[bytes], passphrases: Iterable[str], who: str) -> dict[str, bytes]:
    """Every KEK that opens one of ``blobs`` with one of ``passphrases``, the vault key and
    its subkeys, named "kind | whose what". A passphrase that opens none is not an error here
    (the scenario checks the clients); at least one KEK must be found, or this finds nothing
    to search for."""
    found: dict[str, bytes] = {}
    tried: set[bytes] = set()
    candidates = list(passphrases)
    for blob in blobs:
        slot = blob[46:143]  # kdf id, ops, mem, salt, nonce, ciphertext
        if slot in tried:
            continue
        tried.add(slot)
        ops, mem_kib = struct.unpack(">II", blob[47:55])
        salt, nonce, ciphertext = blob[55:71], blob[71:95], blob[95:143]
        # The slot's associated data names format version 1 in every vault version (an
        # upgrade rewrites the vault without the passphrase: docs/format.md §4.1).
        ad = b"zkvault/1 key-slot" + (1).to_bytes(2, "big") + blob[46:71]
        for passphrase in candidates:
            kek = _kek(passphrase, salt, ops, mem_kib)
            try:
                vault_key = s.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, ad, nonce, kek)
            except CryptoError:
                continue
            found[f"KEK | {who}: salt {salt.hex()[:6]}"] = kek
            found[f"vault key | {who}"] = vault_key
            for name, label in LABELS.items():
                found[f"{name} | {who}"] = hashlib.blake2b(
                    label, digest_size=32, key=vault_key
                ).digest()
    assert found, f"no passphrase opened any blob of {who}"
    return found


def runner_keys(seed: bytes, who: str) -> dict[str, bytes]:
    _, private = s.crypto_box_seed_keypair(seed)
    return {
        f"runner private key | {who}: X25519 seed": seed,
        f"runner private key | {who}: X25519 private key": bytes(private),
    }


def one_guess(blob: bytes) -> tuple[int, int, float]:
    """What a thief pays per passphrase guess at the stored parameters: (t, m in KiB,
    seconds for one Argon2id run here). Measured, not asserted."""
    ops, mem_kib = struct.unpack(">II", blob[47:55])
    started = time.perf_counter()
    _kek("a guess", blob[55:71], ops, mem_kib)
    return ops, mem_kib, time.perf_counter() - started
