"""Private directories and atomic, durable file writes."""

from __future__ import annotations

import os
import socket
import stat

from native.errors import STATE, CliError


def private_dir(path: str) -> str:
    """Create ``path`` 0700 if missing; refuse one that others own or can enter."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise CliError(f"{path} is not a directory; remove it and retry", STATE, "unsafe_path")
    if st.st_uid != os.getuid():
        raise CliError(
            f"{path} belongs to another user; set ZKVAULT_HOME etc. to a directory of yours",
            STATE,
            "unsafe_path",
        )
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o700)  # ours, so tighten rather than refuse
    return path


def atomic_write(path: str, data: bytes) -> None:
    """Write ``data`` so that readers see the old or the new file, never a mix.

    Temporary file in the same directory (created 0600), fsync, rename, then
    fsync the directory so the rename itself survives a crash.
    """
    directory = os.path.dirname(path) or "."
    tmp = f"{path}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def read_file(path: str, limit: int = 64 * 1024 * 1024) -> bytes | None:
    """The file's bytes, or None if it does not exist; refuses symlinks."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise CliError(f"{path} is larger than {limit} bytes; it is not zkvault's", STATE)
    return data


def listening_socket(path: str) -> socket.socket:
    """A unix socket listening at ``path``, mode 0600 from the moment it exists (bound under
    a umask that lets nobody else in: no window), for many clients at once."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(socket.SOMAXCONN)  # parallel builds: many clients at once
    return sock
