"""The SSH agent a `zkvault ssh` session forwards beside its own socket when it shares
ssh-key items (docs/remote-builds.md, "SSH keys on the builder").

It offers the builder the allowed ssh-key items and nothing else, under the rules of the
session's other items (native.remote.proxy): its scope, rate limit, --ttl, --confirm, the
laptop agent's lock and the session's log. Only list and sign are answered; anything
else, and any refusal, is SSH_AGENT_FAILURE.

On a laptop, each list and signature is passed to the agent's own SSH socket, filtered by
item name: the private key never leaves the agent, which still asks about a key marked
confirm (SSH_ASKPASS) and leaves out expired ones. In runner mode the session's proxy
holds the runner's grant: each request fetches it (so a revoked runner is refused on the
next one) and signs in this process, as the runner's own `zkvault run` agent does.
"""

from __future__ import annotations

import base64
import os
import socket
import struct
from typing import TYPE_CHECKING, Any

from native.remote.scope import Refused
from native.sshagent.side import (
    SIGN_REQUEST,
    SIGN_RESPONSE,
    Calls,
    Closed,
    Identity,
    SshSide,
    expired,
)
from vault_core import sshkeys

if TYPE_CHECKING:
    from native.remote.proxy import Proxy

_AGENT_TIMEOUT = 150.0  # above the agent's own confirmation wait (side.ASK_TIMEOUT)


class SessionRing:
    def __init__(self, proxy: Proxy, names: frozenset[str], agent_path: str) -> None:
        self.proxy = proxy
        self.names = names
        self.agent_path = agent_path  # the laptop agent's SSH socket (unused for a runner)

    # -- the session's rules -----------------------------------------------------------

    def _admit(self, op: str, item: str | None = None) -> None:
        """The session is open and within its rate; raises Closed (logged) otherwise."""
        try:
            self.proxy.admit()
        except Refused as refused:
            self._log(op, item, "refused", refused.reason)
            raise Closed from None

    def _log(self, op: str, item: str | None, result: str, reason: str = "") -> None:
        fields: dict[str, Any] = {"op": op, "result": result}
        if item is not None:
            fields["item"] = item
        if reason:
            fields["reason"] = reason
        self.proxy.audit.write("request", **fields)

    # -- Ring ------------------------------------------------------------------------

    def identities(self) -> list[Identity]:
        self._admit("ssh-list")
        found = self._shared("ssh-list")
        self._log("ssh-list", None, "answered")
        return found

    def find(self, blob: bytes) -> Identity | None:
        """(The signature that follows is admitted and logged, not this look-up.)"""
        return next((i for i in self._shared("ssh-sign") if i.blob == blob), None)

    def _shared(self, op: str) -> list[Identity]:
        try:
            return self._runner_keys() if self.proxy.runner else self._laptop_keys()
        except (OSError, ValueError, Refused) as exc:
            reason = exc.reason if isinstance(exc, Refused) else type(exc).__name__
            self._log(op, None, "refused", reason)
            raise Closed from None

    def sign(self, item_id: Any, blob: bytes, data: bytes, flags: int) -> bytes:
        name = str(item_id)
        self._admit("ssh-sign", name)
        try:
            self.proxy.confirm([name], "ssh signature")
            if self.proxy.runner:
                signature = self._runner_sign(name, blob, data, flags)
            else:
                signature = self._laptop_sign(blob, data, flags)
            self.proxy.check_open()  # a question may have outlasted the session
        except (OSError, ValueError, Refused) as exc:
            reason = exc.reason if isinstance(exc, Refused) else type(exc).__name__
            self._log("ssh-sign", name, "refused", reason)
            raise Closed from None
        self._log("ssh-sign", name, "answered")
        return signature

    def forget(self) -> None:
        pass  # nothing held: every request asks the agent or the grant again

    def refused(self, kind: int) -> None:
        """Adding or removing keys, locking, an extension: never answered, always logged."""
        self._log("ssh-other", None, "refused", f"SSH agent message {kind} is not answered")

    # -- laptop: the agent's SSH socket ---------------------------------------------

    def _laptop_keys(self) -> list[Identity]:
        from native.errors import CliError
        from native.sshagent.setup import agent_identities

        try:
            listed = agent_identities(self.agent_path)
        except CliError:
            raise OSError("the laptop's SSH agent is gone") from None
        return [
            # confirm=False: a key marked confirm is asked about by the agent itself
            Identity(name, name, blob, "", "", "", False)
            for blob, name in listed
            if name in self.names
        ]

    def _laptop_sign(self, blob: bytes, data: bytes, flags: int) -> bytes:
        body = bytes([SIGN_REQUEST]) + _string(blob) + _string(data) + struct.pack(">I", flags)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(_AGENT_TIMEOUT)
            sock.connect(self.agent_path)
            sock.sendall(struct.pack(">I", len(body)) + body)
            (length,) = struct.unpack(">I", _recv(sock, 4))
            answer = _recv(sock, length)
        if answer[:1] != bytes([SIGN_RESPONSE]):
            raise ValueError("the laptop's SSH agent refused to sign" if answer else "empty")
        (n,) = struct.unpack(">I", answer[1:5])
        return answer[5 : 5 + n]

    # -- runner: the grant, fetched per request -----------------------------------------

    def _ask(self, op: str, **fields: Any) -> dict[str, Any]:
        answer = self.proxy.ask({"v": 1, "op": op, **fields})
        if not answer.get("ok"):
            raise Refused(reason=str(answer.get("error", "error")))
        return answer

    def _runner_keys(self) -> list[Identity]:
        found = []
        for item in self._ask("list").get("items", []):
            name = str(item.get("name"))
            if name not in self.names or item.get("kind") != "ssh-key":
                continue
            if expired(item.get("expires")):
                continue
            line = str(self._ask("get", name=name, field="public-key")["value"])
            blob = base64.b64decode(line.split()[1], validate=True)
            confirm = sshkeys.CONFIRM_SCOPE in (item.get("scopes") or [])
            found.append(Identity(name, name, blob, "", "", "", confirm))
        return found

    def _runner_sign(self, name: str, blob: bytes, data: bytes, flags: int) -> bytes:
        from native.sshagent import keys

        secret = str(self._ask("get", name=name, field="secret")["value"])
        if sshkeys.parse_private(secret).public_blob != blob:
            raise ValueError("the key changed")
        return keys.sign(secret, data, flags)


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _recv(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data


def open_for(proxy: Proxy, names: frozenset[str], path: str) -> SshSide:
    """Bind the session's SSH agent socket at ``path`` (0600, this user only)."""
    from native.agent import peer_uid
    from native.sshagent import socket_path

    ring = SessionRing(proxy, names, socket_path())
    side = SshSide(
        ring,
        lambda conn: peer_uid(conn) == os.getuid(),
        lambda: None,
        path,
        Calls(),
        refused=ring.refused,
    )
    side.bind()
    return side
