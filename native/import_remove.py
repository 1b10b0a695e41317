"""Removing plaintext copies that the saved vault was checked to hold (`zkvault import
--remove-plaintext`).

Each file is read again, parsed by its type (native.import_sources) and written whole
in one step: a new file beside it, with the same owner-only permissions from its
creation, synced, then renamed over the old one. A file is therefore either as it was or
without the copies, whenever the process stops; the copies removed are exactly those
whose secret is in ``verified`` as the file is now, whatever changed in it meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Mapping

from native import import_sources
from native.errors import STATE, CliError


def strip(source: str, path: str, text: str, verified: Mapping[str, str]) -> tuple[str, int]:
    """``text`` without the copies of the secrets in ``verified`` (secret -> item name),
    and how many copies went."""
    how = import_sources.REMOVAL[source]
    if how == "entry":
        return _strip_netrc(text, verified)
    lines = text.splitlines(keepends=True)
    removed = 0
    if how == "url":
        for i, line in enumerate(lines):
            creds = [c for c in import_sources.url_credentials(line) if c.secret in verified]
            for cred in reversed(creds):  # from the right: earlier offsets stay valid
                line = line[: cred.start] + cred.bare + line[cred.end :]
                removed += 1
            lines[i] = line
        return "".join(lines), removed
    doomed: dict[int, tuple[str, str]] = {}  # line index -> (item name, variable)
    for found in import_sources.parse(source, path, text):
        if found.secret in verified:
            doomed[found.line - 1] = (verified[found.secret], found.label)
    for index in sorted(doomed, reverse=True):
        if how == "comment":  # .env: say where the value went, never the value
            ending = "\n" if lines[index].endswith("\n") else ""
            name, label = doomed[index]
            lines[index] = (
                f"# {label}: moved to the zkvault item {name!r}; "
                f"zkvault run --env {label}={name!r} -- COMMAND{ending}"
            )
        else:
            del lines[index]
        removed += 1
    return "".join(lines), removed


def _strip_netrc(text: str, verified: Mapping[str, str]) -> tuple[str, int]:
    entries = [e for e in import_sources.netrc_entries(text) if e.password in verified]
    for entry in reversed(entries):
        text = text[: entry.start] + text[entry.end :]
    return text, len(entries)


def rewrite(source: str, path: str, verified: Mapping[str, str]) -> int:
    """Remove the verified copies from ``path`` in one atomic step; how many went."""
    real = os.path.realpath(path)  # a symbolic link (dotfiles) keeps pointing at the file
    try:
        with open(real, "rb") as f:
            data = f.read()
        info = os.stat(real)
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", STATE, "unreadable") from None
    text = data.decode("utf-8", "surrogateescape")
    new, removed = strip(source, path, text, verified)
    if not removed:
        return 0
    directory = os.path.dirname(real) or "."
    temp = os.path.join(directory, f".{os.path.basename(real)}.zkvault-{os.getpid()}")
    mode = stat.S_IMODE(info.st_mode) & 0o7777
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode & 0o600)
        try:
            view = memoryview(new.encode("utf-8", "surrogateescape"))
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode)  # the old file's permissions, once its content is ours
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, real)
        _sync_dir(directory)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise CliError(
            f"cannot rewrite {path} ({exc.strerror}); it is as it was", STATE, "write_failed"
        ) from None
    return removed


def _sync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
