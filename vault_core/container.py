"""The vault's byte layout: parse and serialise, with no keys involved (format.md §4).

Parsing here enforces every structural rule that can be checked before the KDF
runs (steps 1–8 of format.md §6.1), so hostile input is refused cheaply.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from .backend.base import AEAD_KEY_BYTES, AEAD_NONCE_BYTES, AEAD_TAG_BYTES, GENERICHASH_BYTES
from .encoding import REVISION_MAX, Reader, u8, u16, u32, u64
from .errors import (
    ItemDuplicatedError,
    ItemMissingError,
    ItemReplayedError,
    LimitExceededError,
    MalformedError,
    NonCanonicalError,
)
from .header import encode_public_header, read_magic_and_version
from .items import ITEM_JSON_MAX_BYTES, MAX_ITEMS
from .kdf import SALT_BYTES, KdfParams

HEADER_BYTES = 147
MANIFEST_ENTRY_BYTES = 16 + 8 + GENERICHASH_BYTES  # item_id, item_rev, record_hash
SLOT_CIPHERTEXT_BYTES = AEAD_KEY_BYTES + AEAD_TAG_BYTES  # the wrapped vault key
RECORD_HEADER_BYTES = 16 + 8 + AEAD_NONCE_BYTES + 4  # item_id, item_rev, nonce, ct_len
RECORD_CT_MAX = ITEM_JSON_MAX_BYTES + AEAD_TAG_BYTES
# SLOT_AD's version field stays 1 in every vault version: the slot is wrapped under the
# passphrase, which an upgrade (made with the vault key alone) does not have (format.md §4.1).
SLOT_AD_VERSION = 1


@dataclass(frozen=True)
class KeySlot:
    kdf: KdfParams
    salt: bytes
    nonce: bytes
    ciphertext: bytes

    def associated_data(self, label: bytes) -> bytes:
        return (
            label
            + u16(SLOT_AD_VERSION)
            + u8(self.kdf.kdf_id)
            + u32(self.kdf.ops)
            + u32(self.kdf.mem_kib)
            + self.salt
        )


@dataclass(frozen=True)
class ManifestEntry:
    item_id: uuid.UUID
    item_rev: int
    record_hash: bytes


@dataclass(frozen=True)
class Record:
    item_id: uuid.UUID
    item_rev: int
    nonce: bytes
    ciphertext: bytes

    def encode(self) -> bytes:
        return (
            self.item_id.bytes
            + u64(self.item_rev)
            + self.nonce
            + u32(len(self.ciphertext))
            + self.ciphertext
        )


@dataclass(frozen=True)
class Container:
    version: int
    account_id: uuid.UUID
    vault_id: uuid.UUID
    revision: int
    slot: KeySlot
    manifest: tuple[ManifestEntry, ...]
    header_mac: bytes
    records: tuple[Record, ...]

    def authenticated_bytes(self) -> bytes:
        """HEADER || MANIFEST: everything the header MAC covers."""
        return encode_authenticated(
            self.version, self.account_id, self.vault_id, self.revision, self.slot, self.manifest
        )

    def encode(self) -> bytes:
        return (
            self.authenticated_bytes()
            + self.header_mac
            + b"".join(record.encode() for record in self.records)
        )


def encode_authenticated(
    version: int,
    account_id: uuid.UUID,
    vault_id: uuid.UUID,
    revision: int,
    slot: KeySlot,
    manifest: tuple[ManifestEntry, ...],
) -> bytes:
    header = (
        encode_public_header(account_id, vault_id, revision, version=version)
        + u8(slot.kdf.kdf_id)
        + u32(slot.kdf.ops)
        + u32(slot.kdf.mem_kib)
        + slot.salt
        + slot.nonce
        + slot.ciphertext
        + u32(len(manifest))
    )
    assert len(header) == HEADER_BYTES
    return header + encode_manifest(manifest)


def parse(data: bytes) -> Container:
    reader, version = read_magic_and_version(data)
    if len(data) < HEADER_BYTES:
        raise MalformedError("truncated header")
    account_id = uuid.UUID(bytes=reader.take(16))
    vault_id = uuid.UUID(bytes=reader.take(16))
    revision = reader.uint(8)
    kdf = KdfParams(kdf_id=reader.uint(1), ops=reader.uint(4), mem_kib=reader.uint(4))
    kdf.check()
    slot = KeySlot(
        kdf,
        reader.take(SALT_BYTES),
        reader.take(AEAD_NONCE_BYTES),
        reader.take(SLOT_CIPHERTEXT_BYTES),
    )
    count = reader.uint(4)
    if count > MAX_ITEMS:
        raise LimitExceededError(f"a vault holds at most {MAX_ITEMS} items")
    if not 1 <= revision <= REVISION_MAX:
        raise MalformedError("revision out of range")
    if reader.remaining < count * MANIFEST_ENTRY_BYTES + GENERICHASH_BYTES:
        raise MalformedError("truncated manifest")

    manifest = parse_manifest(reader, count, revision)
    header_mac = reader.take(GENERICHASH_BYTES)
    records = parse_records(reader, manifest)
    return Container(version, account_id, vault_id, revision, slot, manifest, header_mac, records)


def parse_manifest(reader: Reader, count: int, revision: int) -> tuple[ManifestEntry, ...]:
    """format.md §6.1 step 7: the manifest, entry by entry."""
    data, start = reader.data, reader.offset
    stop = start + count * MANIFEST_ENTRY_BYTES
    if count < 0 or stop > len(data):
        return _parse_manifest_by_reader(reader, count, revision)  # runs short: its error
    # Fixed-width fields read by slicing the bytes: a Reader call per field costs more
    # than the field. Checks and errors as _parse_manifest_by_reader's.
    manifest: list[ManifestEntry] = []
    from_bytes, make_id = int.from_bytes, uuid.UUID
    previous = b""
    for offset in range(start, stop, MANIFEST_ENTRY_BYTES):
        raw_id = data[offset : offset + 16]
        item_rev = from_bytes(data[offset + 16 : offset + 24])
        if manifest and raw_id <= previous:
            raise NonCanonicalError("manifest entries are not in ascending id order")
        if not 1 <= item_rev <= revision:
            raise MalformedError("item revision out of range")
        manifest.append(
            ManifestEntry(make_id(bytes=raw_id), item_rev, data[offset + 24 : offset + 56])
        )
        previous = raw_id
    reader.offset = stop
    return tuple(manifest)


def _parse_manifest_by_reader(
    reader: Reader, count: int, revision: int
) -> tuple[ManifestEntry, ...]:
    manifest: list[ManifestEntry] = []
    for _ in range(count):
        entry = ManifestEntry(
            uuid.UUID(bytes=reader.take(16)), reader.uint(8), reader.take(GENERICHASH_BYTES)
        )
        if manifest and entry.item_id.bytes <= manifest[-1].item_id.bytes:
            raise NonCanonicalError("manifest entries are not in ascending id order")
        if not 1 <= entry.item_rev <= revision:
            raise MalformedError("item revision out of range")
        manifest.append(entry)
    return tuple(manifest)


def encode_manifest(manifest: tuple[ManifestEntry, ...]) -> bytes:
    return b"".join(e.item_id.bytes + u64(e.item_rev) + e.record_hash for e in manifest)


def parse_records(reader: Reader, manifest: tuple[ManifestEntry, ...] = ()) -> tuple[Record, ...]:
    """format.md §6.1 step 8: records, one after another to the end of the blob.
    ``manifest``: the one just parsed, whose ids a record in its place reuses (the same
    value, without making it again)."""
    records: list[Record] = []
    data, offset, end = reader.data, reader.offset, len(reader.data)
    from_bytes, make_id = int.from_bytes, uuid.UUID
    index = 0
    while offset < end:
        if end - offset < RECORD_HEADER_BYTES:
            raise MalformedError("truncated record")
        raw_id = data[offset : offset + 16]
        item_rev = from_bytes(data[offset + 16 : offset + 24])
        nonce = data[offset + 24 : offset + 24 + AEAD_NONCE_BYTES]
        ct_start = offset + RECORD_HEADER_BYTES
        ct_len = from_bytes(data[ct_start - 4 : ct_start])
        if ct_len <= AEAD_TAG_BYTES:
            raise MalformedError("record too short")
        if ct_len > RECORD_CT_MAX:
            raise LimitExceededError(f"an item record is limited to {RECORD_CT_MAX} bytes")
        offset = ct_start + ct_len
        if offset > end:
            raise MalformedError("truncated")  # as Reader.take
        item_id = manifest[index].item_id if index < len(manifest) else None
        if item_id is None or item_id.bytes != raw_id:
            item_id = make_id(bytes=raw_id)
        records.append(Record(item_id, item_rev, nonce, data[ct_start:offset]))
        index += 1
    reader.offset = offset
    return tuple(records)


def check_record_set(manifest: tuple[ManifestEntry, ...], records: tuple[Record, ...]) -> None:
    """format.md §6.1 step 13 (and §15.6): records against the authenticated manifest, as
    four checks in this order, each over every record before the next."""
    # Ids compared by their .int (what UUID equality and hashing use), read once each:
    # UUID's __eq__ and __hash__ are Python code, called for every record.
    expected = {entry.item_id.int: entry.item_rev for entry in manifest}
    ids = [record.item_id.int for record in records]
    seen: set[int] = set()
    for item_id in ids:
        if item_id in seen:
            raise ItemDuplicatedError
        seen.add(item_id)
    for item_id, record in zip(ids, records, strict=True):
        if expected.get(item_id) != record.item_rev:
            raise ItemReplayedError
    if len(seen) != len(expected):
        raise ItemMissingError
    if ids != [entry.item_id.int for entry in manifest]:
        raise NonCanonicalError("records are not in manifest order")
