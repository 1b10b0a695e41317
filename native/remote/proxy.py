"""The scoped proxy: a unix socket on this machine that ssh forwards to the builder.

It speaks the agent protocol (native.protocol) and stands in front of the unlocked agent
(or, in a CI job in runner mode, of the runner's own grant): every request is checked
against the session's rate limit, scope (native.remote.scope), time limit and the agent's
identity, optionally confirmed at the terminal, logged, and only then rebuilt and passed
to the agent. Once the session ends, the time limit passes or the agent locks, every
request is refused; nothing reopens it.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
from typing import Any

from native import paths, protocol, runner
from native.agent import peer_uid
from native.errors import CliError
from native.fsutil import private_dir
from native.remote.audit import AuditLog
from native.remote.confirm import Confirmer
from native.remote.scope import Refused, Scope
from native.runner_identity import RunnerIdentity

_CONNECTION_TIMEOUT = 10.0
_AGENT_TIMEOUT = 10.0
_MAX_CONNECTIONS = 64  # parallel builds are fine; a flood is not
_WATCH_INTERVAL = 1.0
# A builder's requests, per session: a burst of 100, then 10 a second. Enough for any
# build's tokens and git fetches; a flood no longer keeps the agent (or, for a runner,
# the server) busy answering it.
_RATE, _BURST = 10.0, 100.0


class _Bucket:
    """A token bucket on the monotonic clock (thread-safe)."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.level = burst
        self.at = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self.level = min(self.burst, self.level + (now - self.at) * self.rate)
            self.at = now
            if self.level < 1:
                return False
            self.level -= 1
            return True


class AgentGone(Exception):
    """The agent this session started with is no longer there (locked or replaced)."""


def _agent_identity(path: str) -> tuple[int, int, int]:
    """The agent's socket file: a new agent (unlock after lock) makes a new one."""
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_ctime_ns


