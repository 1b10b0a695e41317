"""The public header: the first 46 bytes of a vault, readable without any key (format.md §4.1,
§6.7). The one definition of magic, version and public header, for clients and the server.

Standard library and vault_core.errors/encoding only, no backend and no crypto: the server
imports this module (and vault_core's lazy __init__) without loading anything that could
decrypt (tests/unit/test_public_header.py checks both).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from .encoding import REVISION_MAX, Reader, u16, u64
from .errors import LimitExceededError, MalformedError, UnsupportedVersionError

MAGIC = b"ZKVT"
VERSION = 2  # what this client writes (format.md §4.1, §14)
VERSIONS = (1, 2)  # what it reads: a format-1 vault is upgraded at its next save
VAULT_MAX_BYTES = 1_048_576
PUBLIC_HEADER_BYTES = 46  # magic 4, version 2, account_id 16, vault_id 16, revision 8


@dataclass(frozen=True)
class PublicHeader:
    """The fields a server may read without any key."""

    version: int
    account_id: uuid.UUID
    vault_id: uuid.UUID
    revision: int


def encode_public_header(
    account_id: uuid.UUID, vault_id: uuid.UUID, revision: int, *, version: int = VERSION
) -> bytes:
    return MAGIC + u16(version) + account_id.bytes + vault_id.bytes + u64(revision)


def read_magic_and_version(data: bytes) -> tuple[Reader, int]:
    """format.md §6.1 steps 1-3; the version and a reader positioned after it."""
    if not isinstance(data, bytes | bytearray):
        raise MalformedError("a vault is bytes")
    if len(data) > VAULT_MAX_BYTES:
        raise LimitExceededError(f"a vault is limited to {VAULT_MAX_BYTES} bytes")
    if len(data) < 6 or data[:4] != MAGIC:
        raise MalformedError("not a zkvault vault")
    reader = Reader(bytes(data), 4)
    version = reader.uint(2)
    if version not in VERSIONS:
        raise UnsupportedVersionError(f"vault format version {version} is not supported")
    return reader, version


def peek_header(data: bytes) -> PublicHeader:
    """Read version, ids and revision without keys (format.md §6.7): what the server checks
    on upload, and what a client reads before it has the passphrase."""
    reader, version = read_magic_and_version(data)
    if reader.remaining < PUBLIC_HEADER_BYTES - 6:
        raise MalformedError("truncated header")
    account_id, vault_id = uuid.UUID(bytes=reader.take(16)), uuid.UUID(bytes=reader.take(16))
    revision = reader.uint(8)
    if not 1 <= revision <= REVISION_MAX:
        raise MalformedError("revision out of range")
    return PublicHeader(version, account_id, vault_id, revision)
