"""libsodium's sealed box (format.md §1.1 ``Seal``), built from crypto_box_easy so that its
randomness can be passed in: test vectors are reproducible while the output stays
byte-compatible with crypto_box_seal_open. Used by runner grants (§7) and team key
boxes (§15)."""

from __future__ import annotations

from .backend import PrimitiveAuthError, get_backend
from .backend.base import BOX_MAC_BYTES, BOX_NONCE_BYTES, BOX_PUBLIC_KEY_BYTES, BOX_SEED_BYTES
from .keys import RandomBytes, wipe

SEAL_OVERHEAD = BOX_PUBLIC_KEY_BYTES + BOX_MAC_BYTES


def seal(public_key: bytes, message: bytes, random_bytes: RandomBytes | None = None) -> bytes:
    """epk || crypto_box_easy(message, H24(epk || pk), pk, esk). ValueError when the
    backend refuses the public key."""
    backend = get_backend()
    seed = bytearray((random_bytes or backend.random_bytes)(BOX_SEED_BYTES))
    ephemeral_public, ephemeral_secret = backend.box_seed_keypair(bytes(seed))
    wipe(seed)
    try:
        nonce = backend.blake2b(BOX_NONCE_BYTES, ephemeral_public + public_key)
        return ephemeral_public + backend.box_easy(
            message, nonce, public_key, bytes(ephemeral_secret)
        )
    finally:
        wipe(ephemeral_secret)


def seal_open(sealed: bytes, public_key: bytes, secret_key: bytes) -> bytearray:
    """crypto_box_seal_open; PrimitiveAuthError when it does not open (including too short)."""
    backend = get_backend()
    if len(sealed) < SEAL_OVERHEAD:
        raise PrimitiveAuthError
    ephemeral_public = sealed[:BOX_PUBLIC_KEY_BYTES]
    nonce = backend.blake2b(BOX_NONCE_BYTES, ephemeral_public + public_key)
    return backend.box_open_easy(sealed[BOX_PUBLIC_KEY_BYTES:], nonce, ephemeral_public, secret_key)
