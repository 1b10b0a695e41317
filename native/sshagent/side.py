"""The SSH agent socket inside zkvault's agent (draft-miller-ssh-agent).

The unlock agent (native.agent) binds it next to its own socket and removes it when it
locks, so a locked laptop has no SSH agent to ask. Each SSH client is served in a thread of
its own (ssh keeps its connection while a server answers); a thread uses the vault only
while the agent's main loop, which owns it, waits for work (``Calls``): never while the
loop reloads, answers or wipes it. A key marked ``confirm`` is shown to the person through
SSH_ASKPASS before each signature, in the client's thread, holding nothing, so a pending
question stalls nothing else.

Answered: REQUEST_IDENTITIES and SIGN_REQUEST. Everything else (adding, removing, locking
from a client, extensions) gets SSH_AGENT_FAILURE: keys come only from the vault and no
private key is ever written anywhere.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from native.fsutil import listening_socket
from native.sshagent import socket_path
from vault_core import sshkeys
from vault_core.items import SSH_KEY, is_reserved

FAILURE, SUCCESS = 5, 6
REQUEST_IDENTITIES, IDENTITIES_ANSWER = 11, 12
SIGN_REQUEST, SIGN_RESPONSE = 13, 14
MAX_MESSAGE = 256 * 1024  # as OpenSSH's agent
CALL_TIMEOUT = 30.0  # a main loop busy longer than this answers FAILURE
CLIENT_IDLE = 300.0  # a connection silent this long is closed
ASK_TIMEOUT = 120.0  # an unanswered confirmation is a no


@dataclass(frozen=True)
class Identity:
    item_id: Any
    name: str
    blob: bytes
    key_type: str
    url: str
    username: str
    confirm: bool

    @property
    def fingerprint(self) -> str:
        return sshkeys.fingerprint(self.blob)


class Ring(Protocol):
    """Where an SSH socket's keys come from: the vault (KeyRing), a runner's grant
    (native.sshagent.private) or a `zkvault ssh` session's scope (native.remote.sshkeys)."""

    def identities(self) -> list[Identity]: ...

    def find(self, blob: bytes) -> Identity | None: ...

    def sign(self, item_id: Any, blob: bytes, data: bytes, flags: int) -> bytes: ...

    def forget(self) -> None: ...


class Closed(Exception):
    """The agent is locking: nothing more is answered."""


