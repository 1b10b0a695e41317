"""The key hierarchy below the vault key, its purpose labels, and wiping (format.md §2, §3)."""

from __future__ import annotations

from collections.abc import Callable

from .backend import get_backend
from .backend.base import AEAD_KEY_BYTES

# n -> n bytes from a CSPRNG. Operations that draw randomness take one optionally, so that the
# vector generator can make them reproducible without any global switch in shipped code.
RandomBytes = Callable[[int], bytes]

LABEL_KEY_SLOT = b"zkvault/1 key-slot"
LABEL_HEADER_MAC = b"zkvault/1 header-mac"
LABEL_ITEM_KEY = b"zkvault/1 item-key"
LABEL_ITEM_AD = b"zkvault/1 item"
LABEL_GRANT_SEED = b"zkvault/1 grant-signing-seed"
LABEL_GRANT_SIGNATURE = b"zkvault/1 grant"

KEY_BYTES = AEAD_KEY_BYTES  # the vault key, the KEK and every subkey


def subkey(vault_key: bytes | bytearray, label: bytes) -> bytearray:
    return bytearray(get_backend().blake2b(KEY_BYTES, label, bytes(vault_key)))


def wipe(buffer: bytearray | None) -> None:
    """Overwrite a secret in place. Python cannot wipe immutable bytes, so secrets live in
    bytearrays wherever the primitives allow."""
    if buffer is not None:
        # A same-length slice assignment overwrites in place (no reallocation), in one
        # memset-like copy rather than a Python loop per byte (a vault open wipes every
        # item's plaintext).
        buffer[:] = bytes(len(buffer))
