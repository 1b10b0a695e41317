"""An unlocked vault: open, edit, save, rewrap (format.md §6).

The vault holds its key material in bytearrays and its items as the encrypted
records it read or wrote; an item's secret is decrypted only when ``get`` is
called. ``lock()`` wipes the keys.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from .backend import PrimitiveAuthError, get_backend
from .backend.base import AEAD_NONCE_BYTES, GENERICHASH_BYTES
from .bookkeeping import GRANTS_ITEM, PINS_ITEM, RunnerGrants, bookkeeping_item
from .container import (
    Container,
    KeySlot,
    ManifestEntry,
    Record,
    check_record_set,
    encode_authenticated,
    parse,
)
from .encoding import REVISION_MAX, u16, u64
from .errors import (
    BodyAuthError,
    DowngradeError,
    GrantListError,
    HeaderAuthError,
    IdentityChangedError,
    IdentityNotPinnedError,
    InvalidItemError,
    LimitExceededError,
    LineageError,
    LockedError,
    NotFoundError,
    PinError,
    ReservedNameError,
    RollbackError,
    UnconfirmedError,
    WrongAccountError,
    WrongPassphraseError,
    WrongVaultError,
)
from .fingerprints import normalise_fingerprint
from .header import VERSION
from .items import MAX_ITEMS, SSH_KEY, Item, ItemInfo, is_reserved
from .kdf import SALT_BYTES, KdfParams, derive_kek
from .keys import (
    KEY_BYTES,
    LABEL_GRANT_SEED,
    LABEL_HEADER_MAC,
    LABEL_ITEM_AD,
    LABEL_ITEM_KEY,
    LABEL_KEY_SLOT,
    RandomBytes,
    subkey,
    wipe,
)
from .lineage import (
    LINEAGE_ITEM,
    AuditAnchor,
    Device,
    Lineage,
    VaultMemory,
    Write,
    check_descent,
    remember,
    utc_now,
)
from .pins import RunnerPins
from .revocations import REVOKED_ITEM, Revocations, Revoked
from .teams.contacts import SHARD_NAMES, Contact, Contacts
from .teams.identity import Identity, IdentityKeys, parse_identity
from .teams.records import (
    IDENTITY_ITEM,
    dump_identity_record,
    parse_identity_record,
)

_T = TypeVar("_T")


@dataclass(frozen=True)
class Upload:
    """A blob and the server state it replaces: send all three (docs/server.md)."""

    base_revision: int
    base_sha256: str | None  # None for a vault's first save
    blob: bytes = field(repr=False)


@dataclass(frozen=True)
class _StoredItem:
    record: Record
    record_hash: bytes
    info: ItemInfo
    version: int  # the format whose ITEM_AD the record was sealed with


def _rollback(revision: int, floor: int) -> RollbackError:
    return RollbackError(
        f"the vault is at revision {revision}, older than revision {floor} already seen"
    )


def _wrap(
    vault_key: bytearray, passphrase: str, kdf: KdfParams, random_bytes: RandomBytes
) -> KeySlot:
    salt = random_bytes(SALT_BYTES)
    nonce = random_bytes(AEAD_NONCE_BYTES)
    kek = derive_kek(passphrase, salt, kdf)
    try:
        draft = KeySlot(kdf, salt, nonce, b"")
        ciphertext = get_backend().aead_encrypt(
            bytes(kek), nonce, bytes(vault_key), draft.associated_data(LABEL_KEY_SLOT)
        )
    finally:
        wipe(kek)
    return KeySlot(kdf, salt, nonce, ciphertext)


def _unwrap(slot: KeySlot, passphrase: str) -> bytearray:
    kek = derive_kek(passphrase, slot.salt, slot.kdf)
    try:
        assert len(kek) == KEY_BYTES
        return get_backend().aead_decrypt(
            bytes(kek), slot.nonce, slot.ciphertext, slot.associated_data(LABEL_KEY_SLOT)
        )
    except PrimitiveAuthError:
        raise WrongPassphraseError from None
    finally:
        wipe(kek)


class Vault:
    """An unlocked vault. Create with ``Vault.create`` or ``Vault.open``."""

    def __init__(
        self,
        *,
        account_id: uuid.UUID,
        vault_id: uuid.UUID,
        revision: int,
        slot: KeySlot,
        vault_key: bytearray,
        random_bytes: RandomBytes | None = None,
        version: int = VERSION,
        device: Device | None = None,
    ) -> None:
        self.account_id = account_id
        self.vault_id = vault_id
        self.revision = revision
        # The highest revision verified from a blob: a reload must not go below it. (revision
        # itself also counts saves the server may yet refuse.)
        self.seen_revision = revision
        # SHA-256 (hex) of the blob this vault state is: opened, reloaded or last saved.
        self.head_sha256: str | None = None
        self.version = version  # the format of the blob this state is; saves write VERSION
        # Fork evidence (format.md §14): this client's device, what it remembers of the vault
        # (None: nothing yet), the lineage of the current revision, the audit head to anchor.
        self.device = device
        self.memory: VaultMemory | None = None
        self.lineage: Lineage | None = None
        self.audit_anchor: AuditAnchor | None = None
        self.clock: Callable[[], str] = utc_now
        self._created_here = False
        # Set by supersede_unread: the write this state is, below the revision it replaces.
        self._held: Write | None = None
        self._slot = slot
        self._vault_key: bytearray | None = vault_key
        self._header_key: bytearray | None = subkey(vault_key, LABEL_HEADER_MAC)
        self._item_key: bytearray | None = subkey(vault_key, LABEL_ITEM_KEY)
        self._items: dict[uuid.UUID, _StoredItem] = {}
        # The contacts as last read or written, and the records they came from: a thousand
        # contacts are not decrypted and parsed again for each identity checked.
        self._contacts_read: tuple[tuple[tuple[str, bytes], ...], Contacts] | None = None
        # Every id, key, salt and nonce this vault draws. Callers pass nothing; the vector
        # generator (tests/vectors) passes a seeded stream so that its output is reproducible.
        self._random_bytes = random_bytes or get_backend().random_bytes

    def __repr__(self) -> str:
        state = "locked" if self._vault_key is None else f"{len(self._items)} items"
        return (
            f"<Vault account={self.account_id} vault={self.vault_id} "
            f"revision={self.revision} {state}>"
        )

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        account_id: uuid.UUID,
        passphrase: str,
        *,
        kdf: KdfParams | None = None,
        random_bytes: RandomBytes | None = None,
        device: Device | None = None,
    ) -> Vault:
        """A new, empty vault. ``random_bytes`` is for reproducible test vectors only;
        ``device`` is who saves it (format.md §14)."""
        kdf = kdf or KdfParams.default()
        kdf.check()
        random_bytes = random_bytes or get_backend().random_bytes
        vault_id = uuid.UUID(bytes=random_bytes(16), version=4)
        vault_key = bytearray(random_bytes(KEY_BYTES))
        slot = _wrap(vault_key, passphrase, kdf, random_bytes)
        vault = cls(
            account_id=account_id,
            vault_id=vault_id,
            revision=0,
            slot=slot,
            vault_key=vault_key,
            random_bytes=random_bytes,
            device=device,
        )
        vault._created_here = True
        return vault

    @classmethod
    def open(
        cls,
        blob: bytes,
        passphrase: str,
        *,
        account_id: uuid.UUID,
        vault_id: uuid.UUID | None = None,
        min_revision: int = 0,
        upgrade_kdf: KdfParams | None = None,
        memory: VaultMemory | None = None,
        device: Device | None = None,
    ) -> Vault:
        """Open and fully verify a vault (format.md §6.1), and check that it descends from
        what this client accepted before (``memory``, §14; None: a device new to it).

        ``min_revision`` is the highest revision this client has seen (rollback check).
        ``upgrade_kdf``: if the stored KDF parameters are weaker, rewrap with these while
        the passphrase is at hand; the next save writes them.
        """
        container = parse(blob)
        if container.account_id != account_id:
            raise WrongAccountError
        if vault_id is not None and container.vault_id != vault_id:
            raise WrongVaultError
        if memory is not None:
            min_revision = max(min_revision, memory.head.revision)
            if container.version < memory.format:  # before the KDF, as rollback (§6.1 step 9)
                raise DowngradeError(
                    f"format {container.version}, after format {memory.format} was seen"
                )
        if container.revision < min_revision:  # before the KDF (format.md §6.1 step 9)
            raise _rollback(container.revision, min_revision)
        vault_key = _unwrap(container.slot, passphrase)
        vault = cls(
            account_id=container.account_id,
            vault_id=container.vault_id,
            revision=container.revision,
            slot=container.slot,
            vault_key=vault_key,
            version=container.version,
            device=device,
        )
        vault.memory = memory
        try:
            vault._adopt(container, blob, min_revision)
        except BaseException:
            vault.lock()
            raise
        if upgrade_kdf is not None and container.slot.kdf.weaker_than(upgrade_kdf):
            vault.change_passphrase(passphrase, kdf=upgrade_kdf)
        return vault

    def reload(self, blob: bytes) -> None:
        """Verify and adopt a newer revision of this same vault with the keys already held:
        no passphrase needed (another device saved; the server answered 409). Anything not
        saved is dropped, so re-apply local edits afterwards. On any error nothing changes."""
        container = parse(blob)
        if container.account_id != self.account_id:
            raise WrongAccountError
        if container.vault_id != self.vault_id:
            raise WrongVaultError
        self._adopt(container, blob, self.seen_revision)

    def _adopt(self, container: Container, blob: bytes, floor: int) -> None:
        """Verify a blob (§6.1 steps 11-15, then §14's descent) and make it this state."""
        items = self._verify(container, floor)
        lineage = _lineage_of(container, items, self._read_secret)
        write = Write(container.revision, hashlib.sha256(blob).hexdigest())
        device_id = self.device.id if self.device else None
        facts = {"version": container.version, "write": write, "lineage": lineage}
        check_descent(self.memory, **facts, device_id=device_id)  # type: ignore[arg-type]
        self._items = items
        self.revision = self.seen_revision = container.revision
        self.version = container.version
        self._slot = container.slot  # the passphrase may have been changed elsewhere
        self.head_sha256 = write.digest
        self.lineage = lineage
        self.memory = remember(self.memory, **facts, device_id=device_id)  # type: ignore[arg-type]

    def open_revision(self, blob: bytes) -> Vault:
        """Any revision of this same vault (an earlier one, to restore from), verified with
        the vault key held: no passphrase, whichever one it was saved under (format.md §6.5,
        with no rollback floor). A separate Vault: nothing here changes; lock it after use."""
        container = parse(blob)
        if container.account_id != self.account_id:
            raise WrongAccountError
        if container.vault_id != self.vault_id:
            raise WrongVaultError
        _, _, vault_key = self._keys()
        other = Vault(
            account_id=self.account_id,
            vault_id=self.vault_id,
            revision=container.revision,
            slot=container.slot,
            vault_key=bytearray(vault_key),
            version=container.version,
        )
        try:
            other._items = other._verify(container, 0)
            other.lineage = _lineage_of(container, other._items, other._read_secret)
        except BaseException:
            other.lock()
            raise
        other.head_sha256 = hashlib.sha256(blob).hexdigest()
        return other

    def _verify(self, container: Container, min_revision: int) -> dict[uuid.UUID, _StoredItem]:
        """format.md §6.1 steps 11-15; returns the verified items without adopting them."""
        expected_mac = get_backend().blake2b(
            GENERICHASH_BYTES, container.authenticated_bytes(), bytes(self._keys()[0])
        )
        if not hmac.compare_digest(expected_mac, container.header_mac):
            raise HeaderAuthError
        if self.memory is not None and container.version < self.memory.format:  # step 12
            raise DowngradeError(f"format {container.version}, after {self.memory.format}")
        if container.revision < min_revision:
            raise _rollback(container.revision, min_revision)
        _check_record_set(container)
        # Step 14, every record before any plaintext: a record changed by someone without the
        # vault key is reported as such, ahead of any fault in what a key holder wrote.
        hashes = []
        for entry, record in zip(container.manifest, container.records, strict=True):
            record_hash = get_backend().blake2b(GENERICHASH_BYTES, record.encode())
            if not hmac.compare_digest(record_hash, entry.record_hash):
                raise BodyAuthError
            hashes.append(record_hash)
        verified: dict[uuid.UUID, _StoredItem] = {}
        names: set[str] = set()
        for record, record_hash in zip(container.records, hashes, strict=True):  # step 15
            item = self._decrypt(record, container.version)
            if item.name in names:
                raise InvalidItemError("two items share a name")
            names.add(item.name)
            verified[record.item_id] = _StoredItem(
                record, record_hash, item.info(record.item_id, record.item_rev), container.version
            )
        return verified

    def lock(self) -> None:
        """Wipe the keys; every later operation raises LockedError."""
        for key in (self._vault_key, self._header_key, self._item_key):
            wipe(key)
        self._vault_key = self._header_key = self._item_key = None
        self._items.clear()
        self._contacts_read = None

    @property
    def locked(self) -> bool:
        return self._vault_key is None

    def _keys(self) -> tuple[bytearray, bytearray, bytearray]:
        if self._vault_key is None or self._header_key is None or self._item_key is None:
            raise LockedError
        return self._header_key, self._item_key, self._vault_key

    # -- items -------------------------------------------------------------------------------

    def _item_ad(self, item_id: uuid.UUID, item_rev: int, version: int) -> bytes:
        return (
            LABEL_ITEM_AD
            + u16(version)
            + self.account_id.bytes
            + self.vault_id.bytes
            + item_id.bytes
            + u64(item_rev)
        )

    def _decrypt(self, record: Record, version: int) -> Item:
        _, item_key, _ = self._keys()
        try:
            plaintext = get_backend().aead_decrypt(
                bytes(item_key),
                record.nonce,
                record.ciphertext,
                self._item_ad(record.item_id, record.item_rev, version),
            )
        except PrimitiveAuthError:
            raise BodyAuthError from None
        try:
            item = Item.from_json(bytes(plaintext))
        finally:
            wipe(plaintext)
        if item.kind == SSH_KEY and version < 2:  # a kind format 1 did not have (§6.6)
            raise InvalidItemError(f"an item of kind {SSH_KEY} in a format-1 vault")
        return item

    def _store(self, item_id: uuid.UUID, item: Item) -> None:
        _, item_key, _ = self._keys()
        others = {s.info.name for i, s in self._items.items() if i != item_id}
        if item.name in others:
            raise InvalidItemError("an item with that name already exists")
        item_rev = self.revision + 1  # items written now belong to the next save
        nonce = self._random_bytes(AEAD_NONCE_BYTES)
        ciphertext = get_backend().aead_encrypt(
            bytes(item_key), nonce, item.to_json(), self._item_ad(item_id, item_rev, VERSION)
        )
        record = Record(item_id, item_rev, nonce, ciphertext)
        record_hash = get_backend().blake2b(GENERICHASH_BYTES, record.encode())
        self._items[item_id] = _StoredItem(
            record, record_hash, item.info(item_id, item_rev), VERSION
        )

    def items(self, *, reserved: bool = False) -> list[ItemInfo]:
        """Every item without its secret, sorted by name. Items with reserved names
        (bookkeeping, format.md §6.6) are left out unless ``reserved`` is true."""
        self._keys()
        return sorted(
            (s.info for s in self._items.values() if reserved or not is_reserved(s.info.name)),
            key=lambda info: info.name,
        )

    def get(self, item_id: uuid.UUID) -> Item:
        """Decrypt one item, secret included."""
        stored = self._items.get(item_id)
        if stored is None:
            self._keys()
            raise NotFoundError("no item with that id")
        return self._decrypt(stored.record, stored.version)

    def lookup(self, name: str) -> ItemInfo:
        """A listed item by exact name (reserved names are never found)."""
        for info in self.items():
            if info.name == name:
                return info
        raise NotFoundError("no item with that name")

    def add(self, item: Item) -> uuid.UUID:
        """Add an item; a reserved name (format.md §6.6) is ReservedNameError."""
        self._keys()
        if is_reserved(item.name):
            raise ReservedNameError
        return self._add(item)

    def _add(self, item: Item) -> uuid.UUID:
        # Every save writes the lineage record (§14.1): the last place is kept for it.
        has_lineage = any(s.info.name == LINEAGE_ITEM for s in self._items.values())
        room = MAX_ITEMS if has_lineage or item.name == LINEAGE_ITEM else MAX_ITEMS - 1
        if len(self._items) >= room:
            raise LimitExceededError(
                f"a vault holds at most {MAX_ITEMS} items, its lineage record included"
            )
        item_id = uuid.UUID(bytes=self._random_bytes(16), version=4)
        self._store(item_id, item)
        return item_id

    def update(self, item_id: uuid.UUID, item: Item) -> None:
        """Replace an item (renaming included); neither the old nor the new name may be
        reserved: bookkeeping is written only through its own setters."""
        stored = self._writable(item_id)
        if is_reserved(item.name) or is_reserved(stored.info.name):
            raise ReservedNameError
        self._store(item_id, item)

    def remove(self, item_id: uuid.UUID) -> None:
        if is_reserved(self._writable(item_id).info.name):
            raise ReservedNameError
        del self._items[item_id]

    def _writable(self, item_id: uuid.UUID) -> _StoredItem:
        self._keys()
        stored = self._items.get(item_id)
        if stored is None:
            raise NotFoundError("no item with that id")
        return stored

    # -- bookkeeping (format.md §12) ---------------------------------------------------------

    def _bookkeeping_secret(self, name: str) -> str | None:
        self._keys()
        return self._read_secret(self._items, name)

    def _read_secret(self, items: dict[uuid.UUID, _StoredItem], name: str) -> str | None:
        for stored in items.values():
            if stored.info.name == name:
                return self._decrypt(stored.record, stored.version).secret
        return None

    def _put_bookkeeping(self, name: str, secret: str) -> None:
        item = bookkeeping_item(name, secret)
        for item_id, stored in self._items.items():
            if stored.info.name == name:
                self._store(item_id, item)
                return
        self._add(item)

    def _put_records(self, records: dict[str, str]) -> None:
        """Several bookkeeping records at once, or, if the vault has no room for the new
        ones, none (``limit_exceeded``): a shard count must never name a shard not there."""
        names = {s.info.name for s in self._items.values()}
        added = sum(name not in names for name in records)
        room = MAX_ITEMS if LINEAGE_ITEM in names else MAX_ITEMS - 1
        if added and len(self._items) + added > room:
            raise LimitExceededError(
                f"a vault holds at most {MAX_ITEMS} items, its lineage record included"
            )
        for name, secret in records.items():
            self._put_bookkeeping(name, secret)

    def runner_pins(self) -> RunnerPins:
        """The runner keys pinned at approval (none yet: empty); PinError if damaged."""
        secret = self._bookkeeping_secret(PINS_ITEM)
        return RunnerPins() if secret is None else RunnerPins.parse(secret)

    def set_runner_pins(self, pins: RunnerPins) -> None:
        """Store the pins (replacing any damaged record); written at the next save."""
        self._keys()
        self._put_bookkeeping(PINS_ITEM, pins.dumps())

    def runner_grants(self) -> RunnerGrants:
        """Which items each runner is granted (none yet: empty); GrantListError if damaged."""
        secret = self._bookkeeping_secret(GRANTS_ITEM)
        return RunnerGrants() if secret is None else RunnerGrants.parse(secret)

    def set_runner_grants(self, grants: RunnerGrants) -> None:
        """Store the grants record (replacing any damaged one); written at the next save."""
        self._keys()
        self._put_bookkeeping(GRANTS_ITEM, grants.dumps())

    def revocations(self) -> Revocations:
        """The runners and machines revoked (none yet: empty); PinError if damaged."""
        secret = self._bookkeeping_secret(REVOKED_ITEM)
        return Revocations() if secret is None else Revocations.parse(secret)

    def revoke(self, kind: str, device_id: uuid.UUID, key: bytes, name: str) -> None:
        """Record that a runner or machine was revoked (format.md §12.1): its pin and grants
        go, and no client pins, approves or seals to its id or key again. Written at the
        next save; a damaged pins or grants record is replaced."""
        self._keys()
        revoked = self.revocations()
        revoked.add(device_id, Revoked(kind, bytes(key), name, self.clock()))
        self._put_bookkeeping(REVOKED_ITEM, revoked.dumps())
        pins = _or_empty(self.runner_pins, RunnerPins)
        if pins.runners.pop(device_id, None) is not None:
            self.set_runner_pins(pins)
        grants = _or_empty(self.runner_grants, RunnerGrants)
        if grants.items_of(device_id):
            grants.set(device_id, ())
            self.set_runner_grants(grants)

    # -- teams: identity and contacts (format.md §15.5) -------------------------------------

    def identity_keys(self) -> IdentityKeys | None:
        """This account's identity keys (None: none made yet); ``identity`` if damaged."""
        secret = self._bookkeeping_secret(IDENTITY_ITEM)
        if secret is None:
            return None
        seed = parse_identity_record(secret)
        try:
            return IdentityKeys(self.account_id, seed)
        finally:
            wipe(seed)

    def ensure_identity(self, random_bytes: RandomBytes | None = None) -> IdentityKeys:
        """The identity keys, made and stored (at the next save) if there are none. A
        damaged record is ``identity``, never silently replaced: a new key would be a key
        change every contact is warned about."""
        keys = self.identity_keys()
        if keys is None:
            keys = IdentityKeys.generate(self.account_id, random_bytes)
            self._put_bookkeeping(IDENTITY_ITEM, dump_identity_record(keys.seed_bytes()))
        return keys

    def contacts(self) -> Contacts:
        """The identities pinned, every shard read as one set (none yet: empty);
        ``identity`` if any shard is damaged or missing."""
        self._keys()
        held = self._contacts_read
        if held is not None and held[0] == self._contacts_records():
            return held[1].copy()
        contacts = Contacts.read(lambda name: self._read_secret(self._items, name))
        self._contacts_read = (self._contacts_records(), contacts.copy())
        return contacts

    def _contacts_records(self) -> tuple[tuple[str, bytes], ...]:
        """Which records the contacts are read from: every item a shard's name could have."""
        return tuple(
            sorted(
                (s.info.name, s.record_hash)
                for s in self._items.values()
                if s.info.name in SHARD_NAMES
            )
        )

    def pin_contact(
        self,
        bundle: bytes,
        account_id: uuid.UUID,
        email: str,
        *,
        safety_number: str | None = None,
    ) -> Contact:
        """Pin a person's identity as the server served it: "fingerprint" when the person
        compared ``safety_number`` (as typed; a different one is ``identity_changed``),
        else trust on first use, recorded as "tofu". A pinned account whose served identity
        differs is ``identity_changed``: only ``accept_contact`` replaces a pin."""
        return self._pin_contact(bundle, account_id, email, safety_number, replace=False)

    def accept_contact(
        self,
        bundle: bytes,
        account_id: uuid.UUID,
        email: str,
        *,
        safety_number: str | None = None,
    ) -> Contact:
        """Replace a pin with the identity now served, after the person accepted the change."""
        return self._pin_contact(bundle, account_id, email, safety_number, replace=True)

    def _pin_contact(
        self,
        bundle: bytes,
        account_id: uuid.UUID,
        email: str,
        safety_number: str | None,
        *,
        replace: bool,
    ) -> Contact:
        self.check_sealable(None, None)
        identity = parse_identity(bundle, account_id)
        if safety_number is not None:
            typed = normalise_fingerprint(safety_number)
            if typed != identity.safety_number:
                raise IdentityChangedError(typed, identity.safety_number)
        contacts = self.contacts()
        verified = "tofu" if safety_number is None else "fingerprint"
        contacts.pin(identity, email, verified, self.clock(), replace=replace)
        self._put_records(contacts.records())
        self._contacts_read = (self._contacts_records(), contacts.copy())
        return contacts.contacts[account_id]

    def pinned_identity(self, bundle: bytes, account_id: uuid.UUID) -> Identity:
        """The identity the server serves for ``account_id``, only if it is the one pinned:
        ``identity_not_pinned`` or ``identity_changed`` otherwise (nothing is sealed to it)."""
        identity = parse_identity(bundle, account_id)
        if self.contacts().check(identity) is None:
            raise IdentityNotPinnedError
        return identity

    def pin_runner(self, runner_id: uuid.UUID, key: bytes, name: str) -> None:
        """Pin a runner being approved (format.md §12.1, "Pinning"), refusing an id or key
        that was revoked (``key_revoked``) or an id already pinned (``id_taken``)."""
        self.check_sealable(runner_id, key)
        pins = self.runner_pins()
        pins.pin(runner_id, key, name)
        self.set_runner_pins(pins)

    def check_sealable(self, device_id: uuid.UUID | None, key: bytes | None) -> None:
        """May this client seal to (or approve) this id and key? ``unconfirmed`` on a device
        that has not confirmed the vault is current (§14.3), ``key_revoked`` for a revoked
        id or key (§12.1)."""
        if self.needs_confirmation:
            raise UnconfirmedError
        self.revocations().check_allowed(device_id, key)

    def key_to_seal_to(self, runner_id: uuid.UUID, offered: bytes | None) -> bytes:
        """The pinned key of a runner to seal its grant to, after ``check_sealable``."""
        key = self.runner_pins().key_to_seal_to(runner_id, offered)
        self.check_sealable(runner_id, key)
        return key

    # -- freshness (format.md §14.3) -----------------------------------------------------------

    @property
    def needs_confirmation(self) -> bool:
        """True on a device that met this vault for the first time and has neither been
        told by a person that it is current nor seen a later revision since."""
        self._keys()
        return not self._created_here and (self.memory is None or not self.memory.confirmed)

    def confirm_current(self) -> None:
        """A person confirmed, from the last save's time and device, that this is their
        current vault."""
        self._keys()
        if self.memory is not None:
            self.memory = self.memory.confirm()
        else:
            self._created_here = True

    def supersede_unread(self, revision: int, digest: str) -> None:
        """Make the next save replace the server's revision ``revision`` (blob SHA-256
        ``digest``) without reading it: it does not open with this key (garbage saved with a
        stolen token, say) and the person asked to restore what this state holds over it.
        The lineage names it as the parent, and credits this state's saver with the write
        it really made (format.md §14.1, "Writing")."""
        self._keys()
        if revision <= self.revision:
            raise _rollback(revision, self.revision)
        if self._held is None and self.head_sha256 is not None:
            self._held = Write(self.revision, self.head_sha256)
        self.revision, self.head_sha256 = revision, digest

    def accepted(self) -> None:
        """The server took the last save: it becomes this device's own write and the head
        this device remembers."""
        self._keys()
        assert self.head_sha256 is not None and self.lineage is not None
        write = Write(self.revision, self.head_sha256)
        confirmed = self._created_here or (self.memory is not None and self.memory.confirmed)
        self.seen_revision = max(self.seen_revision, self.revision)
        self.memory = VaultMemory(
            format=VERSION,
            head=write,
            head_by=self.lineage.saved_by.id,
            devices={d: e.write for d, e in self.lineage.devices.items()},
            own=write,
            confirmed=confirmed,
        )

    # -- keys and saving ---------------------------------------------------------------------

    @property
    def kdf(self) -> KdfParams:
        return self._slot.kdf

    @property
    def key_slot(self) -> KeySlot:
        """The wrapped vault key the next save writes (public: salt, nonce, ciphertext)."""
        return self._slot

    def use_key_slot(self, slot: KeySlot) -> None:
        """Write ``slot`` at the next save: one this vault's ``key_slot`` gave earlier (a
        passphrase change replayed after a reload, without the passphrase). A slot from
        anywhere else would leave the vault unopenable."""
        self._keys()
        slot.kdf.check()
        self._slot = slot

    def change_passphrase(self, new_passphrase: str, *, kdf: KdfParams | None = None) -> None:
        """Rewrap the vault key under a new passphrase (and KDF parameters); items are
        untouched. Takes effect at the next save."""
        _, _, vault_key = self._keys()
        self._slot = _wrap(vault_key, new_passphrase, kdf or self._slot.kdf, self._random_bytes)

    def check_passphrase(self, passphrase: str) -> bool:
        """Whether ``passphrase`` opens the current key slot (one KDF run). After a
        ``reload`` the slot may have been rewrapped elsewhere under another passphrase."""
        self._keys()  # locked vaults answer nothing
        try:
            wipe(_unwrap(self._slot, passphrase))
        except WrongPassphraseError:
            return False
        return True

    def grant_signing_seed(self) -> bytearray:
        """The Ed25519 seed that signs runner grants (format.md §7). Caller wipes it."""
        _, _, vault_key = self._keys()
        return subkey(vault_key, LABEL_GRANT_SEED)

    @property
    def owner_verify_key(self) -> bytes:
        """The public key a runner pins to verify this vault's grants."""
        seed = self.grant_signing_seed()
        try:
            public_key, secret_key = get_backend().sign_seed_keypair(bytes(seed))
        finally:
            wipe(seed)
        wipe(secret_key)
        return public_key

    def save_for_upload(self) -> Upload:
        """Serialise the next revision together with what it replaces, for the server's
        compare-and-swap. Always upload with this: a save stacked on one the server never
        took names that lost blob's digest, so the server refuses it (409) instead of
        letting it overwrite another device's write that claimed the same revision."""
        base_revision, base_sha256 = self.revision, self.head_sha256
        blob = self.save()
        return Upload(base_revision, base_sha256, blob)

    def save(self) -> bytes:
        """Serialise the next revision (local use; to upload, use ``save_for_upload``)."""
        header_key, _, _ = self._keys()
        if self.revision >= REVISION_MAX:
            raise LimitExceededError("revision counter exhausted")
        if self.device is None:  # a client that keeps no identity is a new device each time
            self.device = Device(self._random_bytes(16).hex(), "zkvault client")
        for item_id, old in list(self._items.items()):
            if old.version != VERSION:  # an upgrade re-encrypts under this version's ITEM_AD
                self._store(item_id, self._decrypt(old.record, old.version))
        parent = None if self.revision == 0 else Write(self.revision, str(self.head_sha256))
        lineage = Lineage.following(
            self.lineage, parent, self.device, self.clock(), self.audit_anchor, self._held
        )
        self._put_bookkeeping(LINEAGE_ITEM, lineage.dumps())
        self._held = None
        stale = [s for s in self._items.values() if s.record.item_rev > self.revision + 1]
        assert not stale, "items are never written ahead of the next revision"
        self.revision += 1
        stored = sorted(self._items.values(), key=lambda s: s.record.item_id.bytes)
        manifest = tuple(
            ManifestEntry(s.record.item_id, s.record.item_rev, s.record_hash) for s in stored
        )
        authenticated = encode_authenticated(
            VERSION, self.account_id, self.vault_id, self.revision, self._slot, manifest
        )
        header_mac = get_backend().blake2b(GENERICHASH_BYTES, authenticated, bytes(header_key))
        blob = authenticated + header_mac + b"".join(s.record.encode() for s in stored)
        self.head_sha256 = hashlib.sha256(blob).hexdigest()
        self.version, self.lineage = VERSION, lineage
        if self.memory is not None:
            self.memory = self.memory.sending(Write(self.revision, self.head_sha256))
        return blob


def _lineage_of(
    container: Container,
    items: dict[uuid.UUID, _StoredItem],
    read_secret: Callable[[dict[uuid.UUID, _StoredItem], str], str | None],
) -> Lineage | None:
    """The lineage a format-2 revision must carry, written at that very revision (§14.1);
    None for format 1."""
    if container.version < 2:
        return None
    stored = next((s for s in items.values() if s.info.name == LINEAGE_ITEM), None)
    if stored is None or stored.record.item_rev != container.revision:
        raise LineageError("this revision carries no lineage of its own")
    secret = read_secret(items, LINEAGE_ITEM)
    assert secret is not None
    lineage = Lineage.parse(secret)
    lineage.check_revision(container.revision)
    return lineage


def _or_empty(read: Callable[[], _T], empty: Callable[[], _T]) -> _T:
    """A bookkeeping record, or an empty one where it is damaged (a write replaces it)."""
    try:
        return read()
    except (PinError, GrantListError):
        return empty()


def _check_record_set(container: Container) -> None:
    """format.md §6.1 step 13: records against the authenticated manifest."""
    check_record_set(container.manifest, container.records)
