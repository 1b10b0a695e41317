"""Runner grants of team items (format.md §15.8): items of a team vault sealed to one runner
of an admin's, signed with that admin's personal grant key (the key the runner pinned at
enrolment), and bound to the team, the log head it was made at and the admin's identity
key, so that a runner can refuse it once the log shows the admin lost the role.

API (keyword arguments only):

    seal_team_grant(*, vault, state, runner_id, runner_public_key, items, revision,
                    random_bytes=None) -> bytes
        vault: the grantor's unlocked personal Vault (account id, grant key);
        state: the grantor's verified TeamState (TeamSession.state), the grantor an admin
        or owner in it; items: {item id: Item} taken from the team vault.

    open_team_grant(sealed, *, keypair, account_id, runner_id, team_id, owner_verify_key,
                    min_revision=0) -> TeamGrant
        every check of §15.8 that needs no log, in its order.

    check_team_grant_log(grant, states) -> None
        the grant against the team's replayed log (vault_core.teams.replay_states): made at
        an entry of this log, and its grantor an admin or owner, under the identity key the
        grant names, at every entry from that one to the head.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .backend import PrimitiveAuthError, get_backend
from .backend.base import BOX_PUBLIC_KEY_BYTES, SIGN_PUBLIC_KEY_BYTES, SIGNATURE_BYTES
from .encoding import REVISION_MAX, Reader, canonical_json, u16, u32, u64
from .errors import (
    GrantAuthError,
    GrantBindingError,
    LimitExceededError,
    MalformedError,
    RollbackError,
    TeamLogError,
    TeamLogForkError,
    TeamLogGapError,
    TeamPermissionError,
    UnsupportedVersionError,
    WrongVaultError,
)
from .grants import GRANT_MAX_BYTES, GrantedItem, RunnerKeyPair, sign_and_seal
from .grants import _item_dict as item_dict
from .grants import _parse_body as parse_items
from .grants import _seal_open as open_sealed
from .items import MAX_ITEMS, Item
from .keys import RandomBytes, wipe
from .teams.state import ADMIN, RANK, TeamState
from .vault import Vault

TEAM_GRANT_MAGIC = b"ZKTG"
TEAM_GRANT_VERSION = 1
LABEL_TEAM_GRANT = b"zkvault/1 team-grant"
# magic, version, account, runner, team, epoch, log_seq, log_head, grantor key, revision,
# runner key, body_len
_FIXED_BYTES = 4 + 2 + 16 + 16 + 16 + 8 + 8 + 32 + SIGN_PUBLIC_KEY_BYTES + 8 + 32 + 4  # 178


@dataclass(frozen=True)
class TeamGrant:
    account_id: uuid.UUID  # the grantor, who owns the runner
    runner_id: uuid.UUID
    team_id: uuid.UUID
    epoch: int
    log_seq: int
    log_head: bytes
    grantor_sign_key: bytes
    revision: int
    items: tuple[GrantedItem, ...]


def seal_team_grant(
    *,
    vault: Vault,
    state: TeamState,
    runner_id: uuid.UUID,
    runner_public_key: bytes,
    items: Mapping[uuid.UUID, Item],
    revision: int,
    random_bytes: RandomBytes | None = None,
) -> bytes:
    """Seal ``items`` of the team to one of the grantor's runners (format.md §15.8).
    A grantor who is not an admin or owner at ``state`` is ``team_permission``: what the
    runner would refuse, this does not make. ``random_bytes`` is for test vectors only."""
    if len(runner_public_key) != BOX_PUBLIC_KEY_BYTES:
        raise MalformedError("a runner public key is 32 bytes")
    if not 1 <= revision <= REVISION_MAX:
        raise MalformedError("grant revision out of range")
    if len(items) > MAX_ITEMS:
        raise LimitExceededError(f"a grant holds at most {MAX_ITEMS} items")
    grantor = state.members.get(vault.account_id.hex)
    if grantor is None or RANK[grantor.role] < ADMIN:
        raise TeamPermissionError("granting a runner team items needs the admin role")
    entries = []
    for item_id in sorted(items, key=lambda i: i.bytes):
        entry: dict[str, object] = dict(item_dict(items[item_id]))
        entry["id"] = item_id.hex
        entries.append(entry)
    body = canonical_json({"items": entries})
    signed = (
        TEAM_GRANT_MAGIC
        + u16(TEAM_GRANT_VERSION)
        + vault.account_id.bytes
        + runner_id.bytes
        + uuid.UUID(hex=state.team_id).bytes
        + u64(state.epoch)
        + u64(state.seq)
        + state.head
        + grantor.sign_key
        + u64(revision)
        + runner_public_key
        + u32(len(body))
        + body
    )
    return sign_and_seal(
        vault, LABEL_TEAM_GRANT, signed, runner_public_key, random_bytes=random_bytes
    )


def open_team_grant(
    sealed: bytes,
    *,
    keypair: RunnerKeyPair,
    account_id: uuid.UUID,
    runner_id: uuid.UUID,
    team_id: uuid.UUID,
    owner_verify_key: bytes,
    min_revision: int = 0,
) -> TeamGrant:
    """Open and verify a team grant (format.md §15.8 steps 1-7, errors in that order);
    ``team_id`` is the team the server said it is for, ``min_revision`` the highest
    revision this runner accepted for that team."""
    if len(sealed) > GRANT_MAX_BYTES:
        raise LimitExceededError(f"a grant is limited to {GRANT_MAX_BYTES} bytes")
    payload = open_sealed(bytes(sealed), keypair)
    try:
        return _parse(
            bytes(payload), keypair, account_id, runner_id, team_id, owner_verify_key, min_revision
        )
    finally:
        wipe(payload)


def _parse(
    payload: bytes,
    keypair: RunnerKeyPair,
    account_id: uuid.UUID,
    runner_id: uuid.UUID,
    team_id: uuid.UUID,
    owner_verify_key: bytes,
    min_revision: int,
) -> TeamGrant:
    if len(payload) < 6 or payload[:4] != TEAM_GRANT_MAGIC:
        raise MalformedError("not a zkvault team grant")
    reader = Reader(payload, 4)
    version = reader.uint(2)
    if version != TEAM_GRANT_VERSION:
        raise UnsupportedVersionError(f"team grant format version {version} is not supported")
    if len(payload) < _FIXED_BYTES + SIGNATURE_BYTES:
        raise MalformedError("truncated team grant")
    grant_account = uuid.UUID(bytes=reader.take(16))
    grant_runner = uuid.UUID(bytes=reader.take(16))
    grant_team = uuid.UUID(bytes=reader.take(16))
    epoch, log_seq = reader.uint(8), reader.uint(8)
    log_head = reader.take(32)
    grantor_key = reader.take(SIGN_PUBLIC_KEY_BYTES)
    revision = reader.uint(8)
    sealed_to = reader.take(BOX_PUBLIC_KEY_BYTES)
    body = reader.take(reader.uint(4))
    signed_end = reader.offset
    signature = reader.take(SIGNATURE_BYTES)
    if reader.remaining:
        raise MalformedError("trailing bytes after the team grant signature")
    for value in (epoch, log_seq, revision):
        if not 1 <= value <= REVISION_MAX:
            raise MalformedError("team grant epoch, log seq or revision out of range")
    if (
        grant_account != account_id
        or grant_runner != runner_id
        or grant_team != team_id
        or sealed_to != keypair.public_key
    ):
        raise GrantBindingError
    try:
        get_backend().sign_verify_detached(
            signature, LABEL_TEAM_GRANT + payload[:signed_end], owner_verify_key
        )
    except PrimitiveAuthError:
        raise GrantAuthError from None
    if revision < min_revision:
        raise RollbackError(
            f"the team grant is at revision {revision}, older than revision {min_revision}"
            " already seen"
        )
    return TeamGrant(
        account_id,
        runner_id,
        team_id,
        epoch,
        log_seq,
        log_head,
        grantor_key,
        revision,
        parse_items(body),
    )


def check_team_grant_log(grant: TeamGrant, states: Sequence[TeamState]) -> None:
    """The grant against the team's replayed log (§15.8 step 8, errors in this order): the
    log another team's → ``wrong_vault``; the grant made at an entry the log does not hold
    yet → ``team_log_gap``, or holds under another hash → ``team_log_fork``; its epoch not
    the log's at that entry → ``team_log``; the grantor not an admin or owner whose
    identity key is the one the grant names in the state after every entry from that one to
    the last → ``team_permission``."""
    current = states[-1]
    if current.team_id != grant.team_id.hex:
        raise WrongVaultError("the membership log is another team's")
    if grant.log_seq > current.seq:
        raise TeamLogGapError("the grant was made at log entries this runner was not shown")
    at = states[grant.log_seq - 1]
    if not hmac.compare_digest(at.head, grant.log_head):
        raise TeamLogForkError
    if grant.epoch != at.epoch:
        raise TeamLogError("the grant's epoch is not the log's at the entry it names")
    grantor = grant.account_id.hex
    for state in states[grant.log_seq - 1 :]:
        member = state.members.get(grantor)
        if (
            member is None
            or RANK[member.role] < ADMIN
            or not hmac.compare_digest(member.sign_key, grant.grantor_sign_key)
        ):
            raise TeamPermissionError(
                "the grantor is no longer an admin of the team: the grant has ended"
            )
