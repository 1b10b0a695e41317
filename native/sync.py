"""Keeping the local vault copy in step with the server (filled in with pairing)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from native.state import LocalState, StateStore


@dataclass
class Session:
    """What the agent needs to keep checking this machine is still authorised."""

    check: Callable[[], str | None]
    interval: float


def refresh_vault(store: StateStore, state: LocalState, *, strict: bool) -> Session | None:
    """Without a server there is nothing to sync or check."""
    if not state.server:
        return None
    return None
