"""Keep the local vault copy in step with the server, and watch for revocation.

On unlock: fetch the server's vault and adopt it unless it is older than
the highest revision this machine has seen (rollback). If the server cannot
be reached, the local copy is used while it is younger than the offline
maximum age (and never in strict mode). The agent then calls ``check`` every
interval: a revoked machine, or in strict mode an unreachable server, wipes it.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from native.api import Api, ApiError, b64url_decode
from native.errors import NETWORK, REVOKED, STATE, CliError
from native.session import MachineSession, unexpected
from native.state import LocalState, StateStore

DEFAULT_OFFLINE_MAX_AGE = 7 * 86400.0
DEFAULT_CHECK_INTERVAL = 60.0


@dataclass
class Session:
    """What the agent needs to keep checking this machine is still authorised."""

    check: Callable[[], str | None]
    interval: float


def _seconds(env: str, default: float) -> float:
    from native.unlock import parse_duration

    value = os.environ.get(env)
    return parse_duration(value, env) if value else default


def refresh_vault(store: StateStore, state: LocalState, *, strict: bool
                  ) -> tuple[LocalState, Session | None]:
    """Sync before unlocking; returns the state to open and the agent's check."""
    if not state.server:
        return state, None
    api = Api(state.server)
    machine = MachineSession(store, api)
    try:
        remote = machine.get("/api/vault")
    except ApiError as exc:
        if exc.code != "no_vault":
            raise unexpected(exc) from None
        remote = None
    except CliError as exc:
        if exc.exit_code != NETWORK or strict:
            raise
        _offline_allowed(state)
    else:
        if remote is not None:
            state = _adopt(store, remote)
    return store.load(), Session(_checker(machine, strict),
                                 _seconds("ZKVAULT_CHECK_INTERVAL", DEFAULT_CHECK_INTERVAL))


def _offline_allowed(state: LocalState) -> None:
    max_age = _seconds("ZKVAULT_OFFLINE_MAX_AGE", DEFAULT_OFFLINE_MAX_AGE)
    age = time.time() - (state.synced_at or 0)
    if state.vault_b64 is None or age > max_age:
        raise CliError(f"the server cannot be reached and the local copy is older than the "
                       f"offline limit ({int(max_age)}s, ZKVAULT_OFFLINE_MAX_AGE); "
                       "try again when online", NETWORK, "offline_too_old")
    print(f"zkvault: server unreachable; using the local copy from {int(age)}s ago",
          file=sys.stderr)


def _adopt(store: StateStore, remote: dict[str, object]) -> LocalState:
    """Store the server's vault as the local copy, refusing an older or foreign one."""
    from vault_core import errors, peek_header

    blob = b64url_decode(str(remote.get("blob", "")))
    try:
        header = peek_header(blob)
    except errors.VaultError as exc:
        from native.vaulterrors import translate

        raise translate(exc) from None
    with store.update() as state:
        if state.account_id and uuid.UUID(state.account_id) != header.account_id:
            raise CliError("the server sent a vault of another account; refusing it", STATE,
                           "wrong_account")
        if state.vault_id and uuid.UUID(state.vault_id) != header.vault_id:
            raise CliError("the server sent another vault than this machine's; refusing it "
                           "(`zkvault connect --clean` if the vault was replaced)", STATE,
                           "wrong_vault")
        if header.revision < state.max_revision:
            raise CliError(f"the server sent vault revision {header.revision}, older than "
                           f"revision {state.max_revision} this machine has seen (possible "
                           "rollback attack); refusing it", STATE, "rollback")
        state.vault_blob = blob
        state.vault_id = str(header.vault_id)
        state.synced_at = time.time()
        return state


def _checker(machine: MachineSession, strict: bool) -> Callable[[], str | None]:
    def check() -> str | None:
        try:
            machine.get("/api/me")
        except CliError as exc:
            if exc.exit_code == REVOKED:
                return "machine revoked"
            if strict:
                return "server unreachable (strict mode)"
        except Exception:  # ApiError, or an answer we do not understand
            if strict:
                return "server check failed (strict mode)"
        return None

    return check
