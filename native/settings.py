"""Settings read from a flag or the environment: durations and switches.

One small module so that ``unlock`` (flags) and ``sync`` (the agent's intervals) share
the parser without importing each other.
"""

from __future__ import annotations

import os

from native.errors import USAGE, CliError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_TRUE = ("1", "true", "yes")


def parse_duration(text: str, what: str) -> float:
    """``90``, ``90s``, ``15m``, ``8h``, ``1d`` -> seconds (must be > 0)."""
    text = text.strip().lower()
    unit = _UNITS.get(text[-1:], 0)
    number = text[:-1] if unit else text
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        seconds = -1
    if not 0 < seconds <= 366 * 86400:  # also refuses nan and inf
        raise CliError(
            f"{what} must be a duration like 900, 15m or 8h (at most a year), got {text!r}",
            USAGE,
            "usage",
        )
    return seconds


def duration(flag: str | None, env: str, default: float, what: str | None = None) -> float:
    """The flag's duration, else the environment variable's, else ``default``."""
    value = flag or os.environ.get(env)
    return parse_duration(value, what or env) if value else default


def switch(flag: bool, env: str) -> bool:
    """A flag that the environment can also turn on (``1``, ``true``, ``yes``)."""
    return flag or os.environ.get(env, "").strip().lower() in _TRUE
