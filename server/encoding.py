"""base64url without padding, strict: one canonical encoding per byte string."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


class EncodingError(ValueError):
    """Not canonical unpadded base64url."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not _B64URL.match(text) or len(text) % 4 == 1:
        raise EncodingError("not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise EncodingError("not base64url") from exc
    if b64url_encode(data) != text:
        raise EncodingError("not canonical base64url")
    return data


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
