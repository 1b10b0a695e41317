"""Sealing a client's local state file to a key kept on its machine (format.md §13).

The CLI keeps what a machine remembers (server, tokens, the encrypted vault as last synced)
in one file, sealed here: bound to the machine's id and to a generation counter kept with
the key, so a file copied from another machine, altered, or swapped for an older copy of
itself is refused. Where the key and the counter live is the CLI's business (docs/cli.md).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .backend import PrimitiveAuthError, get_backend
from .backend.base import AEAD_KEY_BYTES, AEAD_NONCE_BYTES, AEAD_TAG_BYTES
from .errors import MalformedError, RollbackError, StateAuthError
from .keys import RandomBytes

STATE_MAGIC = b"ZKVST1"
STATE_KEY_BYTES = AEAD_KEY_BYTES
_HEADER = struct.Struct(">6scQ24s")  # magic, key store, generation, nonce
STATE_HEADER_BYTES = _HEADER.size  # 39


@dataclass(frozen=True)
class StateHeader:
    store: bytes  # one byte naming where the key is kept (the CLI's: f file, k keyring)
    generation: int
    nonce: bytes


def read_state_header(data: bytes) -> StateHeader:
    """The header of a state file, before its key is looked up (MalformedError if it is
    not one: too short to hold a header and a tag, or another magic)."""
    if len(data) < STATE_HEADER_BYTES + AEAD_TAG_BYTES or data[:6] != STATE_MAGIC:
        raise MalformedError("not a zkvault state file")
    _, store, generation, nonce = _HEADER.unpack(data[:STATE_HEADER_BYTES])
    return StateHeader(store, generation, nonce)


def new_state_key(random_bytes: RandomBytes | None = None) -> bytearray:
    return bytearray((random_bytes or get_backend().random_bytes)(STATE_KEY_BYTES))


def _associated_data(header: bytes, machine_id: bytes) -> bytes:
    return header + b"\x00" + machine_id


def seal_state(
    plaintext: bytes,
    key: bytes | bytearray,
    *,
    store: bytes,
    generation: int,
    machine_id: bytes,
    random_bytes: RandomBytes | None = None,
) -> bytes:
    """The whole state file for ``plaintext`` at ``generation``, with a fresh nonce."""
    if len(store) != 1 or not 0 <= generation < 2**64 or len(key) != STATE_KEY_BYTES:
        raise MalformedError("a store byte, a 64-bit generation and a 32-byte key")
    nonce = (random_bytes or get_backend().random_bytes)(AEAD_NONCE_BYTES)
    header = _HEADER.pack(STATE_MAGIC, store, generation, nonce)
    return header + get_backend().aead_encrypt(
        bytes(key), nonce, plaintext, _associated_data(header, machine_id)
    )


def open_state(
    data: bytes, key: bytes | bytearray, *, machine_id: bytes, min_generation: int
) -> bytearray:
    """The plaintext of a state file, in this order: not a state file → MalformedError;
    authentication fails → StateAuthError; generation below ``min_generation`` (the counter
    kept with the key) → RollbackError. The caller wipes the result."""
    header = read_state_header(data)
    if len(key) != STATE_KEY_BYTES:
        raise StateAuthError("the state key is not 32 bytes")
    try:
        plaintext = get_backend().aead_decrypt(
            bytes(key),
            header.nonce,
            data[STATE_HEADER_BYTES:],
            _associated_data(data[:STATE_HEADER_BYTES], machine_id),
        )
    except PrimitiveAuthError:
        raise StateAuthError from None
    if header.generation < min_generation:
        raise RollbackError(
            f"local state was rolled back (generation {header.generation}, "
            f"expected {min_generation})"
        )
    return plaintext
