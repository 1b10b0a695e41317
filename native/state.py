"""This machine's encrypted local state: one file, authenticated and bound here.

The file is sealed by vault_core.local_state (docs/format.md §13): bound to this machine's
id and to a generation counter kept with the key, so a file copied to another machine,
edited, or swapped for an older copy of itself is refused. This module calls no
cryptographic primitive: it keeps the key (native.machinekey), the lock and the JSON.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from native import paths
from native.dpop import DpopKey
from native.errors import STATE, CliError
from native.fsutil import atomic_write, private_dir, read_file
from native.machinekey import KeyStore, machine_id, store_for
from vault_core.b64url import b64url_decode, b64url_encode, from_standard_base64
from vault_core.errors import MalformedError, RollbackError, StateAuthError
from vault_core.keys import wipe
from vault_core.local_state import (
    STATE_MAGIC,
    new_state_key,
    open_state,
    read_state_header,
    seal_state,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from vault_core.lineage import Device, VaultMemory

STATE_FILE = "state.bin"
LOCK_FILE = "state.lock"
LOG_FILE = "agent.log"
DEVICE_PREFIX = "zkvault on "
_REPAIR = "run `zkvault connect --clean` (or `zkvault import`) to start again"


def new_device_id() -> str:
    return secrets.token_hex(16)


def device_name() -> str:
    """``zkvault on <host name>``: how the web app and other devices name this machine's
    saves (at most 128 characters, no control characters)."""
    host = "".join(c for c in socket.gethostname() if c.isprintable()) or "unknown host"
    return DEVICE_PREFIX + host[: 128 - len(DEVICE_PREFIX)]


@dataclasses.dataclass
class LocalState:
    """What a machine or runner remembers between runs. Never written in clear."""

    account_id: str | None = None
    vault_id: str | None = None
    # The encrypted vault blob as last synced, base64url. (Files written before, which
    # kept it as standard base64 under vault_b64, are read through from_json.)
    vault_b64url: str | None = None
    # Before vault_memory: the highest vault revision accepted here (read to migrate). Now
    # only an imported file's revision, the floor until the first unlock remembers more.
    max_revision: int = 0
    # What this machine remembers of the vault (vault_core.lineage.VaultMemory.to_json():
    # revisions, digests, device ids, whether a person confirmed it; no secret). Every
    # revision opened or adopted must descend from it (docs/format.md §14). None: never
    # opened here.
    vault_memory: dict[str, Any] | None = None
    # Accepted revisions before it kept a vault_memory (a state from before format 2): not
    # a machine new to the vault, so its first unlock asks for no confirmation.
    seen_before: bool = False
    # This machine as a writer of the vault (lineage): random, 32 lowercase hex.
    device_id: str | None = None
    # A fork, downgrade or damaged lineage met: {"at", "code", "message", "revision"}.
    # Kept until an unlock succeeds; shown by `zkvault status`.
    fork: dict[str, Any] | None = None
    # What this machine remembers of each team (vault_core.teams.TeamMemory.dumps(): the
    # log head and team vault revision it accepted), by team id: a log or vault served
    # older than this, or beside it, is refused after a restart too (format.md §15.7).
    team_memory: dict[str, str] | None = None
    synced_at: float | None = None  # when the copy was last confirmed by the server
    # When this machine learnt that it was revoked (UTC, ISO 8601): the server refused its
    # tokens for good. Kept until `zkvault connect --clean`; shown by status and the
    # commands that find the agent gone (docs/cli.md, "Revoked").
    revoked_at: str | None = None
    server: str | None = None
    machine_id: str | None = None
    machine_name: str | None = None
    refresh_token: str | None = dataclasses.field(default=None, repr=False)
    # This machine's DPoP key (Ed25519 seed, base64url): every request to the server
    # proves it, so a copied refresh token is useless elsewhere (native/dpop.py).
    dpop_seed: str | None = dataclasses.field(default=None, repr=False)

    def dpop_key(self) -> DpopKey:
        if not self.dpop_seed:
            raise CliError(
                "this machine was paired before requests were bound to a key; "
                "run `zkvault connect --clean` to pair again",
                STATE,
                "no_dpop_key",
            )
        return DpopKey(b64url_decode(self.dpop_seed))

    @property
    def vault_blob(self) -> bytes | None:
        return None if self.vault_b64url is None else b64url_decode(self.vault_b64url)

    @vault_blob.setter
    def vault_blob(self, blob: bytes | None) -> None:
        self.vault_b64url = None if blob is None else b64url_encode(blob)

    def memory(self) -> VaultMemory | None:
        """The vault memory kept here, or None; a damaged one is a malformed state."""
        if self.vault_memory is None:
            return None
        from vault_core.lineage import VaultMemory

        try:
            return VaultMemory.from_json(self.vault_memory)
        except MalformedError:
            raise CliError(
                f"local state is malformed (vault memory); {_REPAIR}", STATE, "malformed_state"
            ) from None

    @property
    def revision_floor(self) -> int:
        """No vault older than this is offered to the passphrase (public header check)."""
        memory = self.memory()
        return max(self.max_revision, memory.head.revision if memory else 0)

    @property
    def format_floor(self) -> int:
        """No vault in an older format than this is opened (downgrade)."""
        memory = self.memory()
        return memory.format if memory else 0

    def device(self) -> Device:
        """This machine as a writer of the vault; ``device_id`` must be set."""
        from vault_core.lineage import Device

        assert self.device_id is not None
        return Device(self.device_id, device_name())

    def to_json(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> LocalState:
        raw: Any = json.loads(data)
        if not isinstance(raw, dict):
            raise ValueError("state is not an object")
        legacy = raw.get("vault_b64")
        if isinstance(legacy, str) and raw.get("vault_b64url") is None:
            raw["vault_b64url"] = from_standard_base64(legacy)
        if "vault_memory" not in raw and raw.get("max_revision"):
            raw["seen_before"] = True  # written before this machine kept a vault memory
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


class StateStore:
    """Reads and writes the state in ``ZKVAULT_HOME`` under an advisory lock."""

    def __init__(self, state_dir: str | None = None) -> None:
        self.dir = state_dir or paths.state_dir()
        self.path = os.path.join(self.dir, STATE_FILE)

    def exists(self) -> bool:
        return os.path.exists(self.path)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise read-modify-write cycles between the CLI and the agent."""
        private_dir(self.dir)
        fd = os.open(os.path.join(self.dir, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def load(self) -> LocalState:
        data = read_file(self.path)
        if data is None:
            raise CliError(
                "this machine is not set up yet; run `zkvault connect` (or `zkvault import`)",
                STATE,
                "no_state",
            )
        try:
            header = read_state_header(data)
        except MalformedError:
            raise CliError(
                f"local state {self.path} is not a zkvault state file; {_REPAIR}",
                STATE,
                "malformed_state",
            ) from None
        record = store_for(self.dir, header.store).load()
        if record is None:
            raise CliError(
                f"the machine key for this state is missing; {_REPAIR}", STATE, "machine_key"
            )
        key, counter = record
        try:
            plain = open_state(data, key, machine_id=machine_id(), min_generation=counter)
        except StateAuthError:
            raise CliError(
                f"local state failed authentication: it was altered, damaged or copied from "
                f"another machine; {_REPAIR}",
                STATE,
                "state_auth",
            ) from None
        except RollbackError:
            raise CliError(
                f"local state was rolled back (generation {header.generation}, expected "
                f"{counter}); {_REPAIR}",
                STATE,
                "state_rollback",
            ) from None
        try:
            return LocalState.from_json(bytes(plain))
        except (ValueError, TypeError):
            raise CliError(
                f"local state is malformed; {_REPAIR}", STATE, "malformed_state"
            ) from None
        finally:
            wipe(plain)

    def save(self, state: LocalState) -> None:
        """Write a new generation, then advance the counter kept with the key."""
        private_dir(self.dir)
        store: KeyStore
        existing = read_file(self.path)
        if existing is not None and existing.startswith(STATE_MAGIC) and len(existing) > 6:
            store = store_for(self.dir, existing[6:7])
        else:
            store = store_for(self.dir)
        record = store.load()
        key, counter = record if record else (bytes(new_state_key()), 0)
        generation = counter + 1
        sealed = seal_state(
            state.to_json(), key, store=store.source, generation=generation, machine_id=machine_id()
        )
        atomic_write(self.path, sealed)
        store.save(key, generation)

    def clear(self) -> None:
        """Forget everything: the state file and its key."""
        existing = read_file(self.path)
        source = existing[6:7] if existing and existing.startswith(STATE_MAGIC) else None
        with suppress(CliError):
            store_for(self.dir, source).delete()
        with suppress(FileNotFoundError):
            os.unlink(self.path)

    def log(self, line: str) -> None:
        """Append one line (never a secret) to ``agent.log`` beside the state, 0600."""
        private_dir(self.dir)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        text = " ".join(line.split())  # one line, whatever the message held
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
        fd = os.open(os.path.join(self.dir, LOG_FILE), flags, 0o600)
        try:
            os.write(fd, f"{stamp} {text}\n".encode())
        finally:
            os.close(fd)

    @contextmanager
    def update(self) -> Iterator[LocalState]:
        """``with store.update() as st:`` loads under the lock and saves on success."""
        with self.locked():
            state = self.load()
            yield state
            self.save(state)