class Proxy:
    def __init__(
        self,
        scope: Scope,
        ttl: float,
        audit: AuditLog,
        confirmer: Confirmer | None,
        runner_id: RunnerIdentity | None = None,
    ) -> None:
        self.scope = scope
        self.deadline = time.monotonic() + ttl
        self.audit = audit
        self.confirmer = confirmer
        self.agent_path = paths.socket_path()
        self.runner = runner_id  # answers come from the runner's grant
        self.tokens = runner.AccessTokens()  # runner mode: one token for the session
        self.bucket = _Bucket(_RATE, _BURST)
        self._flooded = False  # the last request was refused by the rate limit
        self.agent = (0, 0, 0)
        if self.runner is None:
            try:
                self.agent = _agent_identity(self.agent_path)
            except OSError:
                raise AgentGone() from None
        self.ended: str | None = None  # why every request is now refused
        self.path = ""
        self._sock: socket.socket | None = None
        self._stop_r, self._stop_w = os.pipe()
        self._slots = threading.BoundedSemaphore(_MAX_CONNECTIONS)

    # -- lifecycle ---------------------------------------------------------

    def bind(self, session: str) -> str:
        """Listen on a fresh 0600 socket in the private runtime directory; return its path."""
        directory = private_dir(paths.runtime_dir())
        self.path = os.path.join(directory, f"ssh-{session}.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(self.path)
        finally:
            os.umask(old)
        sock.listen(socket.SOMAXCONN)
        self._sock = sock
        return self.path

    def start(self) -> None:
        threading.Thread(target=self._accept_loop, daemon=True).start()
        if self.runner is None:
            threading.Thread(target=self._watch_agent, daemon=True).start()

    def end(self, reason: str) -> None:
        """Refuse everything from now on (idempotent: the first reason stays)."""
        if self.ended is None:
            self.ended = reason
            self.audit.write("ended", reason=reason)

    def close(self, reason: str) -> None:
        self.end(reason)
        with contextlib.suppress(OSError):
            os.write(self._stop_w, b"x")
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def _accept_loop(self) -> None:
        sock = self._sock
        assert sock is not None
        while True:
            ready, _, _ = select.select([sock.fileno(), self._stop_r], [], [])
            if self._stop_r in ready:
                return
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            if not self._slots.acquire(blocking=False):
                conn.close()
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _watch_agent(self) -> None:
        """End the session as soon as the agent locks, even while the builder is quiet."""
        while self.ended is None:
            if select.select([self._stop_r], [], [], _WATCH_INTERVAL)[0]:
                return
            try:
                self._check_agent()
            except AgentGone:
                self.end("the laptop's agent locked")

    def _check_agent(self) -> None:
        try:
            if _agent_identity(self.agent_path) != self.agent:
                raise AgentGone()
        except OSError:
            raise AgentGone() from None

    # -- requests ----------------------------------------------------------

    def _serve(self, conn: socket.socket) -> None:
        try:
            with conn:
                if peer_uid(conn) != os.getuid():
                    return  # only our own ssh client forwards to this socket
                conn.settimeout(_CONNECTION_TIMEOUT)
                try:
                    request = protocol.receive(conn)
                except (OSError, protocol.ProtocolError):
                    return
                try:
                    response = self.respond(request)
                except Exception:  # never a trace, never a builder left waiting
                    response = {
                        "ok": False,
                        "error": "proxy_error",
                        "message": "zkvault ssh could not answer that request",
                    }
                with contextlib.suppress(OSError, protocol.ProtocolError):
                    protocol.send(conn, response)
        finally:
            self._slots.release()

    def respond(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        what = _describe(op, request)
        try:
            response = self._respond(op, request)
        except Refused as refused:
            # A flood is logged by its first refusal: the log must not grow with it.
            if refused.code != "rate_limited" or not self._flooded:
                self.audit.write("request", **what, result="refused", reason=refused.reason)
            self._flooded = refused.code == "rate_limited"
            return {"ok": False, "error": refused.code, "message": refused.message}
        self._flooded = False
        if response.get("ok"):
            answered = {"item": response["item"]} if "item" in response else {}
            self.audit.write("request", **what, **answered, result="answered")
            if op == "credential":  # git needs no item name: the builder learns none
                response = {k: v for k, v in response.items() if k != "item"}
        else:
            reason = str(response.get("error", "error"))
            self.audit.write("request", **what, result="refused", reason=reason)
        return response

    def _respond(self, op: Any, request: dict[str, Any]) -> dict[str, Any]:
        self._check_open()
        if not self.bucket.take():
            raise Refused(
                "too many requests through this zkvault ssh session; retry in a moment",
                "rate_limited",
            )
        if op == "status":
            return self._status()
        only_keys = bool(self.scope.keys) and self.scope.keys == self.scope.items
        if op == "env" and request.get("names") is None and only_keys:
            return {"ok": True, "values": {}}  # only ssh keys are shared: the SSH agent's
        forwarded = self.scope.request(op, request)
        if op in ("get", "env"):
            self._confirm(self.scope.names_in(op, forwarded, {}), op)
        if op == "credential" and not self.scope.shares_host(
            forwarded["protocol"], forwarded["host"]
        ):
            response = self._shared_credential(forwarded)
        else:
            response = self.scope.response(op, forwarded, self._ask_agent(forwarded))
        if op == "credential" and response.get("ok"):
            self._confirm(self.scope.names_in(op, forwarded, response), "git credential")
        self._check_open()  # a question at the terminal may have outlasted the session
        return response

    # -- for the session's SSH agent (native.remote.sshagent) ---------------------

    def admit(self) -> None:
        """One SSH agent request: the session is open, within its rate and, on a laptop,
        the agent it started with is still the one unlocked (a lock ends the session for
        good, even when the watcher has not looked yet); raises Refused."""
        self._check_open()
        if not self.bucket.take():
            raise Refused("too many requests", "rate_limited")
        if self.runner is None:
            try:
                self._check_agent()
            except AgentGone:
                self.end("the laptop's agent locked")
                raise Refused("the laptop's vault is locked", "locked") from None

    def check_open(self) -> None:
        self._check_open()

    def confirm(self, names: list[str], what: str) -> None:
        self._confirm(names, what)

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """The agent's (or the runner's grant's) answer to a request this module built."""
        return self._ask_agent(request)

    def _shared_credential(self, forwarded: dict[str, Any]) -> dict[str, Any]:
        """git's matching among the shared items only, for a host that is not shared."""
        listing = self._ask_agent({"v": 1, "op": "list"})
        if not listing.get("ok"):
            return self.scope.response("list", {}, listing)
        name, username = self.scope.shared_match(forwarded, listing)
        get = {"v": 1, "op": "get", "name": name, "field": "secret"}
        got = self.scope.response("get", get, self._ask_agent(get))
        if not got.get("ok"):
            return got
        return {"ok": True, "username": username, "password": got["value"], "item": name}

    def _check_open(self) -> None:
        if self.ended is not None:
            raise Refused(
                f"this zkvault ssh session has ended ({self.ended}); start a new one", "locked"
            )
        if time.monotonic() >= self.deadline:
            raise Refused(
                "this zkvault ssh session's time limit (--ttl) has passed; start a new one",
                "session_expired",
            )

    def _confirm(self, names: list[str], what: str) -> None:
        if self.confirmer is not None and not self.confirmer.allowed(names, what):
            raise Refused("the person at the laptop did not allow that item")

    def _status(self) -> dict[str, Any]:
        status = self._ask_agent({"v": 1, "op": "status"})
        if not status.get("ok"):
            return status
        left = round(self.deadline - time.monotonic(), 1)
        return {
            "ok": True,
            "pid": "forwarded",
            "revision": status.get("revision"),
            "items": len(self.scope.items),
            "idle_timeout": status.get("idle_timeout"),
            "idle_expires_in": min(left, status.get("idle_expires_in") or left),
            "expires_in": min(left, status.get("expires_in") or left),
            "forwarded": True,
        }

    def _ask_agent(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.runner is not None:
            return self._ask_runner(request)
        try:
            self._check_agent()
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(_AGENT_TIMEOUT)
                sock.connect(self.agent_path)
                protocol.send(sock, request)
                return protocol.receive(sock)
        except (AgentGone, OSError, protocol.ProtocolError):
            self.end("the laptop's agent locked")
            raise Refused(
                "the laptop's vault is locked; this zkvault ssh session has ended", "locked"
            ) from None

    def _ask_runner(self, request: dict[str, Any]) -> dict[str, Any]:
        """The runner's grant, fetched and opened for this one request (native.runner)."""
        assert self.runner is not None
        fields = {k: v for k, v in request.items() if k not in ("v", "op")}
        try:
            return runner.request(self.runner, str(request["op"]), fields, self.tokens)
        except CliError as exc:
            return {"ok": False, "error": exc.code, "message": exc.message}


def _describe(op: Any, request: dict[str, Any]) -> dict[str, Any]:
    """What the log says about a request: names and hosts, bounded; never values."""

    def short(value: Any) -> str:
        return "".join(c if c.isprintable() else "?" for c in str(value))[:120]

    out: dict[str, Any] = {"op": short(op)}
    if op == "get":
        out["item"] = short(request.get("name"))
        out["field"] = short(request.get("field", "secret"))
    elif op == "env":
        names = request.get("names")
        out["items"] = [short(n) for n in names[:50]] if isinstance(names, list) else None
    elif op == "credential":
        out["host"] = short(request.get("host"))
    return out
