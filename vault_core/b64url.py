"""base64url without padding (RFC 4648 §5), strict: one accepted text per byte string.

The one implementation for the server, the CLI and the web worker. Strict, because what a
server or a pasted credential hands a client is input from outside: padding, whitespace,
characters of the other alphabet and non-zero trailing bits are refused, never repaired.
Standard library only (the server imports it).
"""

from __future__ import annotations

import base64
import binascii
import re

from .errors import MalformedError

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


class Base64UrlError(MalformedError, ValueError):
    """Not canonical unpadded base64url. A ValueError too, for callers that catch bad
    input generally."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or not _ALPHABET.fullmatch(text) or len(text) % 4 == 1:
        raise Base64UrlError("not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise Base64UrlError("not base64url") from None
    if b64url_encode(data) != text:  # non-zero bits after the last whole byte
        raise Base64UrlError("not canonical base64url")
    return data


def from_standard_base64(text: str) -> str:
    """Padded standard base64 (RFC 4648 §4) respelt as base64url, for ``b64url_decode``:
    only for reading a machine's own files written before base64url was the one
    encoding, never for input from outside."""
    return text.rstrip("=").replace("+", "-").replace("/", "_")
