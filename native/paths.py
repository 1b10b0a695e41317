"""Where zkvault keeps things, from environment variables with XDG defaults.

On the fast ``get`` and git-credential paths: the agent's socket is found without
importing ``os``, which ``site`` loads for free but a ``-S`` start (native/fast.py) would
pay ~2.4 ms for (docs/performance.md, "Start-up without site"). ``getenv`` is
``os.environ.get``; the rest import ``os`` when they need more.
"""

from __future__ import annotations

import posix
import sys


def getenv(name: str) -> str | None:
    """``os.environ.get(name)``. Until ``os`` is imported nothing can have changed the
    environment os.environ would show (it is read from posix.environ then, and changed
    only through it), so read what it would read, decoded as it would decode it."""
    os = sys.modules.get("os")
    if os is not None:
        found: str | None = os.environ.get(name)
        return found
    encoding = sys.getfilesystemencoding()
    value = posix.environ.get(name.encode(encoding, "surrogateescape"))
    return None if value is None else value.decode(encoding, "surrogateescape")


def _xdg(var: str, *fallback: str) -> str:
    import os

    value = os.environ.get(var, "")
    if value and os.path.isabs(value):
        return value
    return os.path.join(os.path.expanduser("~"), *fallback)


def state_dir() -> str:
    """Encrypted state (machine credentials, vault copy, highest revision seen)."""
    import os

    return os.environ.get("ZKVAULT_HOME") or os.path.join(
        _xdg("XDG_CONFIG_HOME", ".config"), "zkvault"
    )


def key_dir() -> str:
    """The machine key's file fallback, kept apart from the state it protects."""
    import os

    return os.environ.get("ZKVAULT_KEY_DIR") or os.path.join(
        _xdg("XDG_DATA_HOME", ".local", "share"), "zkvault-key"
    )


def _join(directory: str, name: str) -> str:
    """``os.path.join(directory, name)`` for a relative ``name`` with no slash."""
    return directory + name if not directory or directory.endswith("/") else f"{directory}/{name}"


def runtime_dir() -> str:
    """Holds the agent's socket; private to this user."""
    explicit = getenv("ZKVAULT_RUNTIME_DIR")
    if explicit:
        return explicit
    xdg = getenv("XDG_RUNTIME_DIR") or ""
    if xdg.startswith("/"):  # os.path.isabs
        return _join(xdg, "zkvault")
    return f"/tmp/zkvault-{posix.getuid()}"  # noqa: S108 - checked 0700 and ours before use


def socket_path() -> str:
    """The agent's socket, or the one `zkvault ssh` forwarded to this builder."""
    return getenv("ZKVAULT_AGENT_SOCKET") or _join(runtime_dir(), "agent.sock")
