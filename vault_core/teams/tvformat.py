"""The team vault's byte layout (format.md §15.6): parse and serialise, with no keys.

The public header (the first 62 bytes) is what the server reads, without any key, to
check a write: team, revision, epoch, log seq and writer. ``peek_team_header`` needs no
backend, like ``vault_core.header.peek_header``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from ..backend.base import GENERICHASH_BYTES, SIGNATURE_BYTES
from ..container import ManifestEntry, Record, encode_manifest, parse_manifest, parse_records
from ..encoding import REVISION_MAX, Reader, u16, u32, u64
from ..errors import LimitExceededError, MalformedError, UnsupportedVersionError
from ..header import VAULT_MAX_BYTES
from ..items import MAX_ITEMS

TEAM_MAGIC = b"ZKTV"
TEAM_VERSION = 1
TEAM_PUBLIC_HEADER_BYTES = 62  # magic, version, team_id, revision, epoch, log_seq, writer
TEAM_HEADER_BYTES = TEAM_PUBLIC_HEADER_BYTES + GENERICHASH_BYTES + 4  # + log_head, item_count


@dataclass(frozen=True)
class TeamPublicHeader:
    version: int
    team_id: uuid.UUID
    revision: int
    epoch: int
    log_seq: int
    writer: uuid.UUID


@dataclass(frozen=True)
class TeamContainer:
    header: TeamPublicHeader
    log_head: bytes
    manifest: tuple[ManifestEntry, ...]
    header_mac: bytes
    signature: bytes
    records: tuple[Record, ...]
    # THEADER || MANIFEST as parsed: every field has one width and one reading, so these
    # are the bytes encode_team_authenticated gives again (None: not parsed, encode them).
    # Set by parse_team_vault alone: not an init field, so dataclasses.replace (another
    # header or manifest) leaves it None rather than stale.
    parsed_authenticated: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def authenticated_bytes(self) -> bytes:
        """THEADER || MANIFEST: what the header MAC covers."""
        if self.parsed_authenticated is not None:
            return self.parsed_authenticated
        return encode_team_authenticated(self.header, self.log_head, self.manifest)

    def signed_bytes(self) -> bytes:
        """THEADER || MANIFEST || HEADER_MAC: what the writer's signature covers."""
        return self.authenticated_bytes() + self.header_mac

    def encode(self) -> bytes:
        return (
            self.signed_bytes()
            + self.signature
            + b"".join(record.encode() for record in self.records)
        )


def encode_team_authenticated(
    header: TeamPublicHeader, log_head: bytes, manifest: tuple[ManifestEntry, ...]
) -> bytes:
    return (
        TEAM_MAGIC
        + u16(header.version)
        + header.team_id.bytes
        + u64(header.revision)
        + u64(header.epoch)
        + u64(header.log_seq)
        + header.writer.bytes
        + log_head
        + u32(len(manifest))
        + encode_manifest(manifest)
    )


def _public(data: bytes) -> tuple[Reader, TeamPublicHeader]:
    """Steps 1-4 of §15.6 "Opening": size, magic, version, the public fields' ranges."""
    if not isinstance(data, bytes | bytearray):
        raise MalformedError("a team vault is bytes")
    if len(data) > VAULT_MAX_BYTES:
        raise LimitExceededError(f"a team vault is limited to {VAULT_MAX_BYTES} bytes")
    if len(data) < 6 or data[:4] != TEAM_MAGIC:
        raise MalformedError("not a zkvault team vault")
    reader = Reader(bytes(data), 4)
    version = reader.uint(2)
    if version != TEAM_VERSION:
        raise UnsupportedVersionError(f"team vault format version {version} is not supported")
    if reader.remaining < TEAM_PUBLIC_HEADER_BYTES - 6:
        raise MalformedError("truncated header")
    team_id = uuid.UUID(bytes=reader.take(16))
    revision, epoch, log_seq = reader.uint(8), reader.uint(8), reader.uint(8)
    writer = uuid.UUID(bytes=reader.take(16))
    for value in (revision, epoch, log_seq):
        if not 1 <= value <= REVISION_MAX:
            raise MalformedError("revision, epoch or log seq out of range")
    return reader, TeamPublicHeader(version, team_id, revision, epoch, log_seq, writer)


def peek_team_header(data: bytes) -> TeamPublicHeader:
    """The public header without any key (format.md §15.6): what the server checks."""
    return _public(data)[1]


def parse_team_vault(data: bytes) -> TeamContainer:
    reader, header = _public(data)
    if reader.remaining < TEAM_HEADER_BYTES - TEAM_PUBLIC_HEADER_BYTES:
        raise MalformedError("truncated header")
    log_head = reader.take(GENERICHASH_BYTES)
    count = reader.uint(4)
    if count > MAX_ITEMS:
        raise LimitExceededError(f"a vault holds at most {MAX_ITEMS} items")
    if reader.remaining < count * 56 + GENERICHASH_BYTES + SIGNATURE_BYTES:
        raise MalformedError("truncated manifest")
    manifest = parse_manifest(reader, count, header.revision)
    authenticated = reader.data[: reader.offset]
    header_mac = reader.take(GENERICHASH_BYTES)
    signature = reader.take(SIGNATURE_BYTES)
    records = parse_records(reader, manifest)
    container = TeamContainer(header, log_head, manifest, header_mac, signature, records)
    object.__setattr__(container, "parsed_authenticated", authenticated)
    return container
