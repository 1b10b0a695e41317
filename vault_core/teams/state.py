"""Replaying a team's membership log (format.md §15.4): who is a member, with which role
and keys, at which epoch, checked entry by entry and never taken on the server's word.

``apply`` is the one rule book: the server runs it before storing an entry (defence in
depth) and every client runs it over the whole log it is shown.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TypeVar

from ..backend import PrimitiveAuthError, get_backend
from ..errors import (
    LimitExceededError,
    TeamLogError,
    TeamLogForkError,
    TeamLogGapError,
    TeamLogSignatureError,
    TeamPermissionError,
    VaultError,
)
from .entries import (
    EPOCH_OPS,
    LABEL_TEAM_LOG,
    MAX_MEMBERS,
    ROLES,
    LogEntry,
    entry_hash,
    parse_entry,
)

_V = TypeVar("_V")
RANK = {role: rank for rank, role in enumerate(ROLES)}
ADMIN = RANK["admin"]
OWNER = RANK["owner"]


@dataclass(frozen=True)
class Member:
    account_id: str  # 32 lowercase hex digits
    email: str
    role: str
    sign_key: bytes = field(repr=False)
    box_key: bytes = field(repr=False)
    verified: str  # "self" (the creator), "fingerprint" or "tofu": how the adder checked
    identity: bytes = field(repr=False)  # the IDENTITY bundle the log recorded
    added_seq: int = 0
    added_by: str = ""


@dataclass(frozen=True)
class TeamState:
    team_id: str
    name: str
    seq: int
    head: bytes  # the hash of entry ``seq``
    epoch: int
    members: Mapping[str, Member]
    key_check: bytes = field(repr=False)  # the current epoch's, from the entry that began it
    epoch_seq: int  # the entry that began the current epoch
    boxes: Mapping[str, bytes] = field(repr=False)  # each member's box at the current epoch
    # Members who left since the key last changed: they still know it (§15.4, "leave").
    left_since_rotation: frozenset[str] = frozenset()

    def role_of(self, account: str) -> str | None:
        member = self.members.get(account)
        return member.role if member else None

    @property
    def owners(self) -> tuple[str, ...]:
        return tuple(a for a, m in self.members.items() if m.role == "owner")


def _frozen(mapping: dict[str, Member] | dict[str, bytes]) -> Mapping[str, Member]:
    return MappingProxyType(mapping)  # type: ignore[arg-type]


def _copy(mapping: Mapping[str, _V]) -> dict[str, _V]:
    """dict(mapping), for the read-only views a state holds: dict() of a mappingproxy goes
    key by key through the mapping protocol (O(n) Python-level work for every entry of a
    replay); its copy() is the underlying dict's, copied in C."""
    if isinstance(mapping, MappingProxyType):
        copied = mapping.copy()
        if type(copied) is dict:
            return copied
    return dict(mapping)


def _verify(entry: LogEntry, sign_key: bytes) -> None:
    try:
        get_backend().sign_verify_detached(entry.signature, LABEL_TEAM_LOG + entry.body, sign_key)
    except PrimitiveAuthError:
        raise TeamLogSignatureError from None


def _member_from(entry: LogEntry) -> Member:
    spec = entry.member
    assert spec is not None  # parse_entry guarantees it for create and add
    return Member(
        account_id=spec.account,
        email=spec.email,
        role=spec.role,
        sign_key=spec.identity.sign_key,
        box_key=spec.identity.box_key,
        verified=spec.verified,
        identity=spec.identity.bundle,
        added_seq=entry.seq,
        added_by=entry.by,
    )


def _create(entry: LogEntry, known: bool) -> TeamState:
    if entry.op != "create":
        raise TeamLogError("a team log begins with a create entry")
    if entry.seq != 1:
        raise TeamLogGapError("the team log does not begin at seq 1")
    member = _member_from(entry)
    if member.account_id != entry.by or member.role != "owner":
        raise TeamLogError("a team is created by its first owner")
    if not known:
        _verify(entry, member.sign_key)
    if entry.epoch != 1:
        raise TeamLogError("a team begins at epoch 1")
    if set(entry.boxes) != {entry.by}:
        raise TeamLogError("the create entry holds a box for its creator alone")
    assert entry.name is not None and entry.key_check is not None
    return TeamState(
        team_id=entry.team,
        name=entry.name,
        seq=1,
        head=entry.hash,
        epoch=1,
        members=_frozen({entry.by: member}),
        key_check=entry.key_check,
        epoch_seq=1,
        boxes=MappingProxyType(dict(entry.boxes)),
    )


def _need(signer: Member, rank: int, what: str) -> None:
    if RANK[signer.role] < rank:
        raise TeamPermissionError(
            f"{what} needs the {ROLES[rank]} role; the signer is a {signer.role}"
        )


