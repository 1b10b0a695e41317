"""The agent: holds one unlocked vault in memory and answers on a unix socket.

Security properties (argued in docs/cli.md, "Agent"):
- the socket lives in a 0700 directory, is created 0600 (umask) and every
  peer's uid is checked (SO_PEERCRED / getpeereid) before a byte is read;
- the process is not dumpable (no core files, no ptrace/proc-mem by other
  processes of the same user) and holds no terminal;
- items are decrypted one at a time, only when a request names them (native.answers);
- idle and absolute timeouts, a `lock` request, SIGTERM/SIGINT/SIGHUP, or a
  revocation seen by the optional ``watch`` all end in ``vault.lock()`` and exit;
- what it could not do (a hardening step, adopting a newer vault that failed
  verification, reaching the server) is kept and shown by ``zkvault status``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from native import answers, hardening, paths, protocol
from native.errors import STATE, USAGE, CliError
from native.fsutil import listening_socket, private_dir

_PEERCRED = struct.Struct("3i")  # pid, uid, gid
_CONNECTION_TIMEOUT = 2.0

_FIRST_RETRY = 1.0  # after a failed watch: 1 s, 2 s, 4 s ... up to the watch interval
_MIN_GAP = 0.5  # between watches, however fast a server answers (or lies)


class Reloadable(answers.ItemSource, Protocol):
    """A vault the agent can move to a newer revision with the keys it holds."""

    @property
    def vault_id(self) -> uuid.UUID: ...

    @property
    def memory(self) -> Any: ...  # vault_core.lineage.VaultMemory | None

    @property
    def lineage(self) -> Any: ...  # vault_core.lineage.Lineage | None: the last save

    @property
    def needs_confirmation(self) -> bool: ...

    def reload(self, blob: bytes) -> None: ...


@dataclass(frozen=True)
class Seen:
    """What one watch of the server found."""

    wipe: str | None = None  # a definite reason to wipe now (revoked; strict and unreachable)
    newer: bytes | None = None  # a newer vault blob to adopt
    revision: int = 0  # the revision the server named for ``newer``
    trouble: str | None = None  # cannot reach or verify right now: retried, shown in status


# Given the revision held, waits (long poll) and reports what it saw.
Watch = Callable[[int], Seen]
# Called after a newer blob was verified and adopted: (blob, the vault now).
Adopt = Callable[[bytes, Reloadable], None]
# Called when a newer blob shows a fork: (the error, the revision named); what to show.
Forked = Callable[[CliError, int], dict[str, Any]]
# Applies one `write` request to the vault held and saves it (native.write.Writer.write).
Write = Callable[[Any, dict[str, Any]], dict[str, Any]]
# vault_core's codes for a history that does not descend from what this machine saw.
FORK_CODES = ("fork", "downgrade", "lineage")


class _Stop(Exception):
    pass


class Agent:
    def __init__(
        self,
        vault: Reloadable,
        *,
        idle_timeout: float,
        max_lifetime: float,
        watch: Watch | None = None,
        retry_max: float = 30.0,
        adopt: Adopt | None = None,
        forked: Forked | None = None,
        info: dict[str, Any] | None = None,
        write: Write | None = None,
        saved: Callable[[Any], Any] | None = None,
        teams: Any = None,
    ) -> None:
        self.vault = vault
        self.teams = teams  # native.teams.Teams: the team vaults, opened on demand
        self.write = write
        self.saved = saved  # the server's current vault, opened with the keys held
        self.idle_timeout = idle_timeout
        self.max_lifetime = max_lifetime
        self.watch = watch
        self.retry_max = max(retry_max, _FIRST_RETRY)
        self.info = info or {}
        self.started = time.monotonic()
        self.last_used = self.started
        self.stop_reason = ""
        self.adopt = adopt
        self.forked = forked
        # Set once a newer revision showed a fork: the vault is wiped, every request but
        # status and lock answers with it, until `zkvault unlock` replaces this agent.
        self.fork: dict[str, Any] | None = None
        self._held: dict[str, Any] = {}  # the vault's status facts, kept when it was wiped
        self.warnings: list[str] = []  # shown by `zkvault status`; never secrets
        self.trouble: str | None = None  # why the last watch failed, while it does
        self._verdict: str | None = None  # set by the watcher thread
        self._newer: tuple[bytes, int] | None = None  # (blob, revision) from the watcher
        self._newer_lock = threading.Lock()
        self.sock: socket.socket | None = None
        self.path = paths.socket_path()
        self.ssh: Any = None  # native.sshagent.side.SshSide, bound with our socket

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
        sock = listening_socket(self.path)
        self.sock = sock
        try:  # ssh-key items, for ssh and git signing (docs/cli.md, "SSH agent")
            from native.sshagent import side

            self.ssh = side.open_for(self)
        except Exception as exc:
            self._warn(f"the SSH agent socket could not be opened ({type(exc).__name__})")

    def serve(self) -> str:
        """Answer requests until a timeout, lock or revocation; wipe; return why."""
        assert self.sock is not None
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        wake_r, wake_w = os.pipe()
        if self.watch is not None:
            # In a thread: a slow or silent server must never stall `get`.
            threading.Thread(target=self._watch_loop, args=(wake_w,), daemon=True).start()
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
                # SSH clients' threads use the vault only while this loop waits in select
                # (native.sshagent.side.Calls): from here to the next select it is ours.
                with self.ssh.calls.lock if self.ssh else contextlib.nullcontext():
                    if self._verdict:
                        self.stop_reason = self._verdict
                        break
                    if wake_r in ready:
                        os.read(wake_r, 64)
                    with self._newer_lock:
                        newer, self._newer = self._newer, None
                    if newer is not None:
                        self._reload(*newer)
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

    def _watch_loop(self, wake: int) -> None:
        """In its own thread; hands results to the main loop, which alone touches the vault.

        ``known`` is the newest revision handed over, so a blob that fails verification
        is not fetched again and again: the next long poll waits for a newer one."""
        assert self.watch is not None
        known = self.vault.revision
        delay = _FIRST_RETRY
        while True:
            started = time.monotonic()
            try:
                seen = self.watch(max(known, self.vault.revision))
            except Exception as exc:  # this thread must outlive any surprise
                seen = Seen(trouble=f"the check failed ({type(exc).__name__})")
            if seen.wipe:
                self._verdict = seen.wipe
                os.write(wake, b"!")
                return
            self.trouble = seen.trouble
            if seen.newer is not None:
                known = max(known, seen.revision)
                with self._newer_lock:
                    self._newer = (seen.newer, seen.revision)
                os.write(wake, b"+")
            if seen.trouble:  # back off: never hammer a server that is struggling
                time.sleep(delay)
                delay = min(delay * 2, self.retry_max)
            else:
                delay = _FIRST_RETRY
                time.sleep(max(0.0, started + _MIN_GAP - time.monotonic()))

    def _reload(self, blob: bytes, revision: int) -> None:
        """Adopt a newer revision with the keys held (vault_core verifies it and refuses
        rollback). A failure keeps the revision held, and is kept for `zkvault status`:
        a newer vault that does not verify is what a tampering server would send."""
        held = self.vault.revision
        if self.fork is not None:
            return  # nothing more is adopted once a fork was seen
        if revision < held:
            return  # fetched before a write made here since (native.write): already past it
        try:
            self.vault.reload(blob)
        except Exception as exc:  # a bad download must not take the agent down
            code = getattr(exc, "code", type(exc).__name__)
            if code in FORK_CODES:
                self._stop_serving(exc, revision)
                return
            self._warn(
                f"revision {revision} from the server failed verification ({code}); "
                f"still serving revision {held}. Someone may have tampered with it"
            )
            return
        if self.adopt is not None:
            try:
                self.adopt(blob, self.vault)
            except Exception as exc:
                self._warn(
                    f"serving revision {self.vault.revision}, but could not keep it as the "
                    f"local copy ({getattr(exc, 'code', type(exc).__name__)})"
                )

    def _stop_serving(self, exc: Exception, revision: int) -> None:
        """A fork (or downgrade, or damaged lineage): wipe the vault at once and answer
        every request with the error; the local copy and memory stay as they were."""
        from native.vaulterrors import translate

        error = translate(exc)
        self._held = self._vault_facts()
        with contextlib.suppress(Exception):
            if self.teams is not None:
                self.teams.lock()
            self.vault.lock()
        self.fork = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "code": error.code,
            "message": error.message,
            "revision": revision,
        }
        if self.forked is not None:
            try:
                self.fork = self.forked(error, revision)
            except Exception as exc:
                self._warn(f"could not record the fork locally ({type(exc).__name__})")

    def _warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings = [*self.warnings[-9:], message]  # bounded

    def wipe(self) -> None:
        if self.ssh is not None:
            self.ssh.close()  # first: no SSH client is answered from here on
            self.ssh = None
        if self.teams is not None:
            with contextlib.suppress(Exception):
                self.teams.lock()
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
        if self.fork is not None:
            raise CliError(
                f"{self.fork['message']}; this agent serves nothing more until "
                "`zkvault unlock` checks again",
                STATE,
                str(self.fork["code"]),
            )
        if op == "audit_anchor":
            return audit_anchor(self.vault, request.get("blob"))
        if op in ("team", "identity", "contacts"):
            if self.teams is None:
                raise CliError(
                    "teams need a server: this machine has an imported vault",
                    USAGE,
                    "no_server",
                )
            from native import team_ops

            return team_ops.answer(self.teams, op, request)
        if op == "write":
            if request.get("vault") not in (None, "", "personal") and self.teams is not None:
                return dict(self.teams.write(request))
            return self._write(request)
        if op == "match":  # zkvault import: which items hold these secrets (names only)
            from native import matching

            return matching.answer(self.vault, request, self.saved)
        if self.teams is not None:
            from native import team_items

            return team_items.answer(self.vault, self.teams, op, request)
        return answers.answer(self.vault, op, request)

    def _write(self, request: dict[str, Any]) -> dict[str, Any]:
        """Change one item and save it through the server (native.write); a fork met on
        the way stops this agent as the watch's would."""
        if self.write is None:
            raise CliError(
                "this machine has no server to save to (an imported vault): change items "
                "in the web app",
                USAGE,
                "no_server",
            )
        from native.write import Forked

        try:
            return self.write(self.vault, request)
        except Forked as seen:
            self._stop_serving(seen.error, seen.revision)
            assert self.fork is not None
            raise CliError(str(self.fork["message"]), STATE, str(self.fork["code"])) from None

    def _status(self) -> dict[str, Any]:
        now = time.monotonic()
        return {
            **self.info,
            "pid": os.getpid(),
            **(self._held if self.fork is not None else self._vault_facts()),
            "fork": self.fork,
            "idle_timeout": self.idle_timeout,
            "idle_expires_in": round(self.last_used + self.idle_timeout - now, 1),
            "expires_in": round(self.started + self.max_lifetime - now, 1),
            "trouble": self.trouble,
            "warnings": list(self.warnings),
        }

    def _vault_facts(self) -> dict[str, Any]:
        """Revision, item count, the last save (time and device, when the vault records
        them: format 2) and whether this machine confirmed it is the current vault."""
        lineage = self.vault.lineage
        saved = None if lineage is None else {"at": lineage.saved_at, "by": lineage.saved_by.name}
        return {
            "revision": self.vault.revision,
            "items": len(self.vault.items()),
            "last_saved": saved,
            "confirmed": not self.vault.needs_confirmation,
        }


def audit_anchor(vault: Any, blob: Any) -> dict[str, Any]:
    """The audit-chain head sealed in the held vault or, given ``blob`` (base64url), in that
    revision of the same vault opened with the keys held (`zkvault audit verify`). Only the
    anchor leaves the agent: never a key, never an item."""
    if blob is not None:
        if not isinstance(blob, str):
            raise CliError("blob must be base64url text", USAGE, "bad_request")
        from vault_core.b64url import b64url_decode

        vault = vault.open_revision(b64url_decode(blob))
    try:
        lineage = getattr(vault, "lineage", None)
        anchor = getattr(lineage, "audit", None)
        return {
            "ok": True,
            "revision": vault.revision,
            "format": getattr(vault, "version", 1),
            "anchor": None if anchor is None else {"seq": anchor.seq, "head": anchor.head},
        }
    finally:
        if blob is not None:
            vault.lock()


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


def harden() -> list[str]:
    """No core dumps; not dumpable, so same-uid processes cannot ptrace or read its memory.
    Returns what could not be done (shown by `zkvault status`)."""
    return hardening.harden("the agent").warnings


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
            agent.warnings += harden()
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
