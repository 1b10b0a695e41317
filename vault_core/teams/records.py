"""The personal vault's team bookkeeping (format.md §15.5): ``.zkvault-identity`` holds the
identity seed; the identities this person pinned are vault_core.teams.contacts' (named
here too, for earlier importers). Read strictly, as every bookkeeping record (§12.1): a
damaged record is ``identity`` and never passes for an empty one.

Standard library only: runs unchanged natively and under Pyodide.
"""

from __future__ import annotations

from ..b64url import Base64UrlError, b64url_decode, b64url_encode
from ..encoding import canonical_json, parse_canonical_json
from ..errors import IdentityError, VaultError
from ..items import RESERVED_PREFIX
from .contacts import CONTACTS_ITEM, Contact, Contacts
from .identity import IDENTITY_SEED_BYTES

__all__ = [
    "CONTACTS_ITEM",
    "IDENTITY_ITEM",
    "Contact",
    "Contacts",
    "dump_identity_record",
    "parse_identity_record",
]

IDENTITY_ITEM = RESERVED_PREFIX + "identity"
RECORD_VERSION = "1"


def _document(secret: str, top: str) -> object:
    try:
        data = parse_canonical_json(secret.encode("utf-8"))
    except (VaultError, UnicodeError):
        data = None
    if not isinstance(data, dict) or sorted(data) != sorted([top, "v"]):
        raise IdentityError(f'not {{"{top}":…,"v":"1"}} in canonical JSON')
    if data["v"] != RECORD_VERSION:
        raise IdentityError(f'the {top} record\'s "v" is not "1"')
    return data[top]


def _b64(value: object, size: int, what: str) -> bytes:
    try:
        data = b64url_decode(value)  # type: ignore[arg-type]
    except (Base64UrlError, TypeError):
        raise IdentityError(f"{what} is not base64url") from None
    if len(data) != size:
        raise IdentityError(f"{what} is not {size} bytes")
    return data


def parse_identity_record(secret: str) -> bytearray:
    """The seed of ``{"seed":SEED,"v":"1"}``; IdentityError if it departs from that."""
    return bytearray(_b64(_document(secret, "seed"), IDENTITY_SEED_BYTES, "the identity seed"))


def dump_identity_record(seed: bytes | bytearray) -> str:
    return canonical_json({"seed": b64url_encode(bytes(seed)), "v": RECORD_VERSION}).decode()
