"""The machine-specific key that encrypts local state, kept apart from it.

Where: the OS keyring when the ``keyring`` module is importable and has a
real backend, otherwise a 0600 file in its own 0700 directory (``key_dir``),
never beside the state. What: 32 random bytes plus a generation counter. The
counter is bumped after every state write; a state file whose authenticated
generation is below it was rolled back.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import struct
import subprocess
import sys
from typing import Any, Protocol

from native import paths
from native.errors import STATE, CliError
from native.fsutil import atomic_write, private_dir, read_file
from vault_core.b64url import b64url_decode, b64url_encode, from_standard_base64

KEY_BYTES = 32
_RECORD = struct.Struct(">32sQ")  # key, generation
_SERVICE = "zkvault"


def machine_id() -> bytes:
    """A stable identifier of this machine, bound into the state's associated data."""
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        data = read_file(path, 4096)
        if data and data.strip():
            return data.strip()
    if sys.platform == "darwin":  # the hardware UUID; not exercised on these Linux machines
        try:
            out = subprocess.run(
                ["/usr/sbin/ioreg", "-rd1", "-c", "IOPlatformExpertDevice"],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            ).stdout
            for line in out.splitlines():
                if "IOPlatformUUID" in line:
                    return ("mac:" + line.split("=")[-1].strip().strip('"')).encode()
        except OSError:
            pass
    return ("host:" + socket.gethostname()).encode()


def _entry_name(state_dir: str) -> str:
    """One key per state directory, so several homes (tests, profiles) coexist."""
    digest = hashlib.sha256(os.path.abspath(state_dir).encode()).hexdigest()[:24]
    return f"machine-key-{digest}"


class KeyStore(Protocol):
    source: bytes  # recorded in the state header so reads use the same store

    def load(self) -> tuple[bytes, int] | None: ...

    def save(self, key: bytes, generation: int) -> None: ...

    def delete(self) -> None: ...


class FileKeyStore:
    source = b"f"

    def __init__(self, state_dir: str) -> None:
        self._dir = paths.key_dir()
        self._path = os.path.join(self._dir, _entry_name(state_dir))

    def load(self) -> tuple[bytes, int] | None:
        data = read_file(self._path, 1024)
        if data is None:
            return None
        if len(data) != _RECORD.size:
            raise CliError(
                f"machine key file {self._path} is damaged; run `zkvault connect --clean`",
                STATE,
                "machine_key",
            )
        key, generation = _RECORD.unpack(data)
        return key, generation

    def save(self, key: bytes, generation: int) -> None:
        private_dir(self._dir)
        atomic_write(self._path, _RECORD.pack(key, generation))

    def delete(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)


class KeyringKeyStore:
    source = b"k"

    def __init__(self, state_dir: str, keyring: Any) -> None:
        self._keyring = keyring
        self._name = _entry_name(state_dir)

    def load(self) -> tuple[bytes, int] | None:
        value = self._keyring.get_password(_SERVICE, self._name)
        if value is None:
            return None
        try:
            # Entries saved before base64url was the one encoding are standard base64.
            key, generation = _RECORD.unpack(b64url_decode(from_standard_base64(value)))
        except (ValueError, struct.error):
            raise CliError(
                "the machine key in the OS keyring is damaged; run `zkvault connect --clean`",
                STATE,
                "machine_key",
            ) from None
        return key, generation

    def save(self, key: bytes, generation: int) -> None:
        value = b64url_encode(_RECORD.pack(key, generation))
        self._keyring.set_password(_SERVICE, self._name, value)

    def delete(self) -> None:
        with contextlib.suppress(Exception):  # nothing to delete is fine
            self._keyring.delete_password(_SERVICE, self._name)


def _usable_keyring() -> Any | None:
    """The keyring module if it has a real backend (not the fail/null ones)."""
    if os.environ.get("ZKVAULT_KEYRING", "auto") == "off":
        return None
    try:
        import keyring  # type: ignore[import-not-found, unused-ignore]
        import keyring.backends.fail  # type: ignore[import-not-found, unused-ignore]

        backend = keyring.get_keyring()
        if isinstance(backend, keyring.backends.fail.Keyring):
            return None
        if float(getattr(backend, "priority", 0)) < 1:
            return None
        return keyring
    except Exception:
        return None


def store_for(state_dir: str, source: bytes | None = None) -> KeyStore:
    """The store recorded in an existing state (``source``), or the best one for a new one."""
    if source == FileKeyStore.source:
        return FileKeyStore(state_dir)
    keyring = _usable_keyring()
    if source == KeyringKeyStore.source:
        if keyring is None:
            raise CliError(
                "this state's key is in the OS keyring, which is not available now; "
                "unlock your keyring or run `zkvault connect --clean`",
                STATE,
                "machine_key",
            )
        return KeyringKeyStore(state_dir, keyring)
    if source is not None:
        raise CliError(
            "local state names an unknown key store; run `zkvault connect --clean`",
            STATE,
            "malformed_state",
        )
    return KeyringKeyStore(state_dir, keyring) if keyring else FileKeyStore(state_dir)
