"""The public part of a vault header (docs/format.md §4.1), read for defence in depth.

The server cannot decrypt anything; it only checks that a write claims to be
this account's vault at the revision the caller says it is writing.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

MAGIC = b"ZKVT"
SUPPORTED_VERSION = 1
_HEADER = struct.Struct(">4sH16s16sQ")  # 46 bytes


@dataclass(frozen=True, slots=True)
class PublicHeader:
    version: int
    account_id: uuid.UUID
    vault_id: uuid.UUID
    revision: int


class HeaderError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def peek_header(blob: bytes) -> PublicHeader:
    if len(blob) < _HEADER.size:
        raise HeaderError("malformed_vault", "the vault is shorter than its header")
    magic, version, account, vault, revision = _HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise HeaderError("malformed_vault", "the vault does not start with ZKVT")
    if version != SUPPORTED_VERSION:
        raise HeaderError("unsupported_version", f"vault format version {version} is unsupported")
    if revision < 1 or revision >= 2**63:
        raise HeaderError("malformed_vault", "the vault revision is out of range")
    return PublicHeader(version, uuid.UUID(bytes=account), uuid.UUID(bytes=vault), revision)
