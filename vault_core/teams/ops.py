"""Making membership-log entries (format.md §15.3): each function returns the signed wire
bytes of the next entry after ``state``, and, for the ops that begin an epoch, the new
team key. They check what a client must not do (seal to an unverified key is the caller's
check: TeamSession pins first); ``state.apply`` is still the judge of the result.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from ..b64url import b64url_encode
from ..keys import RandomBytes, wipe
from .entries import ENTRY_VERSION, VERIFIED_SELF, sign_entry
from .identity import Identity, IdentityKeys
from .keybox import key_check, new_team_key, seal_team_key
from .state import Member, TeamState


def _now(at: int | None) -> str:
    return str(int(time.time()) if at is None else at)


def _body(
    keys: IdentityKeys, team: str, seq: int, prev: str, op: str, epoch: int, at: int | None
) -> dict[str, Any]:
    return {
        "v": ENTRY_VERSION,
        "team": team,
        "seq": str(seq),
        "prev": prev,
        "by": keys.account_id.hex,
        "op": op,
        "epoch": str(epoch),
        "at": _now(at),
    }


def _next(
    keys: IdentityKeys, state: TeamState, op: str, epoch: int, at: int | None
) -> dict[str, Any]:
    return _body(keys, state.team_id, state.seq + 1, state.head.hex(), op, epoch, at)


def _member_field(identity: Identity, email: str, role: str, verified: str) -> dict[str, str]:
    return {
        "account": identity.account_id.hex,
        "email": email,
        "identity": b64url_encode(identity.bundle),
        "role": role,
        "verified": verified,
    }


def _seal_all(
    team_key: bytearray,
    team: str,
    epoch: int,
    members: Mapping[str, Member],
    random_bytes: RandomBytes | None,
) -> dict[str, str]:
    return {
        account: b64url_encode(
            seal_team_key(
                team_key,
                uuid.UUID(hex=team),
                epoch,
                uuid.UUID(hex=account),
                m.box_key,
                random_bytes,
            )
        )
        for account, m in members.items()
    }


def create_entry(
    keys: IdentityKeys,
    email: str,
    name: str,
    *,
    team_id: uuid.UUID | None = None,
    at: int | None = None,
    random_bytes: RandomBytes | None = None,
) -> tuple[bytes, bytearray]:
    """The first entry of a new team, and its epoch-1 key."""
    team = (team_id or uuid.UUID(bytes=(random_bytes or _random)(16))).hex
    team_key = new_team_key(random_bytes)
    body = _body(keys, team, 1, "", "create", 1, at)
    body["name"] = name
    body["member"] = _member_field(keys.identity(), email, "owner", VERIFIED_SELF)
    box = seal_team_key(
        team_key, uuid.UUID(hex=team), 1, keys.account_id, keys.box_key, random_bytes
    )
    body["boxes"] = {keys.account_id.hex: b64url_encode(box)}
    body["key_check"] = b64url_encode(key_check(team_key, uuid.UUID(hex=team), 1))
    return sign_entry(keys, body), team_key


def _random(n: int) -> bytes:
    from ..backend import get_backend

    return get_backend().random_bytes(n)


def add_entry(
    keys: IdentityKeys,
    state: TeamState,
    identity: Identity,
    email: str,
    role: str,
    verified: str,
    team_key: bytes | bytearray,
    *,
    at: int | None = None,
    random_bytes: RandomBytes | None = None,
) -> bytes:
    """Add ``identity`` (already verified or accepted by the caller) with ``role``; the
    box seals the current epoch's key to it."""
    body = _next(keys, state, "add", state.epoch, at)
    body["member"] = _member_field(identity, email, role, verified)
    box = seal_team_key(
        team_key,
        uuid.UUID(hex=state.team_id),
        state.epoch,
        identity.account_id,
        identity.box_key,
        random_bytes,
    )
    body["boxes"] = {identity.account_id.hex: b64url_encode(box)}
    return sign_entry(keys, body)


def _new_epoch(
    keys: IdentityKeys,
    state: TeamState,
    op: str,
    remaining: Mapping[str, Member],
    at: int | None,
    random_bytes: RandomBytes | None,
) -> tuple[dict[str, Any], bytearray]:
    epoch = state.epoch + 1
    team_key = new_team_key(random_bytes)
    try:
        body = _next(keys, state, op, epoch, at)
        body["boxes"] = _seal_all(team_key, state.team_id, epoch, remaining, random_bytes)
        body["key_check"] = b64url_encode(key_check(team_key, uuid.UUID(hex=state.team_id), epoch))
    except BaseException:
        wipe(team_key)
        raise
    return body, team_key


def remove_entry(
    keys: IdentityKeys,
    state: TeamState,
    account: str,
    *,
    at: int | None = None,
    random_bytes: RandomBytes | None = None,
) -> tuple[bytes, bytearray]:
    """Remove ``account``: a new epoch whose key is sealed to everyone else."""
    remaining = {a: m for a, m in state.members.items() if a != account}
    body, team_key = _new_epoch(keys, state, "remove", remaining, at, random_bytes)
    body["account"] = account
    return sign_entry(keys, body), team_key


def rotate_entry(
    keys: IdentityKeys,
    state: TeamState,
    *,
    at: int | None = None,
    random_bytes: RandomBytes | None = None,
) -> tuple[bytes, bytearray]:
    """A new epoch for the same members (after someone left)."""
    body, team_key = _new_epoch(keys, state, "rotate", state.members, at, random_bytes)
    return sign_entry(keys, body), team_key


def role_entry(
    keys: IdentityKeys, state: TeamState, account: str, role: str, *, at: int | None = None
) -> bytes:
    body = _next(keys, state, "role", state.epoch, at)
    body["account"] = account
    body["role"] = role
    return sign_entry(keys, body)


def leave_entry(keys: IdentityKeys, state: TeamState, *, at: int | None = None) -> bytes:
    """Leave: no new epoch (the leaver would know its key); an admin rotates after."""
    return sign_entry(keys, _next(keys, state, "leave", state.epoch, at))
