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
import string

from .errors import MalformedError

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")
_VALUE = {
    c: i for i, c in enumerate(string.ascii_uppercase + string.ascii_lowercase + "0123456789-_")
}
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


class Base64UrlError(MalformedError, ValueError):
    """Not canonical unpadded base64url. A ValueError too, for callers that catch bad
    input generally."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or not _ALPHABET.fullmatch(text) or len(text) % 4 == 1:
        raise Base64UrlError("not base64url")
    try:
        # base64.urlsafe_b64decode's own steps, without its Python-level checks per call.
        data = binascii.a2b_base64(
            (text + "=" * (-len(text) % 4)).encode("ascii").translate(_TO_STANDARD)
        )
    except (binascii.Error, ValueError):
        raise Base64UrlError("not base64url") from None
    # Non-zero bits after the last whole byte: the one way another text of the alphabet
    # decodes to these bytes (b64url_encode(data) != text). 2 characters left over carry
    # 4 such bits, 3 carry 2.
    spare = len(text) % 4
    if spare and _VALUE[text[-1]] & (0x0F if spare == 2 else 0x03):
        raise Base64UrlError("not canonical base64url")
    return data


def from_standard_base64(text: str) -> str:
    """Padded standard base64 (RFC 4648 §4) respelt as base64url, for ``b64url_decode``:
    only for reading a machine's own files written before base64url was the one
    encoding, never for input from outside."""
    return text.rstrip("=").replace("+", "-").replace("/", "_")
