"""The primitives vault_core needs, and nothing else.

Each runtime provides one implementation over libsodium: PyNaCl natively,
libsodium.js inside Pyodide. Everything built on these (formats, key
hierarchy, integrity checks) is shared code. Implementations raise
``PrimitiveAuthError`` when an authenticated decryption fails and never let a
library-specific exception escape.
"""

from __future__ import annotations

from typing import Protocol

AEAD_KEY_BYTES = 32
AEAD_NONCE_BYTES = 24  # XChaCha20-Poly1305-IETF
AEAD_TAG_BYTES = 16
BOX_PUBLIC_KEY_BYTES = 32
BOX_SECRET_KEY_BYTES = 32
BOX_SEED_BYTES = 32
BOX_NONCE_BYTES = 24  # crypto_box (X25519, XSalsa20-Poly1305)
BOX_MAC_BYTES = 16
SIGN_SEED_BYTES = 32
SIGN_PUBLIC_KEY_BYTES = 32
SIGN_SECRET_KEY_BYTES = 64
SIGNATURE_BYTES = 64
GENERICHASH_BYTES = 32  # every H and MAC output in the format (BLAKE2b-256)


class PrimitiveAuthError(Exception):
    """An authenticated decryption or signature check failed (no detail, on purpose)."""


class Backend(Protocol):
    name: str

    def random_bytes(self, n: int) -> bytes:
        """n bytes from the operating system's CSPRNG."""

    def argon2id(
        self, out_len: int, passphrase: bytes, salt: bytes, opslimit: int, memlimit: int
    ) -> bytearray:
        """crypto_pwhash with ALG_ARGON2ID13 (parallelism 1); memlimit in bytes."""

    def blake2b(self, out_len: int, message: bytes, key: bytes = b"") -> bytes:
        """crypto_generichash (BLAKE2b), keyed when key is not empty."""

    def aead_encrypt(self, key: bytes, nonce: bytes, plaintext: bytes, ad: bytes) -> bytes:
        """crypto_aead_xchacha20poly1305_ietf_encrypt: ciphertext || 16-byte tag."""

    def aead_decrypt(self, key: bytes, nonce: bytes, ciphertext: bytes, ad: bytes) -> bytearray:
        """Inverse of aead_encrypt; raises PrimitiveAuthError on any failure."""

    def box_seed_keypair(self, seed: bytes) -> tuple[bytes, bytearray]:
        """crypto_box_seed_keypair: (X25519 public key, secret key)."""

    def box_easy(self, message: bytes, nonce: bytes, public_key: bytes, secret_key: bytes) -> bytes:
        """crypto_box_easy: 16-byte MAC || ciphertext."""

    def box_open_easy(
        self, ciphertext: bytes, nonce: bytes, public_key: bytes, secret_key: bytes
    ) -> bytearray:
        """crypto_box_open_easy; raises PrimitiveAuthError on any failure."""

    def sign_seed_keypair(self, seed: bytes) -> tuple[bytes, bytearray]:
        """crypto_sign_seed_keypair: (Ed25519 public key, 64-byte secret key)."""

    def sign_detached(self, message: bytes, secret_key: bytes) -> bytes:
        """crypto_sign_detached: a 64-byte Ed25519 signature."""

    def sign_verify_detached(self, signature: bytes, message: bytes, public_key: bytes) -> None:
        """crypto_sign_verify_detached; raises PrimitiveAuthError when it does not verify."""
