"""Test-only hooks. Never import this outside tests and the vector generator."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from . import _rng


@contextmanager
def deterministic_random(seed: bytes) -> Iterator[None]:
    """Replace vault_core's randomness with a SHA-256 counter stream seeded by ``seed``."""
    counter = 0

    def stream(n: int) -> bytes:
        nonlocal counter
        out = b""
        while len(out) < n:
            out += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
            counter += 1
        return out[:n]

    previous, _rng._override = _rng._override, stream
    try:
        yield
    finally:
        _rng._override = previous