class Calls:
    """The vault belongs to the agent's main loop, which holds ``lock`` at all times but
    while it waits in select; a client thread takes the lock for one look-up or signature
    (at most CALL_TIMEOUT waiting), so the loop never sees the vault change under it and a
    wipe never runs while a client uses it. Once closed (the agent is locking), nothing
    more runs. The lock is re-entrant: the main loop closes it while holding it.

    The same serves a ring that only client threads use (a runner's keys, a session's
    scope): one call at a time."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.closed = False

    def run(self, fn: Callable[[], Any]) -> Any:
        if self.closed or not self.lock.acquire(timeout=CALL_TIMEOUT):
            raise Closed
        try:
            if self.closed:
                raise Closed
            return fn()
        finally:
            self.lock.release()

    def close(self) -> None:
        with self.lock:  # waits for a call in progress: none runs after this
            self.closed = True


def expired(expires: str | None, today: datetime.date | None = None) -> bool:
    """An ssh-key item past its ``expires`` date (the last day it may be used, local
    time) is neither listed nor used (docs/cli.md, "SSH agent")."""
    if not expires:
        return False
    try:
        last = datetime.date.fromisoformat(expires)
    except ValueError:
        return True  # vault_core validates dates: an unreadable one is not trusted
    return last < (today or datetime.date.today())


class KeyRing:
    """The ssh-key items of the vaults the agent holds, seen from the main loop: the
    personal vault's under their names, then each opened team vault's as ``TEAM/NAME``
    (the names `zkvault list` shows). Only public keys are cached (by vault, item id and
    revision); a private key is decrypted for one signature and dropped."""

    def __init__(self, vaults: Callable[[], list[tuple[str, Any]]], usable: Callable[[], bool]):
        self.vaults = vaults  # (prefix, vault) pairs: ("", personal), ("ops/", a team's)
        self.usable = usable  # False once the agent saw a fork: no keys then
        self._public: dict[tuple[str, Any, int], tuple[bytes, str]] = {}

    def _usable(self) -> list[tuple[str, Any, Any, bytes, str]]:
        """(prefix, vault, item info, public blob, key type) of each key that may be offered."""
        if not self.usable():
            return []
        found = []
        for prefix, vault in self.vaults():
            for info in vault.items():
                if info.kind != SSH_KEY or is_reserved(info.name) or expired(info.expires):
                    continue
                cached = self._public.get((prefix, info.id, info.revision))
                if cached is None:
                    key = sshkeys.parse_private(vault.get(info.id).secret)
                    cached = (key.public_blob, key.key_type)
                    self._public[(prefix, info.id, info.revision)] = cached
                found.append((prefix, vault, info, *cached))
        return found

    @staticmethod
    def _identity(prefix: str, vault: Any, info: Any, blob: bytes, key_type: str) -> Identity:
        confirm = sshkeys.CONFIRM_SCOPE in info.scopes
        return Identity(
            (prefix, info.id), prefix + info.name, blob, key_type, info.url, info.username, confirm
        )

    def identities(self) -> list[Identity]:
        return [self._identity(*found) for found in self._usable()]

    def find(self, blob: bytes) -> Identity | None:
        # Only the match becomes an Identity: a signature costs the same with 100 keys.
        match = next((found for found in self._usable() if found[3] == blob), None)
        return self._identity(*match) if match else None

    def sign(self, item_id: Any, blob: bytes, data: bytes, flags: int) -> bytes:
        from native.sshagent import keys

        if not self.usable():
            raise Closed
        prefix, item = item_id
        vault = dict(self.vaults()).get(prefix)
        if vault is None:  # the team was closed (left, removed, locked) since it was found
            raise Closed
        secret = vault.get(item).secret
        if sshkeys.parse_private(secret).public_blob != blob:  # changed since it was found
            raise Closed
        return keys.sign(secret, data, flags)

    def forget(self) -> None:
        self._public.clear()


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def string(self) -> bytes:
        if self.pos + 4 > len(self.data):
            raise ValueError("short")
        (n,) = struct.unpack(">I", self.data[self.pos : self.pos + 4])
        if self.pos + 4 + n > len(self.data):
            raise ValueError("short")
        self.pos += 4 + n
        return self.data[self.pos - n : self.pos]

    def u32(self) -> int:
        if self.pos + 4 > len(self.data):
            raise ValueError("short")
        self.pos += 4
        return int(struct.unpack(">I", self.data[self.pos - 4 : self.pos])[0])


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _message(kind: int, body: bytes = b"") -> bytes:
    return struct.pack(">IB", len(body) + 1, kind) + body


def ask_confirmation(identity: Identity) -> bool:
    """SSH_ASKPASS with SSH_ASKPASS_PROMPT=confirm, as ``ssh-add -c`` keys are asked: yes
    when it exits 0 and prints nothing or "yes". No askpass program, or no answer within
    ASK_TIMEOUT, is a no: the agent has no terminal of its own."""
    program = os.environ.get("SSH_ASKPASS", "")
    if not program:
        return False
    prompt = f"Allow use of zkvault key {identity.name!r}?\nKey fingerprint {identity.fingerprint}."
    env = {**os.environ, "SSH_ASKPASS_PROMPT": "confirm"}
    try:
        done = subprocess.run(  # noqa: S603 - the person's own askpass program
            [program, prompt],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=ASK_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    answer = done.stdout.strip().lower()
    return done.returncode == 0 and answer in (b"", b"yes")


class SshSide:
    """The listening socket and its client threads."""

    def __init__(
        self,
        ring: Ring,
        peer_ok: Callable[[socket.socket], bool],
        used: Callable[[], None],
        path: str | None = None,
        calls: Calls | None = None,
        refused: Callable[[int], None] | None = None,
    ) -> None:
        self.ring = ring
        self.peer_ok = peer_ok
        self.used = used
        self.refused = refused  # told the type of each request other than list and sign
        self.path = path or socket_path()
        self.calls = calls or Calls()
        self.sock: socket.socket | None = None
        self._clients: set[socket.socket] = set()
        self._lock = threading.Lock()

    def bind(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # left by an agent that died: agent.sock is the live lock
        sock = listening_socket(self.path)
        self.sock = sock
        threading.Thread(target=self._accept_loop, args=(sock,), daemon=True).start()

    def close(self) -> None:
        self.calls.close()
        with self._lock:
            clients = list(self._clients)
        for conn in clients:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()
            self.sock = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        self.ring.forget()

    def _accept_loop(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return  # closed: the agent is locking
            if self.calls.closed:
                conn.close()
                return
            if not self.peer_ok(conn):
                conn.close()  # another user (or unknown): nothing read, nothing answered
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            self._clients.add(conn)
        conn.settimeout(CLIENT_IDLE)
        try:
            while True:
                header = _recv(conn, 4)
                if header is None:
                    return
                (length,) = struct.unpack(">I", header)
                if not 1 <= length <= MAX_MESSAGE:
                    return
                body = _recv(conn, length)
                if body is None:
                    return
                conn.sendall(self.answer(body))
        except OSError:
            return
        finally:
            with self._lock:
                self._clients.discard(conn)
            conn.close()

    def answer(self, body: bytes) -> bytes:
        """One reply; any failure is SSH_AGENT_FAILURE (no detail goes to the client)."""
        try:
            if body[0] == REQUEST_IDENTITIES and len(body) == 1:
                self.used()
                found = self.calls.run(self.ring.identities)
                out = struct.pack(">I", len(found))
                for identity in found:
                    out += _string(identity.blob) + _string(identity.name.encode("utf-8"))
                return _message(IDENTITIES_ANSWER, out)
            if body[0] == SIGN_REQUEST:
                return self._sign(body[1:])
        except Exception:  # Closed, a short message, a vault error: never a trace to a client
            return _message(FAILURE)
        if self.refused is not None:
            with contextlib.suppress(Exception):
                self.refused(body[0])
        return _message(FAILURE)

    def _sign(self, body: bytes) -> bytes:
        r = _Reader(body)
        blob, data, flags = r.string(), r.string(), r.u32()
        if r.pos != len(body):
            return _message(FAILURE)
        self.used()
        identity, signature = self.calls.run(lambda: self._find_and_sign(blob, data, flags))
        if identity is None:
            return _message(FAILURE)
        if signature is None:  # a key marked confirm: asked here, outside the main loop
            if not ask_confirmation(identity):
                return _message(FAILURE)
            signature = self.calls.run(lambda: self.ring.sign(identity.item_id, blob, data, flags))
        return _message(SIGN_RESPONSE, _string(signature))

    def _find_and_sign(
        self, blob: bytes, data: bytes, flags: int
    ) -> tuple[Identity | None, bytes | None]:
        """In one turn of the main loop when no question is due (the usual case): the
        identity, and its signature unless the key asks for confirmation first."""
        identity = self.ring.find(blob)
        if identity is None or identity.confirm:
            return identity, None
        return identity, self.ring.sign(identity.item_id, blob, data, flags)


def _recv(conn: socket.socket, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = conn.recv(n - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def open_for(agent: Any) -> SshSide:
    """Bind the SSH agent socket for ``agent`` (native.agent.Agent)."""
    from native.agent import peer_uid

    def vaults() -> list[tuple[str, Any]]:
        held: list[tuple[str, Any]] = [("", agent.vault)]
        if agent.teams is not None:
            held += [(name + "/", source) for name, source in agent.teams.opened()]
        return held

    ring = KeyRing(vaults, lambda: agent.fork is None)

    def used() -> None:
        agent.last_used = time.monotonic()

    side = SshSide(ring, lambda conn: peer_uid(conn) == os.getuid(), used)
    side.bind()
    return side
