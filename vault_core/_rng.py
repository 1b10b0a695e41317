"""Randomness for vault_core, with one test-only override for reproducible vectors."""

from __future__ import annotations

from collections.abc import Callable

from .backend import get_backend

_override: Callable[[int], bytes] | None = None


def random_bytes(n: int) -> bytes:
    if _override is not None:
        return _override(n)
    return get_backend().random_bytes(n)
