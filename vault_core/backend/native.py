"""The native backend: libsodium through PyNaCl's low-level bindings (BLAKE2b from
hashlib: the same function, without PyNaCl's per-call overhead)."""

from __future__ import annotations

import hashlib

from nacl import bindings as sodium
from nacl._sodium import ffi as _ffi  # type: ignore[import-not-found]
from nacl._sodium import lib as _sodium_lib
from nacl.exceptions import CryptoError

from .base import (
    AEAD_KEY_BYTES,
    AEAD_NONCE_BYTES,
    AEAD_TAG_BYTES,
    SIGN_SECRET_KEY_BYTES,
    PrimitiveAuthError,
)

_AEAD_CIPHERTEXT_MAX = sodium.crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX + AEAD_TAG_BYTES


class NativeBackend:
    name = "pynacl"

    def random_bytes(self, n: int) -> bytes:
        return sodium.randombytes(n)

    def argon2id(
        self, out_len: int, passphrase: bytes, salt: bytes, opslimit: int, memlimit: int
    ) -> bytearray:
        return bytearray(
            sodium.crypto_pwhash_alg(
                out_len, passphrase, salt, opslimit, memlimit, sodium.crypto_pwhash_ALG_ARGON2ID13
            )
        )

    def blake2b(self, out_len: int, message: bytes, key: bytes = b"") -> bytes:
        # libsodium's crypto_generichash is plain keyed BLAKE2b (RFC 7693), as hashlib's is;
        # hashlib is called here because PyNaCl's wrapper costs ~5 us a call, several times
        # the hash of a record, and opening a team hashes every record and log entry. Its
        # limits are crypto_generichash's, as the Pyodide backend applies them.
        if not 16 <= out_len <= 64:
            raise ValueError("digest size out of range")
        if len(key) > 64:
            raise ValueError("key too long")
        return hashlib.blake2b(message, digest_size=out_len, key=key).digest()

    def aead_encrypt(self, key: bytes, nonce: bytes, plaintext: bytes, ad: bytes) -> bytes:
        return sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, nonce, key)

    def aead_decrypt(self, key: bytes, nonce: bytes, ciphertext: bytes, ad: bytes) -> bytearray:
        if len(ciphertext) < AEAD_TAG_BYTES:  # PyNaCl would raise ValueError
            raise PrimitiveAuthError
        if (
            type(key) is bytes
            and type(nonce) is bytes
            and type(ciphertext) is bytes
            and type(ad) is bytes
            and len(key) == AEAD_KEY_BYTES
            and len(nonce) == AEAD_NONCE_BYTES
            and len(ciphertext) <= _AEAD_CIPHERTEXT_MAX
        ):
            # What PyNaCl checks, passed: libsodium called through PyNaCl's own binding,
            # without its wrapper's ~4 us a call (opening a team decrypts every item), and
            # into the buffer returned, so no unwiped copy of the plaintext is left behind.
            plaintext = bytearray(len(ciphertext) - AEAD_TAG_BYTES)
            status = _sodium_lib.crypto_aead_xchacha20poly1305_ietf_decrypt(
                _ffi.from_buffer(plaintext),
                _ffi.NULL,
                _ffi.NULL,
                ciphertext,
                len(ciphertext),
                ad,
                len(ad),
                nonce,
                key,
            )
            if status != 0:  # libsodium has zeroed the buffer
                raise PrimitiveAuthError
            return plaintext
        try:  # anything else: PyNaCl's checks and errors
            return bytearray(
                sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, ad, nonce, key)
            )
        except CryptoError:
            raise PrimitiveAuthError from None

    def box_seed_keypair(self, seed: bytes) -> tuple[bytes, bytearray]:
        public_key, secret_key = sodium.crypto_box_seed_keypair(seed)
        return public_key, bytearray(secret_key)

    def box_easy(self, message: bytes, nonce: bytes, public_key: bytes, secret_key: bytes) -> bytes:
        try:
            return sodium.crypto_box_easy(message, nonce, public_key, secret_key)
        except RuntimeError:  # libsodium refuses a low-order public key
            raise ValueError("unusable public key") from None

    def box_open_easy(
        self, ciphertext: bytes, nonce: bytes, public_key: bytes, secret_key: bytes
    ) -> bytearray:
        try:
            return bytearray(sodium.crypto_box_open_easy(ciphertext, nonce, public_key, secret_key))
        except CryptoError:
            raise PrimitiveAuthError from None

    def sign_seed_keypair(self, seed: bytes) -> tuple[bytes, bytearray]:
        public_key, secret_key = sodium.crypto_sign_seed_keypair(seed)
        return public_key, bytearray(secret_key)

    def sign_detached(self, message: bytes, secret_key: bytes) -> bytes:
        if len(secret_key) != SIGN_SECRET_KEY_BYTES:  # libsodium would read past a short key
            raise ValueError(f"an Ed25519 secret key is {SIGN_SECRET_KEY_BYTES} bytes")
        # crypto_sign returns signature || message; the signature is the first 64 bytes.
        return sodium.crypto_sign(message, bytes(secret_key))[: sodium.crypto_sign_BYTES]

    def sign_verify_detached(self, signature: bytes, message: bytes, public_key: bytes) -> None:
        try:
            sodium.crypto_sign_open(signature + message, public_key)
        except CryptoError:
            raise PrimitiveAuthError from None
