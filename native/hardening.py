"""Keeping a process's memory from other processes of the same user.

Used by the agent, by every command in runner mode, and by `zkvault ssh`'s proxy. Two
steps: no core dumps (``RLIMIT_CORE`` 0) and not dumpable (``PR_SET_DUMPABLE`` 0), so
that a same-uid process can neither ptrace this one nor open its ``/proc/<pid>`` files
(``environ``, ``mem``, ``fd/``). root is not held back by either.
"""

from __future__ import annotations

import ctypes
import resource
import sys

_PR_SET_DUMPABLE = 4


class Hardening:
    """What :func:`harden` could not do, as lines for ``zkvault status`` or stderr."""

    def __init__(self, warnings: list[str], undumpable: bool) -> None:
        self.warnings = warnings
        # False only where it matters: Linux, where /proc exposes a dumpable process.
        self.undumpable = undumpable


def harden(who: str = "this process") -> Hardening:
    """Both steps; never raises. ``who`` names the process in the warnings."""
    failed = []
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (OSError, ValueError) as exc:
        failed.append(f"core dumps could not be disabled ({type(exc).__name__})")
    undumpable = True
    try:
        if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
            failed.append(f"could not mark {who} undumpable (errno {ctypes.get_errno()})")
            undumpable = False
    except (OSError, AttributeError):
        failed.append(f"could not mark {who} undumpable (no prctl on this system)")
        undumpable = not sys.platform.startswith("linux")
    warnings = [f"hardening: {f}; other processes of this user may read its memory" for f in failed]
    return Hardening(warnings, undumpable)
