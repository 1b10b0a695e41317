"""Team key boxes and the key check (format.md §15.2).

A box seals one epoch's team key TK_e to one member's identity X25519 key. Sealed boxes
are anonymous, so anyone (the server too) can make one: what makes a box trustworthy is
that the key it holds matches the key check an admin signed into the membership log, and
that its payload names the team, the epoch and the member it is for, so a genuine box
moved to another member, team or epoch is refused.
"""

from __future__ import annotations

import hmac
import uuid

from ..backend import PrimitiveAuthError, get_backend
from ..encoding import Reader, u16, u64
from ..errors import MalformedError, TeamKeyCheckError, TeamKeyError, UnsupportedVersionError
from ..keys import KEY_BYTES, RandomBytes
from ..sealedbox import SEAL_OVERHEAD, seal, seal_open
from .identity import IdentityKeys

BOX_MAGIC = b"ZKTK"
BOX_VERSION = 1
BOX_PAYLOAD_BYTES = 4 + 2 + 16 + 8 + 16 + KEY_BYTES  # 78
TEAM_KEY_BOX_BYTES = SEAL_OVERHEAD + BOX_PAYLOAD_BYTES  # 126
TEAM_KEY_BYTES = KEY_BYTES
LABEL_KEY_CHECK = b"zkvault/1 team-key-check"


def new_team_key(random_bytes: RandomBytes | None = None) -> bytearray:
    return bytearray((random_bytes or get_backend().random_bytes)(TEAM_KEY_BYTES))


def key_check(team_key: bytes | bytearray, team_id: uuid.UUID, epoch: int) -> bytes:
    """MAC(TK_e, "zkvault/1 team-key-check" || team_id || u64(epoch))."""
    if len(team_key) != TEAM_KEY_BYTES:
        raise MalformedError(f"a team key is {TEAM_KEY_BYTES} bytes")
    return get_backend().blake2b(
        KEY_BYTES, LABEL_KEY_CHECK + team_id.bytes + u64(epoch), bytes(team_key)
    )


def seal_team_key(
    team_key: bytes | bytearray,
    team_id: uuid.UUID,
    epoch: int,
    member: uuid.UUID,
    member_box_key: bytes,
    random_bytes: RandomBytes | None = None,
) -> bytes:
    """Seal(member_box_key, "ZKTK" || u16 1 || team_id || u64 epoch || member || TK_e)."""
    if len(team_key) != TEAM_KEY_BYTES:
        raise MalformedError(f"a team key is {TEAM_KEY_BYTES} bytes")
    payload = (
        BOX_MAGIC + u16(BOX_VERSION) + team_id.bytes + u64(epoch) + member.bytes + bytes(team_key)
    )
    try:
        return seal(member_box_key, payload, random_bytes)
    except ValueError:
        raise MalformedError("the member's identity key is not usable") from None


def open_team_key(
    box: bytes,
    keys: IdentityKeys,
    team_id: uuid.UUID,
    epoch: int,
    expected_check: bytes,
) -> bytearray:
    """Open the box sealed for ``keys`` at ``epoch``; steps and errors in this order:
    does not open → team_key; payload not 78 bytes or magic ≠ "ZKTK" → malformed; version
    ≠ 1 → unsupported_version; team, epoch or member not this one's → team_key; the key's
    check differs from the log's → team_key_check."""
    try:
        payload = seal_open(bytes(box), keys.box_key, keys.box_secret_bytes())
    except PrimitiveAuthError:
        raise TeamKeyError from None
    if len(payload) != BOX_PAYLOAD_BYTES or bytes(payload[:4]) != BOX_MAGIC:
        raise MalformedError("not a zkvault team key box")
    reader = Reader(bytes(payload), 4)
    version = reader.uint(2)
    if version != BOX_VERSION:
        raise UnsupportedVersionError(f"team key box version {version} is not supported")
    if (
        reader.take(16) != team_id.bytes
        or reader.uint(8) != epoch
        or reader.take(16) != keys.account_id.bytes
    ):
        raise TeamKeyError("the box was sealed for another team, epoch or member")
    team_key = bytearray(payload[-TEAM_KEY_BYTES:])
    for i in range(len(payload)):
        payload[i] = 0
    if not hmac.compare_digest(key_check(team_key, team_id, epoch), expected_check):
        raise TeamKeyCheckError
    return team_key
