"""Talk to the running agent. On the fast path: _socket and this package only (not even
``os``: native.paths)."""

from __future__ import annotations

# _socket, not socket: the wrapper module pulls in selectors and enum (~4 ms per call).
import _socket

from native import paths, protocol
from native.errors import (
    FAILURE,
    LOCKED,
    NOT_FOUND,
    OUT_OF_SCOPE,
    REVOKED,
    STATE,
    USAGE,
    CliError,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_EXIT_FOR = {
    "not_found": NOT_FOUND,
    "no_match": NOT_FOUND,
    "locked": LOCKED,
    "bad_field": USAGE,
    "bad_request": USAGE,
    "out_of_scope": OUT_OF_SCOPE,  # zkvault ssh (native.remote)
    "forbidden": OUT_OF_SCOPE,
    "session_expired": LOCKED,
    "revoked": REVOKED,  # a runner's grant answering through zkvault ssh
    "no_account": NOT_FOUND,  # teams: nobody has that email
}
# Teams: what the person must do first (exit 2, as native/vaulterrors.py says).
_ASK_FIRST = ("identity_not_pinned", "team_permission")
# An agent that met a fork serves nothing more: exit 5, as native/vaulterrors.py says; so
# does a team or identity that failed its checks (the server may be lying).
_STOPPED = (
    "fork",
    "downgrade",
    "lineage",
    "identity",
    "identity_auth",
    "identity_binding",
    "identity_changed",
    "team_log",
    "team_log_gap",
    "team_log_fork",
    "team_log_rollback",
    "team_log_signature",
    "team_key",
    "team_key_check",
    "stale_epoch",
    "team_vault_signature",
    "wrong_vault",
)
_NOT_RUNNING = "the vault is locked (no agent running); run `zkvault unlock`"
_FORWARD_ENDED = "the zkvault ssh session that forwarded the agent has ended"


def request(op: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
    """Send one request; return the response or raise the agent's error as CliError."""
    path = paths.socket_path()
    forwarded = bool(paths.getenv("ZKVAULT_AGENT_SOCKET"))
    not_running = _FORWARD_ENDED if forwarded else _NOT_RUNNING
    if forwarded:
        timeout = max(timeout, 120.0)  # the laptop may be asking its user (--confirm)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            _connect(sock, path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise CliError(not_running, LOCKED, "locked") from None
        except OSError as exc:
            raise CliError(
                f"cannot reach the agent at {path} ({exc.strerror}); run `zkvault unlock`",
                LOCKED,
                "locked",
            ) from None
        try:
            protocol.send(sock, {"v": protocol.PROTOCOL_VERSION, "op": op, **fields})
            response = protocol.receive(sock)
        except (OSError, protocol.ProtocolError):
            # The agent closes connections it refuses (wrong uid) or while wiping.
            raise CliError(not_running, LOCKED, "locked") from None
    finally:
        sock.close()
    if not response.get("ok"):
        code = str(response.get("error", "error"))
        exit_code = STATE if code in _STOPPED else _EXIT_FOR.get(code, FAILURE)
        if code in _ASK_FIRST:
            exit_code = USAGE
        raise CliError(str(response.get("message", code)), exit_code, code)
    return response


def _connect(sock: _socket.socket, path: str) -> None:
    """Connect, retrying for up to a second while the agent's backlog is full (EAGAIN)."""
    for _ in range(100):
        try:
            sock.connect(path)
            return
        except BlockingIOError:
            import time

            time.sleep(0.01)
    sock.connect(path)


def agent_running() -> bool:
    import os

    if not os.path.exists(paths.socket_path()):
        return False
    try:
        request("status", timeout=2.0)
    except CliError:
        return False
    return True
