"""The public part of a vault header, read for defence in depth (docs/format.md §6.7).

The server cannot decrypt anything; it only checks that a write claims to be this account's
vault at the revision the caller says it is writing. The header's one definition is
vault_core.header (standard library only: importing it loads no crypto); this module turns
its typed errors into the API's (code, message) pair, with the format's codes unchanged.
"""

from __future__ import annotations

from vault_core.errors import VaultError
from vault_core.header import PUBLIC_HEADER_BYTES, PublicHeader
from vault_core.header import peek_header as _peek_header

__all__ = ["PUBLIC_HEADER_BYTES", "HeaderError", "PublicHeader", "peek_header"]


class HeaderError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def peek_header(blob: bytes) -> PublicHeader:
    """The blob's public header; HeaderError with the format's error code otherwise
    (``malformed``, ``unsupported_version``, ``limit_exceeded``)."""
    try:
        return _peek_header(blob)
    except VaultError as exc:
        raise HeaderError(exc.code, str(exc)) from None
