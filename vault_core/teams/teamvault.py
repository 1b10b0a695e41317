"""A team vault: the personal vault's items, manifest, header MAC and records, keyed by the
current epoch's team key and signed by the member who wrote it (format.md §15.6).

Opening checks the vault against the replayed membership log (its epoch, the log entry
it was written at, its writer's role from then to now) and against what this client
remembers of the team, before any key is used; then the MAC and the records as §6.1 does.

A save may seal the team's audit-chain head its writer saw, in the bookkeeping item
``.zkvault-audit-anchor`` (§15, "Audit anchors"): hidden from the item list, kept across
saves, read by ``audit_anchor`` and checked against the team's audit export.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..audit_chain import AuditAnchor
from ..backend import PrimitiveAuthError, get_backend
from ..backend.base import AEAD_NONCE_BYTES, GENERICHASH_BYTES
from ..bookkeeping import AUDIT_ANCHOR_ITEM, bookkeeping_item, dump_anchor, parse_anchor
from ..container import ManifestEntry, Record, check_record_set
from ..encoding import canonical_json, parse_canonical_json, u16, u64
from ..errors import (
    BodyAuthError,
    ForkError,
    HeaderAuthError,
    InvalidItemError,
    LimitExceededError,
    LockedError,
    MalformedError,
    NotFoundError,
    ReservedNameError,
    RollbackError,
    StaleEpochError,
    TeamKeyError,
    TeamLogError,
    TeamLogForkError,
    TeamLogGapError,
    TeamLogRollbackError,
    TeamPermissionError,
    TeamVaultSignatureError,
    VaultError,
    WrongVaultError,
)
from ..items import MAX_ITEMS, Item, ItemInfo, is_reserved
from ..keys import KEY_BYTES, RandomBytes, wipe
from .identity import IdentityKeys
from .keybox import open_team_key
from .state import RANK, TeamState
from .tvformat import (
    TEAM_VERSION,
    TeamContainer,
    TeamPublicHeader,
    encode_team_authenticated,
    parse_team_vault,
)

_ID = re.compile(r"[0-9a-f]{32}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")
LABEL_TEAM_HEADER_MAC = b"zkvault/1 team-header-mac"
LABEL_TEAM_ITEM_KEY = b"zkvault/1 team-item-key"
LABEL_TEAM_ITEM_AD = b"zkvault/1 team-item"
LABEL_TEAM_VAULT = b"zkvault/1 team-vault"
WRITER = RANK["writer"]


@dataclass(frozen=True)
class TeamMemory:
    """What a client remembers of a team (§15.7): the log head it accepted and the team
    vault revision it accepted (0 and "" before any)."""

    team_id: str
    log_seq: int
    log_head: str  # hex of the entry hash at log_seq
    revision: int = 0
    digest: str = ""  # SHA-256 (hex) of that revision's whole blob

    def dumps(self) -> str:
        return canonical_json(
            {
                "digest": self.digest,
                "log_head": self.log_head,
                "log_seq": str(self.log_seq),
                "revision": str(self.revision),
                "team": self.team_id,
                "v": "1",
            }
        ).decode()

    @classmethod
    def parse(cls, text: str) -> TeamMemory:
        """The form ``dumps`` writes, read strictly: ``malformed`` otherwise."""
        try:
            data = parse_canonical_json(text.encode("utf-8"))
        except (VaultError, UnicodeError):
            data = None
        if (
            not isinstance(data, dict)
            or sorted(data) != ["digest", "log_head", "log_seq", "revision", "team", "v"]
            or data["v"] != "1"
            or not all(isinstance(value, str) for value in data.values())
            or not _ID.fullmatch(data["team"])
            or not _DECIMAL.fullmatch(data["log_seq"])
            or not _DECIMAL.fullmatch(data["revision"])
            or not _HEX64.fullmatch(data["log_head"])
            or not (data["digest"] == "" or _HEX64.fullmatch(data["digest"]))
            or data["log_seq"] == "0"
        ):
            raise MalformedError("the remembered team state is damaged")
        return cls(
            data["team"],
            int(data["log_seq"]),
            data["log_head"],
            int(data["revision"]),
            data["digest"],
        )


def check_log_memory(states: Sequence[TeamState], memory: TeamMemory | None) -> None:
    """A log shorter than the one remembered is ``team_log_rollback``; one whose entry at
    the remembered seq is another is ``team_log_fork`` (§15.7)."""
    if memory is None:
        return
    if memory.team_id != states[-1].team_id:
        raise WrongVaultError("the remembered state is another team's")
    if len(states) < memory.log_seq:
        raise TeamLogRollbackError(f"the log ends at {len(states)}, after {memory.log_seq} seen")
    if not hmac.compare_digest(states[memory.log_seq - 1].head.hex(), memory.log_head):
        raise TeamLogForkError


def remember(
    states: Sequence[TeamState], vault: TeamVault | None, previous: TeamMemory | None
) -> TeamMemory:
    head = states[-1]
    revision, digest = (vault.revision, vault.digest) if vault else (0, "")
    if previous is not None and previous.revision > revision:
        revision, digest = previous.revision, previous.digest
    return TeamMemory(head.team_id, head.seq, head.head.hex(), revision, digest)


@dataclass
class _Stored:
    record: Record | None  # None: changed since the last save
    item: Item = field(repr=False)


class TeamVault:
    """The items of one team vault, decrypted, with what the next save needs."""

    def __init__(self, team_id: uuid.UUID, team_key: bytes | bytearray, epoch: int) -> None:
        if len(team_key) != KEY_BYTES:
            raise MalformedError(f"a team key is {KEY_BYTES} bytes")
        self.team_id = team_id
        self.epoch = epoch
        self.revision = 0
        self.writer: uuid.UUID | None = None
        self.log_seq = 0
        self.digest = ""
        self._items: dict[uuid.UUID, _Stored] = {}
        self._header_key: bytearray | None = None
        self._item_key: bytearray | None = None
        self._set_key(team_key)

    def __repr__(self) -> str:
        return f"<TeamVault team={self.team_id} revision={self.revision} epoch={self.epoch}>"

    def _set_key(self, team_key: bytes | bytearray) -> None:
        backend = get_backend()
        wipe(self._header_key)
        wipe(self._item_key)
        self._header_key = bytearray(
            backend.blake2b(KEY_BYTES, LABEL_TEAM_HEADER_MAC, bytes(team_key))
        )
        self._item_key = bytearray(backend.blake2b(KEY_BYTES, LABEL_TEAM_ITEM_KEY, bytes(team_key)))

    def _keys(self) -> tuple[bytearray, bytearray]:
        if self._header_key is None or self._item_key is None:
            raise LockedError
        return self._header_key, self._item_key

    def lock(self) -> None:
        wipe(self._header_key)
        wipe(self._item_key)
        self._header_key = self._item_key = None
        self._items.clear()

    def _ad_head(self, epoch: int) -> bytes:
        """What every item's AD at ``epoch`` begins with (the part that is not the item's)."""
        return LABEL_TEAM_ITEM_AD + u16(TEAM_VERSION) + self.team_id.bytes + u64(epoch)

    def _ad(self, epoch: int, item_id: uuid.UUID, item_rev: int) -> bytes:
        return self._ad_head(epoch) + item_id.bytes + u64(item_rev)

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        blob: bytes,
        *,
        states: Sequence[TeamState],
        team_key: bytes | bytearray,
        memory: TeamMemory | None = None,
    ) -> TeamVault:
        """Open and verify a team vault against the replayed log ``states`` (state i after
        entry i+1) and what this client remembers; steps and errors as format.md §15.6."""
        container = parse_team_vault(blob)
        header = container.header
        current = states[-1]
        if header.team_id.hex != current.team_id:
            raise WrongVaultError("this is another team's vault")
        _check_against_log(container, states)
        digest = hashlib.sha256(bytes(blob)).hexdigest()
        if memory is not None:
            if header.revision < memory.revision:
                raise RollbackError(
                    f"team vault revision {header.revision}, after {memory.revision} was seen"
                )
            if header.revision == memory.revision and digest != memory.digest:
                raise ForkError("another team vault under a revision this client saw")
        vault = cls(header.team_id, team_key, header.epoch)
        try:
            vault._verify(container)
        except BaseException:
            vault.lock()
            raise
        vault.revision, vault.writer, vault.log_seq = header.revision, header.writer, header.log_seq
        vault.digest = digest
        return vault

    @classmethod
    def open_kept(
        cls, blob: bytes, *, states: Sequence[TeamState], keys: IdentityKeys
    ) -> TeamVault:
        """A kept revision (the server's history), opened to read what it sealed. It is
        checked against the log at the entry it names, not against now: its log head and
        epoch there, its writer a writer there, its writer's signature, then the MAC and
        the records under that epoch's key as this member held it (``team_key`` if this
        member held none: it joined later)."""
        container = parse_team_vault(blob)
        header = container.header
        if header.team_id.hex != states[-1].team_id:
            raise WrongVaultError("this is another team's vault")
        if header.log_seq > len(states):
            raise TeamLogGapError("the vault was written at log entries this client was not shown")
        at = states[header.log_seq - 1]
        if not hmac.compare_digest(at.head, container.log_head):
            raise TeamLogForkError
        if header.epoch != at.epoch:
            raise TeamLogError("the vault's epoch is not the log's at the entry it names")
        writer = header.writer.hex
        role = at.role_of(writer)
        if role is None or RANK[role] < WRITER:
            raise TeamPermissionError("the vault's writer was not a writer at the entry it names")
        _check_signature(container, at.members[writer].sign_key)
        me = keys.account_id.hex
        held = [s for s in states[header.log_seq - 1 :] if s.epoch == header.epoch]
        box = next((s for s in held if me in s.boxes), None)
        if box is None:
            raise TeamKeyError("you held no key for the epoch that revision was written at")
        team_key = open_team_key(box.boxes[me], keys, header.team_id, header.epoch, box.key_check)
        try:
            vault = cls(header.team_id, team_key, header.epoch)
        finally:
            wipe(team_key)
        try:
            vault._verify(container)
        except BaseException:
            vault.lock()
            raise
        vault.revision, vault.writer, vault.log_seq = header.revision, header.writer, header.log_seq
        vault.digest = hashlib.sha256(bytes(blob)).hexdigest()
        return vault

    def _verify(self, container: TeamContainer) -> None:
        header_key, item_key = self._keys()
        backend = get_backend()
        mac = backend.blake2b(GENERICHASH_BYTES, container.authenticated_bytes(), bytes(header_key))
        if not hmac.compare_digest(mac, container.header_mac):
            raise HeaderAuthError
        check_record_set(container.manifest, container.records)
        for entry, record in zip(container.manifest, container.records, strict=True):
            if not hmac.compare_digest(
                backend.blake2b(GENERICHASH_BYTES, record.encode()), entry.record_hash
            ):
                raise BodyAuthError
        names: set[str] = set()
        key = bytes(item_key)  # one copy for every record, not one each
        ad_head = self._ad_head(container.header.epoch)
        for record in container.records:
            try:
                plaintext = backend.aead_decrypt(
                    key,
                    record.nonce,
                    record.ciphertext,
                    ad_head + record.item_id.bytes + u64(record.item_rev),
                )
            except PrimitiveAuthError:
                raise BodyAuthError from None
            try:
                item = Item.from_json(bytes(plaintext))
            finally:
                wipe(plaintext)
            if item.name in names:
                raise InvalidItemError("two items share a name")
            if item.name == AUDIT_ANCHOR_ITEM:
                parse_anchor(item.secret)  # a damaged anchor never passes for none
            names.add(item.name)
            self._items[record.item_id] = _Stored(record, item)

    # -- the audit anchor ----------------------------------------------------------------------

    @property
    def audit_anchor(self) -> AuditAnchor | None:
        """The team audit-chain head this revision's writer saw, or None if none was sealed."""
        found = self._anchor_item()
        return None if found is None else parse_anchor(found[1].item.secret)

    def set_audit_anchor(
        self, anchor: AuditAnchor, *, random_bytes: RandomBytes | None = None
    ) -> None:
        """Seal ``anchor`` at the next save. An anchor at or below the one held is ignored
        unless it is the same: a server that answers an older head (or another hash at the
        same seq) must not weaken what an earlier save committed to."""
        text = dump_anchor(anchor)  # malformed before anything changes
        found = self._anchor_item()
        if found is not None:
            held = parse_anchor(found[1].item.secret)
            if anchor.seq <= held.seq:
                return
        elif len(self._items) >= MAX_ITEMS:
            return  # filled to the limit before anchors existed: no room, saved unanchored
        item_id = (
            found[0]
            if found is not None
            else uuid.UUID(bytes=(random_bytes or get_backend().random_bytes)(16))
        )
        self._items[item_id] = _Stored(None, bookkeeping_item(AUDIT_ANCHOR_ITEM, text))

    def _anchor_item(self) -> tuple[uuid.UUID, _Stored] | None:
        self._keys()
        for item_id, stored in self._items.items():
            if stored.item.name == AUDIT_ANCHOR_ITEM:
                return item_id, stored
        return None

    # -- items -------------------------------------------------------------------------------

    def items(self) -> list[ItemInfo]:
        self._keys()
        infos = [
            s.item.info(i, s.record.item_rev if s.record else self.revision + 1)
            for i, s in self._items.items()
            if not is_reserved(s.item.name)  # bookkeeping: not an item a member keeps
        ]
        return sorted(infos, key=lambda info: info.name)

    def get(self, item_id: uuid.UUID) -> Item:
        self._keys()
        stored = self._items.get(item_id)
        if stored is None:
            raise NotFoundError
        return stored.item

    def lookup(self, name: str) -> uuid.UUID:
        self._keys()
        for item_id, stored in self._items.items():
            if stored.item.name == name and not is_reserved(name):
                return item_id
        raise NotFoundError

    def add(self, item: Item, *, random_bytes: RandomBytes | None = None) -> uuid.UUID:
        self._keys()
        # One place is kept for the audit anchor, as the personal vault keeps one for its
        # lineage record: a full vault must still be able to seal the head.
        room = MAX_ITEMS if self._anchor_item() is not None else MAX_ITEMS - 1
        if len(self._items) >= room:
            raise LimitExceededError(
                f"a team vault holds at most {MAX_ITEMS} items, its audit anchor included"
            )
        item_id = uuid.UUID(bytes=(random_bytes or get_backend().random_bytes)(16))
        self._put(item_id, item)
        return item_id

    def update(self, item_id: uuid.UUID, item: Item) -> None:
        self.get(item_id)
        self._put(item_id, item)

    def remove(self, item_id: uuid.UUID) -> None:
        if is_reserved(self.get(item_id).name):
            raise ReservedNameError
        del self._items[item_id]

    def _put(self, item_id: uuid.UUID, item: Item) -> None:
        held = self._items.get(item_id)
        if is_reserved(item.name) or (held is not None and is_reserved(held.item.name)):
            raise ReservedNameError
        if any(s.item.name == item.name for i, s in self._items.items() if i != item_id):
            raise InvalidItemError("an item with that name already exists")
        self._items[item_id] = _Stored(None, item)

    def rekey(self, team_key: bytes | bytearray, epoch: int) -> None:
        """Move to a new epoch's key: every item is encrypted again at the next save."""
        self._keys()
        self._set_key(team_key)
        self.epoch = epoch
        for stored in self._items.values():
            stored.record = None

    # -- saving ------------------------------------------------------------------------------

    def save(
        self, keys: IdentityKeys, state: TeamState, *, random_bytes: RandomBytes | None = None
    ) -> bytes:
        """The next revision, written at the log head ``state`` and signed by ``keys``:
        ``team_permission`` unless its holder is a writer or above, ``stale_epoch`` if
        this vault is not at the log's epoch (``rekey`` first)."""
        header_key, item_key = self._keys()
        role = state.role_of(keys.account_id.hex)
        if role is None or RANK[role] < WRITER:
            raise TeamPermissionError("writing the team vault needs the writer role")
        if self.epoch != state.epoch:
            raise StaleEpochError(f"the vault is at epoch {self.epoch}, the team at {state.epoch}")
        backend = get_backend()
        draw = random_bytes or backend.random_bytes
        revision = self.revision + 1
        records: dict[uuid.UUID, Record] = {}
        for item_id, stored in self._items.items():
            if stored.record is None:
                nonce = draw(AEAD_NONCE_BYTES)
                ciphertext = backend.aead_encrypt(
                    bytes(item_key),
                    nonce,
                    stored.item.to_json(),
                    self._ad(self.epoch, item_id, revision),
                )
                stored.record = Record(item_id, revision, nonce, ciphertext)
            records[item_id] = stored.record
        ordered = tuple(records[i] for i in sorted(records, key=lambda i: i.bytes))
        manifest = tuple(
            ManifestEntry(r.item_id, r.item_rev, backend.blake2b(GENERICHASH_BYTES, r.encode()))
            for r in ordered
        )
        header = TeamPublicHeader(
            TEAM_VERSION, self.team_id, revision, self.epoch, state.seq, keys.account_id
        )
        authenticated = encode_team_authenticated(header, state.head, manifest)
        mac = backend.blake2b(GENERICHASH_BYTES, authenticated, bytes(header_key))
        signature = keys.sign(LABEL_TEAM_VAULT + authenticated + mac)
        blob = TeamContainer(header, state.head, manifest, mac, signature, ordered).encode()
        self.revision, self.writer, self.log_seq = revision, keys.account_id, state.seq
        self.digest = hashlib.sha256(blob).hexdigest()
        return blob


