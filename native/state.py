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

STATE_FILE = "state.bin"
LOCK_FILE = "state.lock"
_REPAIR = "run `zkvault connect --clean` (or `zkvault import`) to start again"


@dataclasses.dataclass
class LocalState:
    """What a machine or runner remembers between runs. Never written in clear."""

    account_id: str | None = None
    vault_id: str | None = None
    # The encrypted vault blob as last synced, base64url. (Files written before, which
    # kept it as standard base64 under vault_b64, are read through from_json.)
    vault_b64url: str | None = None
    max_revision: int = 0  # highest vault revision ever accepted here
    synced_at: float | None = None  # when the copy was last confirmed by the server
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

    @contextmanager
    def update(self) -> Iterator[LocalState]:
        """``with store.update() as st:`` loads under the lock and saves on success."""
        with self.locked():
            state = self.load()
            yield state
            self.save(state)
