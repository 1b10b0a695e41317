"""Teams' signed data read with vault_core.teams, the one definition (docs/format.md §15):
identity bundles, membership-log entries and the team vault's public header.

The server checks an append as every client will (defence in depth: the clients are the
real check) and keeps what it learnt in its own tables, which it enforces writes with.
Every refusal of the format becomes a TeamDataError carrying the format's own code.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import vault_core.teams
from vault_core.errors import VaultError
from vault_core.teams import LogEntry, TeamState, apply, parse_entry, parse_identity, replay

__all__ = [
    "LogEntry",
    "TeamDataError",
    "TeamState",
    "TeamVaultHeader",
    "after",
    "check_identity",
    "entry",
    "state",
    "team_uuid",
    "vault_header",
]
T = TypeVar("T")


class TeamDataError(ValueError):
    """Signed team data the format refuses; ``code`` is the format's (docs/format.md)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _checked(read: Callable[[], T]) -> T:
    try:
        return read()
    except VaultError as exc:
        raise TeamDataError(exc.code, str(exc)) from None


def team_uuid(team_hex: str) -> uuid.UUID:
    """The log's team id (32 lowercase hex digits) as the server's key."""
    return uuid.UUID(hex=team_hex)


def account_hex(account_id: uuid.UUID) -> str:
    return account_id.hex


def check_identity(bundle: bytes, account_id: uuid.UUID) -> None:
    """The bundle is well formed, self-signed, and names ``account_id``."""
    _checked(lambda: parse_identity(bundle, account_id))


def entry(raw: bytes) -> LogEntry:
    return _checked(lambda: parse_entry(raw))


def state(entries: Iterable[bytes]) -> TeamState:
    """The team as its stored log says (each entry re-checked)."""
    return _checked(lambda: replay(entries))


def after(current: TeamState | None, new: LogEntry) -> TeamState:
    """The team once ``new`` is applied; refused as any client would refuse it."""
    return _checked(lambda: apply(current, new))


@dataclass(frozen=True, slots=True)
class TeamVaultHeader:
    team_id: uuid.UUID
    revision: int
    epoch: int
    log_seq: int
    writer: uuid.UUID


# Provisional: until vault_core.teams exports its own no-key reader of the team vault's
# public header (asked for; format.md §15 will define it), the server reads this layout:
# "ZKTV" || version u16 = 1 || team_id (16) || revision u64 || epoch u64 || log_seq u64 ||
# writer account id (16), all big-endian. Swapped for core's reader as soon as it exists.
PROVISIONAL_MAGIC = b"ZKTV"
_PROVISIONAL = struct.Struct(">4sH16sQQQ16s")


def _provisional_header(blob: bytes) -> TeamVaultHeader:
    if len(blob) < _PROVISIONAL.size:
        raise TeamDataError("malformed", "not a zkvault team vault")
    magic, version, team, revision, epoch, log_seq, writer = _PROVISIONAL.unpack_from(blob)
    if magic != PROVISIONAL_MAGIC:
        raise TeamDataError("malformed", "not a zkvault team vault")
    if version != 1:
        raise TeamDataError("unsupported_version", "team vault version is not supported")
    return TeamVaultHeader(uuid.UUID(bytes=team), revision, epoch, log_seq, uuid.UUID(bytes=writer))


def vault_header(blob: bytes) -> TeamVaultHeader:
    """The team vault's public header, read without a key."""
    reader = getattr(vault_core.teams, "peek_team_header", None)
    if reader is None:
        return _provisional_header(blob)

    def read() -> TeamVaultHeader:
        h = reader(blob)
        return TeamVaultHeader(
            uuid.UUID(str(h.team_id)), h.revision, h.epoch, h.log_seq, uuid.UUID(str(h.writer))
        )

    return _checked(read)