def _check_against_log(container: TeamContainer, states: Sequence[TeamState]) -> None:
    """§15.6 steps 6-9: the vault against the membership log, before any key is used."""
    header = container.header
    current = states[-1]
    if header.log_seq > current.seq:
        raise TeamLogGapError("the vault was written at log entries this client was not shown")
    at = states[header.log_seq - 1]
    if not hmac.compare_digest(at.head, container.log_head):
        raise TeamLogForkError
    if header.epoch != at.epoch:
        raise TeamLogError("the vault's epoch is not the log's at the entry it names")
    if header.epoch < current.epoch:
        raise StaleEpochError(f"written at epoch {header.epoch}; the team is at {current.epoch}")
    writer = header.writer.hex
    for state in states[header.log_seq - 1 :]:
        role = state.role_of(writer)
        if role is None or RANK[role] < WRITER:
            raise TeamPermissionError(
                "the vault's writer is not a writer of the team from the entry it names to now"
            )
    _check_signature(container, current.members[writer].sign_key)


def _check_signature(container: TeamContainer, sign_key: bytes) -> None:
    try:
        get_backend().sign_verify_detached(
            container.signature, LABEL_TEAM_VAULT + container.signed_bytes(), sign_key
        )
    except PrimitiveAuthError:
        raise TeamVaultSignatureError from None
