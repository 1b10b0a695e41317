"""Keep the local vault copy in step with the server, and watch for revocation.

On unlock: fetch the server's vault and adopt it unless it is older than
the highest revision this machine has seen (rollback). If the server cannot
be reached, the local copy is used while it is younger than the offline
maximum age (and never in strict mode). The agent then ``watch``es: a long poll
that the server answers as soon as the vault changes or the machine is revoked.
Only a definite revocation wipes the agent; a server that cannot be reached or
cannot verify the token right now is retried (docs/cli.md, "The agent").
"""

from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from native import candidate, settings
from native.agent import Seen
from native.api import Api, ApiError, b64url_decode
from native.errors import NETWORK, CliError
from native.machine_tokens import MachineSession, unexpected
from native.state import LocalState, StateStore

DEFAULT_OFFLINE_MAX_AGE = 7 * 86400.0
DEFAULT_CHECK_INTERVAL = 25.0  # the longest one long poll waits (the server caps it at 30 s)
_SLACK = 5.0  # beyond the long poll's wait, for the HTTP round trip (and a silent network)
# A server answers "unchanged" long before the wait ends when it declines to wait (a cap
# on waiting polls, or shutting down: docs/server.md): ask again after its Retry-After.
DECLINED_PAUSE = 10.0
# Failures that mean "cannot reach or cannot ask the server right now", never "revoked".
_UNREACHABLE = ("unreachable", "server_error", "bad_response")

if TYPE_CHECKING:
    from vault_core.lineage import VaultMemory


class Opened(Protocol):
    """What remembering needs of an opened vault (vault_core.Vault)."""

    @property
    def vault_id(self) -> uuid.UUID: ...

    @property
    def memory(self) -> VaultMemory | None: ...


@dataclass
class Session:
    """What the agent needs to keep watching this machine's vault and authorisation."""

    machine: MachineSession
    interval: float
    store: StateStore
    strict: bool

    def watch(self, revision: int) -> Seen:
        """Wait (long poll) until the server's vault differs from ``revision`` or the wait
        ends; a newer blob to adopt, a reason to wipe, or a trouble to retry."""
        try:
            started = time.monotonic()
            head = self.machine.get(
                f"/api/vault/head?after={revision}&wait={self.interval:g}",
                timeout=self.interval + _SLACK,
            )
            newest = int(str(head.get("revision", 0)))
            if newest <= revision:  # unchanged (an older figure is a lie; reload refuses it)
                if time.monotonic() - started < self.interval / 2:
                    time.sleep(min(DECLINED_PAUSE, self.interval))
                return Seen()
            remote = self.machine.get("/api/vault")
            return Seen(newer=b64url_decode(str(remote.get("blob", ""))), revision=newest)
        except CliError as exc:
            if exc.code == "revoked":
                return Seen(wipe="machine revoked")
            if self.strict and exc.code in _UNREACHABLE:
                return Seen(wipe="server unreachable (strict mode)")
            return Seen(trouble=exc.message)
        except ApiError as exc:
            return Seen(trouble=f"the server refused the check ({exc.status} {exc.code})")
        except (ValueError, TypeError):
            return Seen(trouble="the server's answer to the check was malformed")

    def adopt(self, blob: bytes, vault: Opened) -> None:
        """The agent opened a newer vault with the keys it holds: keep it locally too."""
        remember(self.store, blob, vault, True)

    def forked(self, error: CliError, revision: int) -> dict[str, Any]:
        """The agent met a fork: kept for `zkvault status` and logged."""
        return record_fork(self.store, error, revision, "the agent")


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
    machine = MachineSession(store, Api(state.server, state.dpop_key()))
    interval = settings.duration(None, "ZKVAULT_CHECK_INTERVAL", DEFAULT_CHECK_INTERVAL)
    session = Session(machine, interval, store, strict)
    try:
        remote = machine.get("/api/vault")
    except ApiError as exc:
        if exc.code != "no_vault":
            raise unexpected(exc) from None
        return Fetched(state.vault_blob, False, session)
    except CliError as exc:
        if exc.exit_code != NETWORK or strict:
            raise
        _offline_allowed(state, exc)
        return Fetched(state.vault_blob, False, session)
    return Fetched(checked(state, remote), True, session)


def remember(store: StateStore, blob: bytes, vault: Opened, from_server: bool) -> None:
    """After a successful open or reload: keep this copy and what the vault now is to this
    machine (its memory: head, lineage vector, confirmation); a fork recorded earlier is
    over. A memory is never replaced by one with an older head (a slower writer)."""
    memory = vault.memory
    with store.update() as state:
        kept = state.memory() if state.vault_id == str(vault.vault_id) else None
        if kept is not None and memory is not None and kept.head.revision > memory.head.revision:
            return
        state.vault_blob = blob
        state.vault_id = str(vault.vault_id)
        state.vault_memory = None if memory is None else memory.to_json()
        state.fork = None
        if from_server:
            state.synced_at = time.time()


FORK_CODES = ("fork", "downgrade", "lineage")


def record_fork(
    store: StateStore, error: CliError, revision: int | None, by: str
) -> dict[str, Any]:
    """A fork, downgrade or damaged lineage met (by "unlock" or "the agent"): kept in the
    state until an unlock succeeds, and one line in agent.log. The vault copy and the
    memory stay as they were. Never a secret: the code, a revision and vault_core's text."""
    record = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "code": error.code,
        "message": error.message,
        "revision": revision,
    }
    try:
        with store.update() as state:
            state.fork = record
    finally:
        what = "the server's vault" if revision is None else f"revision {revision} from the server"
        store.log(f"zkvault: {by} refused {what} ({error.code}): {error.message}")
    return record


def _offline_allowed(state: LocalState, why: CliError) -> None:
    max_age = settings.duration(None, "ZKVAULT_OFFLINE_MAX_AGE", DEFAULT_OFFLINE_MAX_AGE)
    age = time.time() - (state.synced_at or 0)
    if state.vault_b64url is None:
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
    reason = (
        "server unreachable"
        if why.code in _UNREACHABLE
        else "the server cannot verify this machine right now"
    )
    print(f"zkvault: {reason}; using the local copy from {int(age)}s ago", file=sys.stderr)


def checked(state: LocalState, remote: dict[str, object]) -> bytes:
    """The server's vault blob, unless its public header is foreign, in an older format
    or older than seen."""
    blob = b64url_decode(str(remote.get("blob", "")))
    candidate.check(
        blob,
        "the server's vault",
        account_id=state.account_id,
        vault_id=state.vault_id,
        max_revision=state.revision_floor,
        min_format=state.format_floor,
    )
    return blob
