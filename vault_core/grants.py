"""Runner grants: items sealed to a runner's X25519 key, signed by the owner (format.md §7)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from .backend import PrimitiveAuthError, get_backend
from .backend.base import BOX_PUBLIC_KEY_BYTES, BOX_SEED_BYTES, SIGNATURE_BYTES
from .encoding import REVISION_MAX, Reader, canonical_json, parse_canonical_json, u16, u32, u64
from .errors import (
    GrantAuthError,
    GrantBindingError,
    InvalidItemError,
    LimitExceededError,
    MalformedError,
    NonCanonicalError,
    RollbackError,
    UnsupportedVersionError,
)
from .items import MAX_ITEMS, Item
from .keys import LABEL_GRANT_SIGNATURE, RandomBytes, wipe
from .sealedbox import seal, seal_open
from .vault import Vault

GRANT_MAGIC = b"ZKGT"
GRANT_VERSION = 1
GRANT_MAX_BYTES = 1_048_576
_FIXED_BYTES = 4 + 2 + 16 + 16 + 8 + BOX_PUBLIC_KEY_BYTES + 4
_ITEM_ID = re.compile(r"[0-9a-f]{32}")


class RunnerKeyPair:
    """A runner's X25519 key pair, kept as the 32-byte seed it derives from (what a runner
    stores in its credential). Secrets never appear in repr()."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != BOX_SEED_BYTES:
            raise MalformedError(f"a runner key seed is {BOX_SEED_BYTES} bytes")
        self._seed = bytearray(seed)
        self.public_key, self._secret_key = get_backend().box_seed_keypair(bytes(seed))

    @classmethod
    def generate(cls, random_bytes: RandomBytes | None = None) -> RunnerKeyPair:
        return cls((random_bytes or get_backend().random_bytes)(BOX_SEED_BYTES))

    def seed_bytes(self) -> bytes:
        return bytes(self._seed)

    def secret_key_bytes(self) -> bytes:
        return bytes(self._secret_key)

    def wipe(self) -> None:
        wipe(self._seed)
        wipe(self._secret_key)

    def __repr__(self) -> str:
        return f"<RunnerKeyPair public={self.public_key.hex()}>"


@dataclass(frozen=True)
class GrantedItem:
    id: uuid.UUID
    item: Item = field(repr=False)


@dataclass(frozen=True)
class Grant:
    account_id: uuid.UUID
    runner_id: uuid.UUID
    revision: int
    items: tuple[GrantedItem, ...]


def _seal(public_key: bytes, message: bytes, random_bytes: RandomBytes | None = None) -> bytes:
    try:
        return seal(public_key, message, random_bytes)
    except ValueError:
        raise MalformedError("the runner public key is not usable") from None


def _seal_open(sealed: bytes, keypair: RunnerKeyPair) -> bytearray:
    try:
        return seal_open(sealed, keypair.public_key, keypair.secret_key_bytes())
    except PrimitiveAuthError:
        raise GrantAuthError from None


def seal_grant(
    vault: Vault,
    runner_id: uuid.UUID,
    runner_public_key: bytes,
    item_ids: Iterable[uuid.UUID],
    revision: int,
    *,
    random_bytes: RandomBytes | None = None,
) -> bytes:
    """Seal the chosen items of ``vault`` to one runner, signed with the vault's grant key.
    ``random_bytes`` is for reproducible test vectors only."""
    if len(runner_public_key) != BOX_PUBLIC_KEY_BYTES:
        raise MalformedError("a runner public key is 32 bytes")
    if not 1 <= revision <= REVISION_MAX:
        raise MalformedError("grant revision out of range")
    ids = sorted(set(item_ids), key=lambda i: i.bytes)
    if len(ids) > MAX_ITEMS:
        raise LimitExceededError(f"a grant holds at most {MAX_ITEMS} items")
    entries = []
    for item_id in ids:
        entry: dict[str, object] = dict(_item_dict(vault.get(item_id)))
        entry["id"] = item_id.hex
        entries.append(entry)
    body = canonical_json({"items": entries})
    signed = (
        GRANT_MAGIC
        + u16(GRANT_VERSION)
        + vault.account_id.bytes
        + runner_id.bytes
        + u64(revision)
        + runner_public_key
        + u32(len(body))
        + body
    )
    return sign_and_seal(
        vault, LABEL_GRANT_SIGNATURE, signed, runner_public_key, random_bytes=random_bytes
    )


