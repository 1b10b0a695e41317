"""The personal vault's team bookkeeping (format.md §15.5): ``.zkvault-identity`` holds the
identity seed, ``.zkvault-contacts`` the identities this person pinned. Read strictly, as
every bookkeeping record (§12.1): a damaged record is ``identity`` and never passes for
an empty one (an empty contacts record would turn every pin back into trust on first use).

Standard library only: runs unchanged natively and under Pyodide.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from ..b64url import Base64UrlError, b64url_decode, b64url_encode
from ..backend.base import BOX_PUBLIC_KEY_BYTES, SIGN_PUBLIC_KEY_BYTES
from ..encoding import canonical_json, parse_canonical_json
from ..errors import IdentityChangedError, IdentityError, LimitExceededError, VaultError
from ..items import RESERVED_PREFIX, SECRET_MAX_BYTES
from ..lineage import TIME
from .entries import EMAIL_MAX, VERIFIED
from .identity import IDENTITY_SEED_BYTES, Identity, identity_fingerprint

IDENTITY_ITEM = RESERVED_PREFIX + "identity"
CONTACTS_ITEM = RESERVED_PREFIX + "contacts"
RECORD_VERSION = "1"
_ACCOUNT = re.compile(r"[0-9a-f]{32}")
_KEYS_BYTES = SIGN_PUBLIC_KEY_BYTES + BOX_PUBLIC_KEY_BYTES


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


@dataclass(frozen=True)
class Contact:
    """An identity this person pinned: the keys, how they checked them and when."""

    account_id: uuid.UUID
    sign_key: bytes
    box_key: bytes
    email: str
    verified: str  # "fingerprint" (safety numbers compared) or "tofu" (trusted on first use)
    at: str  # UTC, YYYY-MM-DDTHH:MM:SSZ

    @property
    def safety_number(self) -> str:
        return identity_fingerprint(self.account_id, self.sign_key, self.box_key)


class Contacts:
    """Account → pinned identity, as kept in ``.zkvault-contacts``."""

    def __init__(self, contacts: dict[uuid.UUID, Contact] | None = None) -> None:
        self.contacts: dict[uuid.UUID, Contact] = dict(contacts or {})

    @classmethod
    def parse(cls, secret: str) -> Contacts:
        entries = _document(secret, "contacts")
        if not isinstance(entries, dict):
            raise IdentityError('"contacts" is not an object')
        contacts = {}
        for account, entry in entries.items():
            if not _ACCOUNT.fullmatch(account):
                raise IdentityError("a contact's account id is not 32 lowercase hex digits")
            if not isinstance(entry, dict) or sorted(entry) != ["at", "email", "keys", "verified"]:
                raise IdentityError('a contact is {"at","email","keys","verified"}')
            keys = _b64(entry["keys"], _KEYS_BYTES, "a contact's keys")
            email, at, verified = entry["email"], entry["at"], entry["verified"]
            if (
                not isinstance(email, str)
                or not 1 <= len(email) <= EMAIL_MAX
                or not isinstance(at, str)
                or not TIME.fullmatch(at)
                or verified not in VERIFIED
            ):
                raise IdentityError("a contact's email, time or verification is out of range")
            account_id = uuid.UUID(hex=account)
            contacts[account_id] = Contact(
                account_id,
                keys[:SIGN_PUBLIC_KEY_BYTES],
                keys[SIGN_PUBLIC_KEY_BYTES:],
                email,
                verified,
                at,
            )
        return cls(contacts)

    def dumps(self) -> str:
        doc = {
            "contacts": {
                c.account_id.hex: {
                    "at": c.at,
                    "email": c.email,
                    "keys": b64url_encode(c.sign_key + c.box_key),
                    "verified": c.verified,
                }
                for c in self.contacts.values()
            },
            "v": RECORD_VERSION,
        }
        text = canonical_json(doc)
        if len(text) > SECRET_MAX_BYTES:
            raise LimitExceededError(f"the contacts record is limited to {SECRET_MAX_BYTES} bytes")
        return text.decode("utf-8")

    def check(self, identity: Identity) -> Contact | None:
        """The pin of this identity's account (None: not pinned); ``identity_changed``
        when the pinned keys differ from the ones offered."""
        pinned = self.contacts.get(identity.account_id)
        if pinned is None:
            return None
        if (pinned.sign_key, pinned.box_key) != (identity.sign_key, identity.box_key):
            raise IdentityChangedError(pinned.safety_number, identity.safety_number)
        return pinned

    def pin(self, identity: Identity, email: str, verified: str, at: str, *, replace: bool) -> None:
        """Pin (or, with ``replace``, re-pin after a person accepted a new key)."""
        if verified not in VERIFIED:
            raise IdentityError('a contact is verified by "fingerprint" or "tofu"')
        if not replace:
            pinned = self.check(identity)
            if pinned is not None and pinned.verified == "fingerprint":
                verified = "fingerprint"  # a compared safety number stays compared
        self.contacts[identity.account_id] = Contact(
            identity.account_id, identity.sign_key, identity.box_key, email, verified, at
        )
