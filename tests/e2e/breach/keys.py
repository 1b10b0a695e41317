"""The key material a breach must not expose, recomputed from the spec (docs/format.md §2-3)
with PyNaCl alone, like tests/unit/spec_reader.py: if vault_core derived its keys some
other way, the search would still look for the keys the format defines.

From a vault blob and a passphrase that opens it: the KEK (Argon2id), the vault key (the
key slot's plaintext) and its subkeys (header MAC, item encryption, grant signing seed).
From a runner credential: the X25519 seed and the private key it gives.

Teams (docs/format.md §15) are read with the client's own code, as a member's client
reads them: the identity seed from the personal vault (its `.zkvault-identity` item) and
the keys derived from it; every team key along the log, from the boxes sealed to a
member; the subkeys the team vault derives from each.
"""

from __future__ import annotations

import hashlib
import struct
import time
import unicodedata
import uuid
from collections.abc import Iterable

import nacl.bindings as s
from nacl.exceptions import CryptoError

from vault_core import Vault
from vault_core.teams.identity import LABEL_IDENTITY_BOX, LABEL_IDENTITY_SIGN, IdentityKeys
from vault_core.teams.keybox import open_team_key
from vault_core.teams.state import replay_states
from vault_core.teams.teamvault import LABEL_TEAM_HEADER_MAC, LABEL_TEAM_ITEM_KEY

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


def _kdf(label: bytes, key: bytes | bytearray) -> bytes:
    return hashlib.blake2b(label, digest_size=32, key=bytes(key)).digest()


def identity(blob: bytes, passphrase: str, account: uuid.UUID) -> IdentityKeys:
    """The identity keys the person's current vault holds (opened as their client opens it)."""
    vault = Vault.open(blob, passphrase, account_id=account)
    try:
        keys = vault.identity_keys()
        assert keys is not None, "no identity in the vault: the team phase made one"
        return IdentityKeys(account, keys.seed_bytes())
    finally:
        vault.lock()


def identity_secrets(keys: IdentityKeys, who: str) -> dict[str, bytes]:
    seed = keys.seed_bytes()
    sign_seed, box_seed = _kdf(LABEL_IDENTITY_SIGN, seed), _kdf(LABEL_IDENTITY_BOX, seed)
    # The derivation is the format's, not only the code's: these seeds give the public keys.
    assert bytes(s.crypto_sign_seed_keypair(sign_seed)[0]) == keys.sign_key
    assert bytes(s.crypto_box_seed_keypair(box_seed)[0]) == keys.box_key
    return {
        f"identity key | {who}: seed (vault item)": seed,
        f"identity key | {who}: Ed25519 seed": sign_seed,
        f"identity key | {who}: X25519 seed": box_seed,
        f"identity key | {who}: X25519 private key": keys.box_secret_bytes(),
    }


def team_keys(entries: list[bytes], member: IdentityKeys, team: str) -> dict[str, bytes]:
    """Every epoch's team key, opened from the box the log seals to ``member`` (a member
    throughout), and the team vault's subkeys of each."""
    found: dict[str, bytes] = {}
    for state in replay_states(entries):
        name = f"team key | {team}: epoch {state.epoch}"
        if name in found:
            continue
        box = state.boxes[member.account_id.hex]
        key = open_team_key(box, member, uuid.UUID(hex=state.team_id), state.epoch, state.key_check)
        found[name] = bytes(key)
        found[f"team key | {team}: epoch {state.epoch} header-MAC key"] = _kdf(
            LABEL_TEAM_HEADER_MAC, key
        )
        found[f"team key | {team}: epoch {state.epoch} item key"] = _kdf(LABEL_TEAM_ITEM_KEY, key)
    return found
