"""A runner's credential kept out of every process that ``zkvault run`` starts.

Linux keeps a process's initial environment readable at ``/proc/<pid>/environ`` for
as long as the process lives, whatever Python later does to ``os.environ``. So on a
runner, ``zkvault run`` first re-executes itself without ZKVAULT_RUNNER_CREDENTIAL
and receives the credential on a pipe instead: the command it then starts finds it
neither in its own environment nor in its parent's. The re-executed process is also
made non-dumpable, so a same-user child can neither ptrace it nor read its
``/proc`` files (its memory included).
"""

from __future__ import annotations

import contextlib
import os
import sys

from native.errors import USAGE, CliError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (the fast path)
if TYPE_CHECKING:
    from typing import NoReturn

ENV = "ZKVAULT_RUNNER_CREDENTIAL"
# The number of the pipe's read end in the re-executed process: not a secret.
FD_ENV = "ZKVAULT_RUNNER_CREDENTIAL_FD"
_PR_SET_DUMPABLE = 4
_LIMIT = 1 << 16

_received: str | None = None


def present() -> bool:
    """Whether this process acts as a runner (a credential in the environment or received)."""
    return _received is not None or bool(os.environ.get(ENV))


def credential() -> str:
    """The runner credential, wherever it came from ("" when there is none)."""
    return _received if _received is not None else os.environ.get(ENV, "")


def reexec_without_credential() -> NoReturn:
    """Start this command again, as the same process and with the same command line
    (``sys.orig_argv``: interpreter options included), with the credential on a pipe.

    The credential (a few hundred bytes) fits the pipe's buffer, so it is written
    before the exec; the write end is not inherited, so the reader sees EOF after it.
    """
    text = os.environ[ENV]
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "wb") as pipe:
        pipe.write(text.encode())
    os.set_inheritable(read_end, True)
    env = {k: v for k, v in os.environ.items() if k != ENV}
    env[FD_ENV] = str(read_end)
    os.execve(sys.executable, sys.orig_argv, env)  # noqa: S606 - ourselves, as we were started


def receive() -> None:
    """In the re-executed process: take the credential from the pipe, then close it."""
    global _received
    fd_text = os.environ.pop(FD_ENV, None)
    if fd_text is None:
        return
    _make_undumpable()
    try:
        with os.fdopen(int(fd_text), "rb") as pipe:
            data = pipe.read(_LIMIT)
    except (ValueError, OSError):
        raise CliError(
            f"{FD_ENV} is set by zkvault itself; unset it", USAGE, "bad_credential"
        ) from None
    _received = data.decode("utf-8", "replace")


def secret_values() -> list[bytes]:
    """What of the credential must never appear in a child's output: the whole string,
    the server credential inside it and the runner's key seed (raw, base64url, hex)."""
    from native.api import b64url_encode
    from native.runner import RunnerCredential

    text = credential()
    decoded = RunnerCredential.decode(text)
    seed = decoded.seed
    return [
        text.encode(),
        decoded.credential.encode(),
        seed,
        b64url_encode(seed).encode(),
        seed.hex().encode(),
    ]


def _make_undumpable() -> None:
    import ctypes

    # Best effort: outside Linux there is no /proc/<pid>/environ to protect.
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
