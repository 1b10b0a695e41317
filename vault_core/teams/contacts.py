"""The pinned contacts in the personal vault (format.md §15.5, "Contacts"): one record,
``.zkvault-contacts``, while they fit in an item's secret, as every earlier client wrote
it; beyond, shards ``.zkvault-contacts-2`` … ``-N`` that the first record counts, so a
missing shard is damage, never fewer pins, and an earlier client refuses the set rather
than reading a part of it as the whole.

Read strictly, as every bookkeeping record (§12.1): any departure, in any shard, is
``identity``; nothing is repaired or partly used (an empty or partial set would turn
pins back into trust on first use).

Standard library only: runs unchanged natively and under Pyodide.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from ..b64url import Base64UrlError, b64url_decode, b64url_encode
from ..backend.base import BOX_PUBLIC_KEY_BYTES, SIGN_PUBLIC_KEY_BYTES
from ..encoding import canonical_json, parse_canonical_json
from ..errors import IdentityChangedError, IdentityError, LimitExceededError, VaultError
from ..items import RESERVED_PREFIX, SECRET_MAX_BYTES
from ..lineage import TIME
from .entries import EMAIL_MAX, VERIFIED
from .identity import Identity, identity_fingerprint

CONTACTS_ITEM = RESERVED_PREFIX + "contacts"
SINGLE_VERSION = "1"  # the one record every client before shards wrote
SHARDED_VERSION = "2"
# 32 shards of 16,384 bytes: at most half a vault blob (§8), and at least 1,000 contacts
# whose emails are up to 254 bytes (an entry is then at most 457 bytes, 35 to a shard).
MAX_SHARDS = 32
_ACCOUNT = re.compile(r"[0-9a-f]{32}")
_COUNT = re.compile(r"[1-9][0-9]*")
_KEYS_BYTES = SIGN_PUBLIC_KEY_BYTES + BOX_PUBLIC_KEY_BYTES
_ENTRY_KEYS = ["at", "email", "keys", "verified"]

# The secret of a bookkeeping item by name (None: no such item).
ReadSecret = Callable[[str], "str | None"]


def shard_name(index: int) -> str:
    """Shard 1 is ``.zkvault-contacts`` itself; shard K ≥ 2 is ``.zkvault-contacts-K``."""
    return CONTACTS_ITEM if index == 1 else f"{CONTACTS_ITEM}-{index}"


SHARD_NAMES = frozenset(shard_name(k) for k in range(1, MAX_SHARDS + 1))


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

    def entry(self) -> dict[str, str]:
        return {
            "at": self.at,
            "email": self.email,
            "keys": b64url_encode(self.sign_key + self.box_key),
            "verified": self.verified,
        }


def _contact(account: str, entry: object) -> Contact:
    if not _ACCOUNT.fullmatch(account):
        raise IdentityError("a contact's account id is not 32 lowercase hex digits")
    if not isinstance(entry, dict) or sorted(entry) != _ENTRY_KEYS:
        raise IdentityError('a contact is {"at","email","keys","verified"}')
    try:
        keys = b64url_decode(entry["keys"])
    except (Base64UrlError, TypeError):
        raise IdentityError("a contact's keys are not base64url") from None
    if len(keys) != _KEYS_BYTES:
        raise IdentityError(f"a contact's keys are not {_KEYS_BYTES} bytes")
    email, at, verified = entry["email"], entry["at"], entry["verified"]
    if (
        not isinstance(email, str)
        or not 1 <= len(email) <= EMAIL_MAX
        or not isinstance(at, str)
        or not TIME.fullmatch(at)
        or verified not in VERIFIED
    ):
        raise IdentityError("a contact's email, time or verification is out of range")
    return Contact(
        uuid.UUID(hex=account),
        keys[:SIGN_PUBLIC_KEY_BYTES],
        keys[SIGN_PUBLIC_KEY_BYTES:],
        email,
        verified,
        at,
    )


def _record(secret: str, index: int) -> tuple[str, int, dict[uuid.UUID, Contact]]:
    """(version, shard count, contacts) of one record; shard 1 alone says the version
    and the count, a later shard is version 2 and says neither."""
    try:
        data = parse_canonical_json(secret.encode("utf-8"))
    except (VaultError, UnicodeError):
        data = None
    where = shard_name(index)
    if not isinstance(data, dict):
        raise IdentityError(f"{where} is not canonical JSON")
    if index == 1 and sorted(data) == ["contacts", "v"] and data["v"] == SINGLE_VERSION:
        count = 1
    elif index == 1 and sorted(data) == ["contacts", "shards", "v"]:
        shards = data["shards"]
        if not isinstance(shards, str) or not _COUNT.fullmatch(shards):
            raise IdentityError(f'{where}\'s "shards" is not a decimal count')
        count = int(shards)
        if not 2 <= count <= MAX_SHARDS:
            raise IdentityError(f'{where}\'s "shards" is not 2 to {MAX_SHARDS}')
    elif index > 1 and sorted(data) == ["contacts", "v"]:
        count = 0
    else:
        raise IdentityError(f'{where} is not {{"contacts":…,"v":…}} as §15.5 says')
    if count != 1 and data["v"] != SHARDED_VERSION:
        raise IdentityError(f'{where}\'s "v" is not "{SHARDED_VERSION}"')
    entries = data["contacts"]
    if not isinstance(entries, dict):
        raise IdentityError(f'{where}\'s "contacts" is not an object')
    contacts = {}
    for account, entry in entries.items():
        contact = _contact(account, entry)
        contacts[contact.account_id] = contact
    return data["v"], count, contacts


def _entry_bytes(contact: Contact) -> int:
    """The bytes one contact adds to a record, its separating comma included."""
    return len(canonical_json({contact.account_id.hex: contact.entry()})) - 1


def _room(index: int) -> int:
    """The bytes shard ``index`` has for contacts (each with its comma): the secret's
    limit less the record around them, shard 1's with the widest count."""
    return SECRET_MAX_BYTES - (len(_dump([], index, MAX_SHARDS)) - 1)