def apply(state: TeamState | None, entry: LogEntry, *, known: bool = False) -> TeamState:
    """The state after ``entry``; refuses one that does not follow (format.md §15.4, checks
    and errors in that order). ``known``: the entry is one this client verified before
    (``known_prefix``), so its signature is not checked again; every other check is."""
    if state is None:
        return _create(entry, known)
    if entry.team != state.team_id:
        raise TeamLogError("the entry belongs to another team")
    if entry.seq != state.seq + 1:
        raise TeamLogGapError(f"expected entry {state.seq + 1}, got entry {entry.seq}")
    if not hmac.compare_digest(entry.prev, state.head.hex()):
        raise TeamLogForkError
    signer = state.members.get(entry.by)
    if signer is None:
        raise TeamPermissionError("the signer is not a member of the team")
    if not known:
        _verify(entry, signer.sign_key)
    if entry.op == "create":
        raise TeamLogError("a team is created once")
    new_epoch = entry.op in EPOCH_OPS
    if entry.epoch != state.epoch + (1 if new_epoch else 0):
        raise TeamLogError(f"the entry is at epoch {entry.epoch}, not the next one")
    members = _copy(state.members)
    boxes = _copy(state.boxes)
    left = set(state.left_since_rotation)
    if entry.op == "add":
        _need(signer, ADMIN, "adding a member")
        added = _member_from(entry)
        if added.role == "owner":
            _need(signer, OWNER, "adding an owner")
        if added.account_id in members:
            raise TeamLogError("that account is already a member")
        if len(members) >= MAX_MEMBERS:
            raise LimitExceededError(f"a team has at most {MAX_MEMBERS} members")
        if set(entry.boxes) != {added.account_id}:
            raise TeamLogError("an add entry holds a box for the new member alone")
        members[added.account_id] = added
        boxes.update(entry.boxes)
    elif entry.op in ("remove", "role"):
        _need(signer, ADMIN, "changing a member")
        assert entry.account is not None
        target = members.get(entry.account)
        if target is None:
            raise TeamLogError("that account is not a member")
        if entry.op == "remove":
            if entry.account == entry.by:
                raise TeamLogError("a member leaves with a leave entry, not a remove")
            if target.role == "owner":
                _need(signer, OWNER, "removing an owner")
            del members[entry.account]
        else:
            assert entry.role is not None
            if entry.role == target.role:
                raise TeamLogError("the member already holds that role")
            if "owner" in (entry.role, target.role):
                _need(signer, OWNER, "promoting to or demoting from owner")
            if target.role == "owner" and state.owners == (entry.account,):
                raise TeamPermissionError("the last owner cannot be demoted")
            members[entry.account] = replace(target, role=entry.role)
    elif entry.op == "leave":
        if state.owners == (entry.by,):
            raise TeamPermissionError("the last owner cannot leave")
        del members[entry.by]
        boxes.pop(entry.by, None)
        left.add(entry.by)
    elif entry.op == "rotate":
        _need(signer, ADMIN, "rotating the team key")
    if new_epoch:
        if set(entry.boxes) != set(members):
            raise TeamLogError("a new epoch holds one box for each member and no other")
        boxes = dict(entry.boxes)
        left = set()
    return TeamState(
        team_id=state.team_id,
        name=state.name,
        seq=entry.seq,
        head=entry.hash,
        epoch=entry.epoch,
        members=_frozen(members),
        key_check=entry.key_check if new_epoch and entry.key_check else state.key_check,
        epoch_seq=entry.seq if new_epoch else state.epoch_seq,
        boxes=MappingProxyType(boxes),
        left_since_rotation=frozenset(left),
    )


def replay(entries: Iterable[bytes]) -> TeamState:
    """The state after a whole log, from its first entry; TeamLogError if it is empty."""
    state: TeamState | None = None
    for raw in entries:
        state = apply(state, parse_entry(raw))
    if state is None:
        raise TeamLogError("the team log is empty")
    return state


def known_prefix(entries: Sequence[bytes], seq: int, head: bytes) -> int:
    """How many leading entries of ``entries`` this client verified before, given the seq
    and head it remembers (format.md §15.4, "Memory"): ``seq`` when the entry at ``seq``
    hashes to ``head``, else 0. The head pins that entry's bytes, and each entry's prev
    (still checked by ``apply``) the bytes of the one before it, back to entry 1: they are
    the entries whose signatures this client checked when it accepted that head."""
    if not 1 <= seq <= len(entries):
        return 0
    return seq if hmac.compare_digest(entry_hash(entries[seq - 1]), head) else 0


def replay_states(
    entries: Iterable[bytes], known: tuple[int, bytes] | None = None
) -> list[TeamState]:
    """Every state along the log (index i: after entry i+1), for checks at an earlier seq
    (the team vault's writer at the log_seq it was written at). ``known``: the (seq, head)
    this client remembers; while the log still holds that head (``known_prefix``) the
    signatures of the entries up to it are not checked again, and every other check is.
    The outcome, state or error, is the full replay's."""
    entries = list(entries)
    trusted = known_prefix(entries, *known) if known is not None else 0
    states: list[TeamState] = []
    for index, raw in enumerate(entries):
        seen = index < trusted
        try:
            entry = parse_entry(raw, known=seen)
            states.append(apply(states[-1] if states else None, entry, known=seen))
        except VaultError:
            if not seen:
                raise
            # Only a log that differs before the remembered head gets here (its prev chain
            # breaks): check it all, so the error is the one the full checks meet first.
            return replay_states(entries)
    if not states:
        raise TeamLogError("the team log is empty")
    return states
