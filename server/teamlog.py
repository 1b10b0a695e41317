"""Teams' signed data read with vault_core.teams, the one definition (docs/format.md §15):
identity bundles, membership-log entries and the team vault's public header.

The server checks an append as every client will (defence in depth: the clients are the
real check) and keeps what it learnt in its own tables, which it enforces writes with.
Every refusal of the format becomes a TeamDataError carrying the format's own code.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from vault_core.errors import VaultError
from vault_core.teams import (
    LogEntry,
    TeamState,
    apply,
    parse_entry,
    parse_identity,
    peek_team_header,
    replay,
)

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


class StateCache:
    """The states this process computed, by (team, seq, head hash): a team of 200 members
    replays in ~0.15 s, which every append would otherwise pay. Keyed by the head's hash,
    a state is the one its log gives on any instance; the log only grows, so an entry is
    never stale, only unused (least recently used ones are dropped)."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._states: OrderedDict[tuple[str, int, str], TeamState] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, str]) -> TeamState | None:
        with self._lock:
            found = self._states.get(key)
            if found is not None:
                self._states.move_to_end(key)
            return found

    def put(self, current: TeamState) -> None:
        key = (current.team_id, current.seq, current.head.hex())
        with self._lock:
            self._states[key] = current
            self._states.move_to_end(key)
            while len(self._states) > self._size:
                self._states.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._states.clear()


STATES = StateCache()


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


def vault_header(blob: bytes) -> TeamVaultHeader:
    """The team vault's public header, read without a key (format.md §15.6)."""

    def read() -> TeamVaultHeader:
        h = peek_team_header(blob)
        return TeamVaultHeader(h.team_id, h.revision, h.epoch, h.log_seq, h.writer)

    return _checked(read)
