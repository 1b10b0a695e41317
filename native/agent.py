"""The agent: holds one unlocked vault in memory and answers on a unix socket.

Security properties (argued in docs/cli.md, "Agent"):
- the socket lives in a 0700 directory, is created 0600 (umask) and every
  peer's uid is checked (SO_PEERCRED / getpeereid) before a byte is read;
- the process is not dumpable (no core files, no ptrace/proc-mem by other
  processes of the same user) and holds no terminal;
- items are decrypted one at a time, only when a request names them (native.answers);
- idle and absolute timeouts, a `lock` request, SIGTERM/SIGINT/SIGHUP, or a
  revocation seen by the optional ``check`` all end in ``vault.lock()`` and exit.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import select
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from native import answers, paths, protocol
from native.errors import STATE, CliError
from native.fsutil import private_dir

_PR_SET_DUMPABLE = 4
_PEERCRED = struct.Struct("3i")  # pid, uid, gid
_CONNECTION_TIMEOUT = 2.0

# Given the revision held: (the reason to wipe now, or None; a newer vault blob, or None).
Check = Callable[[int], tuple[str | None, bytes | None]]
# Called after a newer blob was verified and adopted: (blob, revision, vault id).
Adopt = Callable[[bytes, int, str], None]


class _Stop(Exception):
    pass


class Agent:
    def __init__(
        self,
        vault: answers.ItemSource,
        *,
        idle_timeout: float,
        max_lifetime: float,
        check: Check | None = None,
        check_interval: float = 60.0,
        adopt: Adopt | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.vault = vault
        self.idle_timeout = idle_timeout
        self.max_lifetime = max_lifetime
        self.check = check
        self.check_interval = check_interval
        self.info = info or {}
        self.started = time.monotonic()
        self.last_used = self.started
        self.stop_reason = ""
        self.adopt = adopt
        self._verdict: str | None = None  # set by the checker thread
        self._newer: bytes | None = None  # a newer vault blob found by the checker thread
        self.sock: socket.socket | None = None
        self.path = paths.socket_path()

    # -- lifecycle ---------------------------------------------------------

    def bind(self) -> None:
        private_dir(paths.runtime_dir())
        if os.path.exists(self.path):
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(self.path)
            except OSError:
                os.unlink(self.path)  # stale socket of a dead agent
            else:
                raise CliError(
                    "an agent is already running; `zkvault lock` first", STATE, "already_unlocked"
                )
            finally:
                probe.close()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(self.path)  # created 0600 under this umask: no window
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        sock.listen(socket.SOMAXCONN)  # parallel builds: many clients at once
        self.sock = sock

    def serve(self) -> str:
        """Answer requests until a timeout, lock or revocation; wipe; return why."""
        assert self.sock is not None
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        wake_r, wake_w = os.pipe()
        if self.check is not None:
            # In a thread: a slow or silent server must never stall `get`.
            threading.Thread(target=self._check_loop, args=(wake_w,), daemon=True).start()
        try:
            while True:
                now = time.monotonic()
                deadline = min(self.last_used + self.idle_timeout, self.started + self.max_lifetime)
                if now >= deadline:
                    self.stop_reason = (
                        "idle timeout"
                        if now >= self.last_used + self.idle_timeout
                        else "maximum lifetime"
                    )
                    break
                ready, _, _ = select.select([self.sock.fileno(), wake_r], [], [], deadline - now)
                if self._verdict:
                    self.stop_reason = self._verdict
                    break
                if self._newer is not None:
                    self._reload(self._newer)
                    self._newer = None
                    os.read(wake_r, 64)
                if self.sock.fileno() in ready:
                    conn, _ = self.sock.accept()
                    with conn:
                        if self._handle(conn):
                            self.stop_reason = "locked on request"
                            break
        except _Stop:
            self.stop_reason = "signal"
        finally:
            self.wipe()
        return self.stop_reason

    def _check_loop(self, wake: int) -> None:
        """In its own thread; hands results to the main loop, which alone touches the vault."""
        assert self.check is not None
        while True:
            time.sleep(self.check_interval)
            verdict, newer = self.check(self.vault.revision)
            if verdict:
                self._verdict = verdict
                os.write(wake, b"!")
                return
            if newer is not None and self._newer is None:
                self._newer = newer
                os.write(wake, b"+")

    def _reload(self, blob: bytes) -> None:
        """Adopt a newer revision with the keys held (vault_core verifies it and refuses
        rollback); on any failure keep serving the revision already held."""
        reload = getattr(self.vault, "reload", None)
        if reload is None:
            return
        try:
            reload(blob)
            if self.adopt is not None:
                self.adopt(blob, self.vault.revision, str(getattr(self.vault, "vault_id", "")))
        except Exception:  # noqa: S110 - a bad download must not take the agent down
            pass

    def wipe(self) -> None:
        with contextlib.suppress(Exception):
            self.vault.lock()
        if self.sock is not None:
            self.sock.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self.sock = None

    def _on_signal(self, signum: int, frame: Any) -> None:
        raise _Stop()

    # -- requests ----------------------------------------------------------

    def _handle(self, conn: socket.socket) -> bool:
        """Serve one connection; True when the agent should stop."""
        if peer_uid(conn) != os.getuid():
            return False  # another user (or unknown): close without reading or answering
        conn.settimeout(_CONNECTION_TIMEOUT)
        try:
            request = protocol.receive(conn)
            op = request.get("op")
            try:
                response = self.answer(op, request)
            except CliError as exc:
                response = {"ok": False, "error": exc.code, "message": exc.message}
            except Exception as exc:  # a vault_core error: report its code, never a trace
                code = getattr(exc, "code", "agent_error")
                response = {
                    "ok": False,
                    "error": code,
                    "message": f"the agent could not do that ({code})",
                }
            protocol.send(conn, response)
        except (OSError, protocol.ProtocolError):
            return False
        return op == "lock"

    def answer(self, op: Any, request: dict[str, Any]) -> dict[str, Any]:
        """The response to one request; every request but status and lock counts as use."""
        if op == "status":
            return {"ok": True, **self._status()}
        if op == "lock":
            return {"ok": True}
        self.last_used = time.monotonic()
        return answers.answer(self.vault, op, request)

    def _status(self) -> dict[str, Any]:
        now = time.monotonic()
        return {
            **self.info,
            "pid": os.getpid(),
            "revision": self.vault.revision,
            "items": len(self.vault.items()),
            "idle_timeout": self.idle_timeout,
            "idle_expires_in": round(self.last_used + self.idle_timeout - now, 1),
            "expires_in": round(self.started + self.max_lifetime - now, 1),
        }


def peer_uid(conn: socket.socket) -> int | None:
    """The connecting process's uid: SO_PEERCRED on Linux, getpeereid() on macOS and the
    BSDs; None (refused) where neither exists."""
    if hasattr(socket, "SO_PEERCRED"):
        _pid, uid, _gid = _PEERCRED.unpack(
            conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
        )
        return int(uid)
    try:
        uid_t, gid_t = ctypes.c_uint32(), ctypes.c_uint32()
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.getpeereid(conn.fileno(), ctypes.byref(uid_t), ctypes.byref(gid_t)) == 0:
            return int(uid_t.value)
    except (OSError, AttributeError):
        pass
    return None


def _harden() -> None:
    """No core dumps; not dumpable, so same-uid processes cannot ptrace or read its memory."""
    with contextlib.suppress(Exception):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def start(agent: Agent) -> int:
    """Daemonise ``agent`` (double fork) and return once it listens; returns its pid.

    The caller still holds its own copy of the vault and must lock it.
    """
    read_end, write_end = os.pipe()
    first = os.fork()
    if first == 0:  # pragma: no cover - runs in the child
        status = 1
        try:
            os.close(read_end)
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            _harden()
            try:
                agent.bind()
            except CliError as exc:
                os.write(write_end, b"E" + exc.message.encode())
                os._exit(1)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            os.write(write_end, b"K" + str(os.getpid()).encode())
            os.close(write_end)
            agent.serve()
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    os.waitpid(first, 0)
    with os.fdopen(read_end, "rb") as pipe:
        answer = pipe.read()
    if answer.startswith(b"K"):
        return int(answer[1:])
    if answer.startswith(b"E"):
        raise CliError(answer[1:].decode(errors="replace"), STATE, "agent_start")
    raise CliError("the agent failed to start; try `zkvault unlock` again", STATE, "agent_start")
