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


# Given the revision held, returns (reason to wipe now, or None; a newer vault blob, or None).
Check = Callable[[int], tuple[str | None, bytes | None]]


@dataclass
class Session:
    """What the agent needs to keep checking this machine is still authorised."""

    check: Check
    interval: float
    store: StateStore

    def adopt(self, blob: bytes, revision: int, vault_id: str) -> None:
        """The agent opened a newer vault with the keys it holds: keep it locally too."""
        remember(self.store, blob, revision, vault_id, True)


def _seconds(env: str, default: float) -> float:
    from native.unlock import parse_duration

    value = os.environ.get(env)
    return parse_duration(value, env) if value else default


@dataclass
class Fetched:
    """The vault to open: the server's newer copy, or the local one."""

    blob: bytes | None
    from_server: bool
    session: Session | None


def fetch_vault(store: StateStore, state: LocalState, *, strict: bool) -> Fetched:
    """Sync before unlocking. The server's copy is only a candidate: the caller stores it
    (``remember``) once the passphrase has authenticated it, so a tampered download never
    replaces a good local copy."""
    if not state.server:
        return Fetched(state.vault_blob, False, None)
    api = Api(state.server)
    machine = MachineSession(store, api)
    session = Session(
        _checker(machine, strict), _seconds("ZKVAULT_CHECK_INTERVAL", DEFAULT_CHECK_INTERVAL), store
    )
    try:
        remote = machine.get("/api/vault")
    except ApiError as exc:
        if exc.code != "no_vault":
            raise unexpected(exc) from None
        return Fetched(state.vault_blob, False, session)
    except CliError as exc:
        if exc.exit_code != NETWORK or strict:
            raise
        _offline_allowed(state)
        return Fetched(state.vault_blob, False, session)
    return Fetched(_checked(state, remote), True, session)


def remember(
    store: StateStore, blob: bytes, revision: int, vault_id: str, from_server: bool
) -> None:
    """After a successful open: keep this copy and raise the highest-revision mark."""
    with store.update() as state:
        state.vault_blob = blob
        state.vault_id = vault_id
        state.max_revision = max(state.max_revision, revision)
        if from_server:
            state.synced_at = time.time()


def _offline_allowed(state: LocalState) -> None:
    max_age = _seconds("ZKVAULT_OFFLINE_MAX_AGE", DEFAULT_OFFLINE_MAX_AGE)
    age = time.time() - (state.synced_at or 0)
    if state.vault_b64 is None:
        raise CliError(
            "the server cannot be reached and this machine has no copy of the "
            "vault yet; try again when online",
            NETWORK,
            "unreachable",
        )
    if age > max_age:
        raise CliError(
            f"the server cannot be reached and the local copy is older than the "
            f"offline limit ({int(max_age)}s, ZKVAULT_OFFLINE_MAX_AGE); "
            "try again when online",
            NETWORK,
            "offline_too_old",
        )
    print(
        f"zkvault: server unreachable; using the local copy from {int(age)}s ago", file=sys.stderr
    )


def _checked(state: LocalState, remote: dict[str, object]) -> bytes:
    """The server's vault blob, unless its public header is foreign or older than seen."""
    from vault_core import errors, peek_header

    blob = b64url_decode(str(remote.get("blob", "")))
    try:
        header = peek_header(blob)
    except errors.VaultError as exc:
        from native.vaulterrors import translate

        raise translate(exc) from None
    if state.account_id and uuid.UUID(state.account_id) != header.account_id:
        raise CliError(
            "the server sent a vault of another account; refusing it", STATE, "wrong_account"
        )
    if state.vault_id and uuid.UUID(state.vault_id) != header.vault_id:
        raise CliError(
            "the server sent another vault than this machine's; refusing it "
            "(`zkvault connect --clean` if the vault was replaced)",
            STATE,
            "wrong_vault",
        )
    if header.revision < state.max_revision:
        raise CliError(
            f"the server sent vault revision {header.revision}, older than "
            f"revision {state.max_revision} this machine has seen (possible "
            "rollback attack); refusing it",
            STATE,
            "rollback",
        )
    return blob


def _checker(machine: MachineSession, strict: bool) -> Check:
    """The agent's periodic call: is this machine still authorised, and is there a newer
    vault? (One request does both: the vault read fails for a revoked machine.)"""

    def check(revision: int) -> tuple[str | None, bytes | None]:
        try:
            remote = machine.get("/api/vault")
            blob = b64url_decode(str(remote.get("blob", "")))
            newer = int(str(remote.get("revision", 0))) > revision
            return None, blob if newer else None
        except CliError as exc:
            if exc.exit_code == REVOKED:
                return "machine revoked", None
            if strict:
                return "server unreachable (strict mode)", None
        except Exception:  # ApiError, or an answer we do not understand
            if strict:
                return "server check failed (strict mode)", None
        return None, None

    return check
