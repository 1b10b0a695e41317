"""Runner mode: the credential taken once, first thing, and kept from every other process.

``take`` runs at the top of ``zkvault``'s ``main`` whenever a runner credential is offered,
whatever the command, before anything else runs and before any child exists:

1. harden this process (native.hardening): not dumpable, so a same-uid process (the
   build command, an ``--authorize`` command, one left over from an earlier step) can
   no longer open its ``/proc/<pid>/environ``, ``mem`` or ``fd/``;
2. read the credential from exactly one source: ``--credential-file PATH`` or
   ``ZKVAULT_RUNNER_CREDENTIAL_FILE`` (a regular file of ours that no other user can
   read or write), the inherited descriptor ``ZKVAULT_RUNNER_CREDENTIAL_FD`` (read, then
   closed), or ``ZKVAULT_RUNNER_CREDENTIAL``;
3. remove it from this process's environment: from ``os.environ`` (so no child inherits
   it) and from the initial environment block that ``/proc/<pid>/environ`` shows (so a
   reader with the rights to look, root, finds nothing there either).

What remains outside (docs/cli.md, "Runners"): the CI job's own environment, root, and
a same-uid process that reads ``/proc/<pid>/environ`` or ``fd/`` in the milliseconds
between this process's start and step 1.
"""

from __future__ import annotations

import os
import stat
import sys

from native.errors import STATE, USAGE, CliError
from native.hardening import harden

TYPE_CHECKING = False
if TYPE_CHECKING:
    from native.runner import RunnerCredential

ENV = "ZKVAULT_RUNNER_CREDENTIAL"
FILE_ENV = "ZKVAULT_RUNNER_CREDENTIAL_FILE"
FD_ENV = "ZKVAULT_RUNNER_CREDENTIAL_FD"
FILE_FLAG = "--credential-file"
_LIMIT = 1 << 16


class RunnerIdentity:
    """The one runner credential of this process, handed down from ``main``."""

    def __init__(self, text: str, warnings: list[str]) -> None:
        from native.runner import RunnerCredential

        self._text = text
        self.credential: RunnerCredential = RunnerCredential.decode(text)
        self.warnings = warnings  # hardening that failed, shown like the agent's

    def __repr__(self) -> str:
        return f"<RunnerIdentity {self.credential!r}>"

    def secret_values(self) -> list[bytes]:
        """What of the credential must never appear in a child's output: the whole string,
        the server credential inside it and the runner's key seed (raw, base64url, hex)."""
        from native.api import b64url_encode

        seed = self.credential.seed
        return [
            self._text.encode(),
            self.credential.credential.encode(),
            seed,
            b64url_encode(seed).encode(),
            seed.hex().encode(),
        ]


def take(argv: list[str], own_process: bool = True) -> RunnerIdentity:
    """Steps 1-3 above. Removes a leading ``--credential-file PATH`` from ``argv``.
    ``own_process=False`` (a caller inside another program) skips steps 1 and 3's wipe."""
    hardened = harden("this runner process") if own_process else None
    path = _file_flag(argv)
    text_env = os.environ.pop(ENV, None) or None  # set but empty: not given
    if own_process and text_env is not None:
        _wipe_initial_environment(ENV)
    file_env = os.environ.pop(FILE_ENV, None) or None
    fd_env = os.environ.pop(FD_ENV, None) or None
    given = [s for s in (path, file_env, fd_env, text_env) if s is not None]
    if len(given) != 1:
        raise CliError(
            f"give the runner credential one way only: {FILE_FLAG}, {FILE_ENV}, {FD_ENV} or {ENV}",
            USAGE,
            "bad_credential",
        )
    warnings = hardened.warnings if hardened else []
    if hardened is not None and not hardened.undumpable:
        # Refused, not warned, and before reading a file or descriptor: the build command
        # runs as this user and could read the credential from /proc/<pid>/mem, which is
        # what runner mode promises it cannot.
        raise CliError(
            f"{warnings[-1]}; refusing to hold the runner credential (docs/cli.md, Runners)",
            STATE,
            "hardening",
        )
    for line in warnings:
        print(f"zkvault: warning: {line}", file=sys.stderr)
    if path is not None or file_env is not None:
        text = _read_file(path or file_env or "")
    elif fd_env is not None:
        text = _read_fd(fd_env)
    else:
        text = text_env or ""
    return RunnerIdentity(text, warnings)


def _file_flag(argv: list[str]) -> str | None:
    if not argv or argv[0].partition("=")[0] != FILE_FLAG:
        return None
    word = argv.pop(0)
    value = word[len(FILE_FLAG) + 1 :] if "=" in word else (argv.pop(0) if argv else "")
    if not value:
        raise CliError(f"{FILE_FLAG} needs a path", USAGE, "usage")
    return value


def _read_file(path: str) -> str:
    """The credential file, once: a regular file of ours, closed to every other user."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise CliError(
            f"cannot read the runner credential file {path} ({exc.strerror})",
            USAGE,
            "bad_credential",
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise CliError(
                f"the runner credential file {path} is not a regular file",
                USAGE,
                "bad_credential",
            )
        if st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) & 0o077:
            raise CliError(
                f"the runner credential file {path} is open to other users (mode "
                f"{stat.S_IMODE(st.st_mode):04o}, owner uid {st.st_uid}); make it yours "
                "and `chmod 600` it",
                STATE,
                "credential_file_open",
            )
        return _read_line(fd)
    finally:
        os.close(fd)


def _read_fd(text: str) -> str:
    """The credential from an inherited descriptor, which is closed afterwards."""
    try:
        fd = int(text)
        if fd < 3:
            raise ValueError(fd)
        os.set_inheritable(fd, False)  # closed below; never passed on meanwhile
    except (ValueError, OSError):
        raise CliError(
            f"{FD_ENV} must name an open file descriptor, 3 or above", USAGE, "bad_credential"
        ) from None
    try:
        return _read_line(fd)
    finally:
        os.close(fd)


def _read_line(fd: int) -> str:
    """Up to the first newline or the end: a pipe's writer need not close it."""
    data = b""
    while b"\n" not in data and len(data) < _LIMIT:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:  # an O_NONBLOCK file never blocks; defensive only
            break
        except OSError:
            raise CliError("cannot read the runner credential", USAGE, "bad_credential") from None
        if not chunk:
            break
        data += chunk
    return data.partition(b"\n")[0].decode("utf-8", "replace").strip()


def _wipe_initial_environment(name: str) -> None:
    """Overwrite ``name``'s value in the environment block the kernel shows as
    ``/proc/<pid>/environ`` (Python's ``os.environ`` is a copy of it). Linux only;
    best effort: the process is already undumpable, so only root could still look."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()
        start = int(fields[47])  # env_start: field 50 of proc(5); fields[0] is field 3
        with open("/proc/self/environ", "rb") as f:
            block = f.read()
        prefix = name.encode() + b"="
        offset = 0
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            for entry in block.split(b"\0"):
                if entry.startswith(prefix) and len(entry) > len(prefix):
                    mem.seek(start + offset + len(prefix))
                    mem.write(b"\0" * (len(entry) - len(prefix)))
                offset += len(entry) + 1
    except (OSError, ValueError, IndexError):
        pass
