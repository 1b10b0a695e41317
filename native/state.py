"""This machine's encrypted local state: one file, authenticated and bound here.

File layout (docs/cli.md, "State layout")::

    magic "ZKVST1" | key store (1 byte: f=file, k=keyring) | generation (u64 BE)
    | nonce (24) | XChaCha20-Poly1305(JSON state)

The associated data is the 39-byte header followed by this machine's id, so
a file copied to another machine, edited, or swapped for an older copy of
itself (its generation is below the counter kept with the key) is refused.
"""

from __future__ import annotations

import base64
import dataclasses
import fcntl
import json
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions
import nacl.utils

from native import paths
from native.dpop import DpopKey
from native.errors import STATE, CliError
from native.fsutil import atomic_write, private_dir, read_file
from native.machinekey import KEY_BYTES, KeyStore, machine_id, store_for
from vault_core.b64url import b64url_decode

MAGIC = b"ZKVST1"
_HEADER = struct.Struct(">6scQ24s")
STATE_FILE = "state.bin"
LOCK_FILE = "state.lock"
_REPAIR = "run `zkvault connect --clean` (or `zkvault import`) to start again"


@dataclasses.dataclass
class LocalState:
    """What a machine or runner remembers between runs. Never written in clear."""

    account_id: str | None = None
    vault_id: str | None = None
    vault_b64: str | None = None  # the encrypted vault blob as last synced
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
        return None if self.vault_b64 is None else base64.b64decode(self.vault_b64)

    @vault_blob.setter
    def vault_blob(self, blob: bytes | None) -> None:
        self.vault_b64 = None if blob is None else base64.b64encode(blob).decode()

    def to_json(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> LocalState:
        raw: Any = json.loads(data)
        if not isinstance(raw, dict):
            raise ValueError("state is not an object")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


def _aad(header: bytes) -> bytes:
    return header + b"\x00" + machine_id()


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
        if len(data) < _HEADER.size + 16 or not data.startswith(MAGIC):
            raise CliError(
                f"local state {self.path} is not a zkvault state file; {_REPAIR}",
                STATE,
                "malformed_state",
            )
        header = data[: _HEADER.size]
        _, source, generation, nonce = _HEADER.unpack(header)
        record = store_for(self.dir, source).load()
        if record is None:
            raise CliError(
                f"the machine key for this state is missing; {_REPAIR}", STATE, "machine_key"
            )
        key, counter = record
        try:
            plain = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
                data[_HEADER.size :], _aad(header), nonce, key
            )
        except nacl.exceptions.CryptoError:
            raise CliError(
                f"local state failed authentication: it was altered, damaged or copied from "
                f"another machine; {_REPAIR}",
                STATE,
                "state_auth",
            ) from None
        if generation < counter:
            raise CliError(
                f"local state was rolled back (generation {generation}, expected {counter}); "
                f"{_REPAIR}",
                STATE,
                "state_rollback",
            )
        try:
            return LocalState.from_json(plain)
        except (ValueError, TypeError):
            raise CliError(
                f"local state is malformed; {_REPAIR}", STATE, "malformed_state"
            ) from None

    def save(self, state: LocalState) -> None:
        """Write a new generation, then advance the counter kept with the key."""
        private_dir(self.dir)
        store: KeyStore
        existing = read_file(self.path)
        if existing is not None and existing.startswith(MAGIC) and len(existing) > 6:
            store = store_for(self.dir, existing[6:7])
        else:
            store = store_for(self.dir)
        record = store.load()
        key, counter = record if record else (nacl.utils.random(KEY_BYTES), 0)
        generation = counter + 1
        header = _HEADER.pack(MAGIC, store.source, generation, nacl.utils.random(24))
        sealed = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
            state.to_json(), _aad(header), header[-24:], key
        )
        atomic_write(self.path, header + sealed)
        store.save(key, generation)

    def clear(self) -> None:
        """Forget everything: the state file and its key."""
        existing = read_file(self.path)
        source = existing[6:7] if existing and existing.startswith(MAGIC) else None
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