def _dump(shard: list[Contact], index: int, count: int) -> str:
    doc: dict[str, object] = {"contacts": {c.account_id.hex: c.entry() for c in shard}}
    if count == 1:
        doc["v"] = SINGLE_VERSION
    else:
        doc["v"] = SHARDED_VERSION
        if index == 1:
            doc["shards"] = str(count)
    return canonical_json(doc).decode("utf-8")


class Contacts:
    """Account → pinned identity, as kept in the contacts records, and where each was
    read from: a write keeps contacts in their shard and rewrites only the shards that
    change (a pin among a thousand rewrites one item, not all of them)."""

    def __init__(self, contacts: dict[uuid.UUID, Contact] | None = None) -> None:
        self.contacts: dict[uuid.UUID, Contact] = dict(contacts or {})
        self._count = 0  # shards stored: 0 (no record), 1 (one record) or 2 to MAX_SHARDS
        self._shard_of: dict[uuid.UUID, int] = {}
        self._stored: dict[uuid.UUID, Contact] = {}  # as stored: a pin since is another object
        self._texts: dict[str, str] = {}  # the records as stored, by name
        self._sizes: dict[uuid.UUID, tuple[Contact, int]] = {}

    def copy(self) -> Contacts:
        other = Contacts(self.contacts)
        other._count = self._count
        other._shard_of = dict(self._shard_of)
        other._stored = dict(self._stored)
        other._texts = dict(self._texts)
        other._sizes = dict(self._sizes)
        return other

    @classmethod
    def parse(cls, secret: str) -> Contacts:
        """One record standing alone: ``.zkvault-contacts`` in the single form."""
        _, count, contacts = _record(secret, 1)
        if count != 1:
            raise IdentityError("a sharded contacts record needs its other shards")
        return cls(contacts)

    @classmethod
    def read(cls, read_secret: ReadSecret) -> Contacts:
        """Every shard the first record counts, read as one set; a counted shard missing,
        damaged or naming an account another shard names is ``identity``."""
        first = read_secret(CONTACTS_ITEM)
        found = cls()
        if first is None:
            return found
        _, count, contacts = _record(first, 1)
        found._add(contacts, 1, first)
        for index in range(2, count + 1):
            secret = read_secret(shard_name(index))
            if secret is None:
                raise IdentityError(f"{shard_name(index)} is missing: the set is incomplete")
            found._add(_record(secret, index)[2], index, secret)
        found._count = count
        return found

    def _add(self, contacts: dict[uuid.UUID, Contact], index: int, text: str) -> None:
        for account_id, contact in contacts.items():
            if account_id in self.contacts:
                raise IdentityError(f"{shard_name(index)} pins an account another shard pins")
            self.contacts[account_id] = contact
        self._shard_of.update(dict.fromkeys(contacts, index))
        self._stored.update(contacts)
        self._texts[shard_name(index)] = text

    def dumps(self) -> str:
        """The single record (what every earlier client reads); ``limit_exceeded`` beyond
        one item's secret."""
        text = _dump(list(self.contacts.values()), 1, 1)
        if len(text.encode("utf-8")) > SECRET_MAX_BYTES:
            raise LimitExceededError(f"the contacts record is limited to {SECRET_MAX_BYTES} bytes")
        return text

    def records(self) -> dict[str, str]:
        """The records to store, by item name, unchanged ones left out: the single record
        while all contacts fit in it and no shard was ever needed, else shards (format.md
        §15.5, "Writing"); ``limit_exceeded`` beyond MAX_SHARDS. From here on this object
        takes them as stored (a caller that fails to store them drops it)."""
        if self._count <= 1:
            single = _dump(list(self.contacts.values()), 1, 1)
            if len(single.encode("utf-8")) <= SECRET_MAX_BYTES:
                return self._stored_as({CONTACTS_ITEM: single}, [list(self.contacts)])
        shards, dirty = self._layout()
        count = len(shards)
        texts = {
            shard_name(k): _dump([self.contacts[a] for a in shards[k - 1]], k, count)
            for k in sorted(dirty)
        }
        return self._stored_as(texts, shards)

    def _stored_as(self, texts: dict[str, str], shards: list[list[uuid.UUID]]) -> dict[str, str]:
        changed = {name: text for name, text in texts.items() if self._texts.get(name) != text}
        self._texts.update(texts)
        self._count = len(shards)
        self._shard_of = {a: k for k, shard in enumerate(shards, 1) for a in shard}
        self._stored = dict(self.contacts)
        return changed

    def _size(self, account_id: uuid.UUID) -> int:
        contact = self.contacts[account_id]
        known = self._sizes.get(account_id)
        if known is None or known[0] is not contact:
            known = (contact, _entry_bytes(contact))
            self._sizes[account_id] = known
        return known[1]

    def _layout(self) -> tuple[list[list[uuid.UUID]], set[int]]:
        """(accounts of each shard, the shards to write). Contacts keep their shard while
        it has room; the others (new, or grown past their shard's room; the highest
        account ids make way) go to the first shard with room, else to a new last one."""
        shards: list[list[uuid.UUID]] = [[] for _ in range(max(self._count, 2))]
        pending: list[uuid.UUID] = []
        dirty = set()
        for account_id in sorted(self.contacts, key=lambda a: a.bytes):
            index = self._shard_of.get(account_id)
            if index is None:
                pending.append(account_id)
                continue
            shards[index - 1].append(account_id)
            if self.contacts[account_id] is not self._stored.get(account_id):
                dirty.add(index)
        used = [sum(map(self._size, shard)) for shard in shards]
        for k, shard in enumerate(shards, 1):
            while used[k - 1] > _room(k):
                moved = shard.pop()
                used[k - 1] -= self._size(moved)
                pending.append(moved)
                dirty.add(k)
        for account_id in sorted(pending, key=lambda a: a.bytes):
            size = self._size(account_id)
            k = next((k for k in range(1, len(shards) + 1) if used[k - 1] + size <= _room(k)), 0)
            if not k:
                if len(shards) == MAX_SHARDS:
                    raise LimitExceededError(
                        f"contacts are limited to {MAX_SHARDS} records of {SECRET_MAX_BYTES} bytes"
                    )
                shards.append([])
                used.append(0)
                k = len(shards)
            shards[k - 1].append(account_id)
            used[k - 1] += size
            dirty.add(k)
        if len(shards) != self._count:  # shard 1 counts the shards; the new ones are new
            dirty.update({1, *range(self._count + 1, len(shards) + 1)})
        return shards, dirty

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
