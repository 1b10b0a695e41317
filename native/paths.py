"""Where zkvault keeps things, from environment variables with XDG defaults.

Uses ``os`` only: this module is on the fast ``get`` path.
"""

from __future__ import annotations

import os


def _xdg(var: str, *fallback: str) -> str:
    value = os.environ.get(var, "")
    if value and os.path.isabs(value):
        return value
    return os.path.join(os.path.expanduser("~"), *fallback)


def state_dir() -> str:
    """Encrypted state (machine credentials, vault copy, highest revision seen)."""
    return os.environ.get("ZKVAULT_HOME") or os.path.join(
        _xdg("XDG_CONFIG_HOME", ".config"), "zkvault"
    )


def key_dir() -> str:
    """The machine key's file fallback, kept apart from the state it protects."""
    return os.environ.get("ZKVAULT_KEY_DIR") or os.path.join(
        _xdg("XDG_DATA_HOME", ".local", "share"), "zkvault-key"
    )


def runtime_dir() -> str:
    """Holds the agent's socket; private to this user."""
    explicit = os.environ.get("ZKVAULT_RUNTIME_DIR")
    if explicit:
        return explicit
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, "zkvault")
    return f"/tmp/zkvault-{os.getuid()}"  # noqa: S108 - checked 0700 and ours before use


def socket_path() -> str:
    """The agent's socket, or the one `zkvault ssh` forwarded to this builder."""
    return os.environ.get("ZKVAULT_AGENT_SOCKET") or os.path.join(runtime_dir(), "agent.sock")
