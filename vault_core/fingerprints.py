"""Key fingerprints: what two ends compare to agree on a public key without trusting the
server that carried it (format.md §12, "Fingerprint").

Standard library and vault_core.errors only: the server may use it (for the audit trail's
wording) without loading anything that decrypts.
"""

from __future__ import annotations

import base64
import hashlib

from .errors import FingerprintFormatError, KeyLengthError

FINGERPRINT_DOMAIN = b"zkvault-fingerprint-v1"
FINGERPRINT_BYTES = 15  # 120 bits: 24 base32 characters, six groups of four
KEY_TYPES = {"machine": 32, "runner": 32, "owner-grant": 32, "identity": 80}
_B32 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
# What a person may type between the characters of a fingerprint: space, tab, hyphen-minus.
_SEPARATORS = frozenset(" \t-")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def fingerprint(key_type: str, key: bytes) -> str:
    """SHA-256 over domain, key type and key; first 15 bytes, base32, groups of four."""
    size = KEY_TYPES.get(key_type)
    if size is None:
        raise KeyLengthError(f"unknown key type {key_type!r}")
    if len(key) != size:
        raise KeyLengthError(f"a {key_type} key is {size} bytes")
    label = key_type.encode("ascii")
    digest = hashlib.sha256(
        FINGERPRINT_DOMAIN + b"\x00" + bytes([len(label)]) + label + bytes(key)
    ).digest()
    text = base64.b32encode(digest[:FINGERPRINT_BYTES]).decode("ascii")
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def normalise_fingerprint(text: str) -> str:
    """The canonical form of a fingerprint a person typed or pasted: ASCII letters
    upper-cased, spaces, tabs and hyphens removed, nothing else changed;
    FingerprintFormatError if the rest is not 24 base32 characters."""
    cleaned = "".join(ch for ch in text.translate(_ASCII_UPPER) if ch not in _SEPARATORS)
    if len(cleaned) != 24 or not set(cleaned) <= _B32:
        raise FingerprintFormatError
    return "-".join(cleaned[i : i + 4] for i in range(0, 24, 4))
