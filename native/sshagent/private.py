"""A private SSH agent for one child process: the ssh-key items a runner was granted, on a
socket that exists only while ``zkvault run``'s child does (docs/cli.md, "Runners").

The socket is bound 0600 in a fresh 0700 directory inside the private runtime directory,
and answers only this user (peer uid, as the laptop agent's). It holds the keys of the
grant opened when ``run`` started, in this process's memory (as the child's environment
holds its tokens), and drops them with the socket when the child exits. No key is written
anywhere; expired keys are left out and said on stderr.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

from native import paths
from native.errors import STATE, CliError
from native.fsutil import private_dir
from native.sshagent.side import Calls, Identity, SshSide, expired
from vault_core import sshkeys
from vault_core.items import SSH_KEY, is_reserved

SOCKET_NAME = "agent.sock"


class MemoryRing:
    """Keys held for one child: (identity, private key text) by item id."""

    def __init__(self, items: list[tuple[Any, Any]]) -> None:
        self._keys: dict[Any, tuple[Identity, str]] = {}
        for item_id, item in items:
            key = sshkeys.parse_private(item.secret)
            identity = Identity(
                item_id,
                item.name,
                key.public_blob,
                key.key_type,
                item.url,
                item.username,
                sshkeys.CONFIRM_SCOPE in item.scopes,
            )
            self._keys[item_id] = (identity, item.secret)

    def identities(self) -> list[Identity]:
        return sorted((i for i, _ in self._keys.values()), key=lambda i: i.name)

    def find(self, blob: bytes) -> Identity | None:
        return next((i for i, _ in self._keys.values() if i.blob == blob), None)

    def sign(self, item_id: Any, blob: bytes, data: bytes, flags: int) -> bytes:
        from native.sshagent import keys

        identity, secret = self._keys[item_id]
        if identity.blob != blob:
            raise KeyError("changed")
        return keys.sign(secret, data, flags)

    def forget(self) -> None:
        self._keys.clear()


def usable_keys(items: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """The ssh-key items among (id, item) pairs that may be served; an expired one is
    named on stderr, once, with what to do."""
    kept = []
    for item_id, item in items:
        if item.kind != SSH_KEY or is_reserved(item.name):
            continue
        if expired(item.expires):
            print(
                f"zkvault: ssh-key item {item.name!r} expired on {item.expires}; it is not "
                "offered (the owner can renew it: `zkvault edit NAME --expires YYYY-MM-DD`)",
                file=sys.stderr,
            )
            continue
        kept.append((item_id, item))
    return kept


@contextlib.contextmanager
def serving(items: list[tuple[Any, Any]]) -> Iterator[str | None]:
    """The socket path while the block runs (None, and no socket, without keys)."""
    if not items:
        yield None
        return
    from native.agent import peer_uid

    try:
        directory = tempfile.mkdtemp(prefix="ssh-", dir=private_dir(paths.runtime_dir()))
    except OSError as exc:
        raise CliError(
            f"cannot make the SSH agent socket's directory in {paths.runtime_dir()} "
            f"({exc.strerror or type(exc).__name__}); set ZKVAULT_RUNTIME_DIR to a private "
            "directory of yours",
            STATE,
            "unsafe_path",
        ) from None
    side = SshSide(
        MemoryRing(items),
        lambda conn: peer_uid(conn) == os.getuid(),
        lambda: None,
        os.path.join(directory, SOCKET_NAME),
        Calls(),
    )
    try:
        side.bind()
        yield side.path
    finally:
        side.close()
        shutil.rmtree(directory, ignore_errors=True)