def sign_and_seal(
    vault: Vault,
    label: bytes,
    signed: bytes,
    runner_public_key: bytes,
    *,
    random_bytes: RandomBytes | None = None,
) -> bytes:
    """``signed`` signed with the vault's grant key under ``label``, then sealed to the
    runner: the last steps of every grant (§7, and §15.8's team grants)."""
    seed = vault.grant_signing_seed()
    _, signing_key = get_backend().sign_seed_keypair(bytes(seed))
    try:
        signature = get_backend().sign_detached(label + signed, bytes(signing_key))
    finally:
        wipe(seed)
        wipe(signing_key)
    sealed = _seal(runner_public_key, signed + signature, random_bytes)
    if len(sealed) > GRANT_MAX_BYTES:
        raise LimitExceededError(f"a grant is limited to {GRANT_MAX_BYTES} bytes")
    return sealed


def _item_dict(item: Item) -> dict[str, object]:
    data = parse_canonical_json(item.to_json())
    assert isinstance(data, dict)
    return data


def open_grant(
    sealed: bytes,
    keypair: RunnerKeyPair,
    *,
    account_id: uuid.UUID,
    runner_id: uuid.UUID,
    owner_verify_key: bytes,
    min_revision: int = 0,
) -> Grant:
    """Open and verify a grant (format.md §7); steps and errors in that order."""
    if len(sealed) > GRANT_MAX_BYTES:
        raise LimitExceededError(f"a grant is limited to {GRANT_MAX_BYTES} bytes")
    payload = _seal_open(bytes(sealed), keypair)
    try:
        return _parse_payload(
            bytes(payload), keypair, account_id, runner_id, owner_verify_key, min_revision
        )
    finally:
        wipe(payload)


def _parse_payload(
    payload: bytes,
    keypair: RunnerKeyPair,
    account_id: uuid.UUID,
    runner_id: uuid.UUID,
    owner_verify_key: bytes,
    min_revision: int,
) -> Grant:
    if len(payload) < 6 or payload[:4] != GRANT_MAGIC:
        raise MalformedError("not a zkvault grant")
    reader = Reader(payload, 4)
    version = reader.uint(2)
    if version != GRANT_VERSION:
        raise UnsupportedVersionError(f"grant format version {version} is not supported")
    if len(payload) < _FIXED_BYTES + SIGNATURE_BYTES:
        raise MalformedError("truncated grant")
    grant_account, grant_runner = uuid.UUID(bytes=reader.take(16)), uuid.UUID(bytes=reader.take(16))
    revision = reader.uint(8)
    sealed_to = reader.take(BOX_PUBLIC_KEY_BYTES)
    body = reader.take(reader.uint(4))
    signed_end = reader.offset
    signature = reader.take(SIGNATURE_BYTES)
    if reader.remaining:
        raise MalformedError("trailing bytes after the grant signature")
    if not 1 <= revision <= REVISION_MAX:
        raise MalformedError("grant revision out of range")
    if grant_account != account_id or grant_runner != runner_id or sealed_to != keypair.public_key:
        raise GrantBindingError
    try:
        get_backend().sign_verify_detached(
            signature, LABEL_GRANT_SIGNATURE + payload[:signed_end], owner_verify_key
        )
    except PrimitiveAuthError:
        raise GrantAuthError from None
    if revision < min_revision:
        raise RollbackError(
            f"the grant is at revision {revision}, older than revision {min_revision} already seen"
        )
    return Grant(account_id, runner_id, revision, _parse_body(body))


def _parse_body(body: bytes) -> tuple[GrantedItem, ...]:
    data = parse_canonical_json(body)
    if not isinstance(data, dict) or list(data) != ["items"] or not isinstance(data["items"], list):
        raise InvalidItemError('a grant body is {"items": [...]}')
    if len(data["items"]) > MAX_ITEMS:
        raise LimitExceededError(f"a grant holds at most {MAX_ITEMS} items")
    granted: list[GrantedItem] = []
    names: set[str] = set()
    for entry in data["items"]:  # format.md §7 step 7, in this order for each element
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise InvalidItemError("a granted item needs an id")
        raw_id = entry.pop("id")
        if not _ITEM_ID.fullmatch(raw_id):
            raise InvalidItemError("a granted item id is 32 lowercase hex digits")
        item_id = uuid.UUID(hex=raw_id)
        if granted and item_id.bytes <= granted[-1].id.bytes:
            raise NonCanonicalError("granted items are not in ascending id order")
        item = Item.from_dict(entry)
        if item.name in names:
            raise InvalidItemError("two granted items share a name")
        names.add(item.name)
        granted.append(GrantedItem(item_id, item))
    return tuple(granted)
