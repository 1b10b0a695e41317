"""Replace secret values in a byte stream, even when one is split across reads.

Bytes that could still be the start of a secret are held back until the next
read (or end of stream) decides; everything else is passed on at once, so
interactive output is not delayed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = b"****"


class Masker:
    def __init__(self, secrets: Iterable[bytes]) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._pattern = (
            re.compile(b"|".join(re.escape(s) for s in self._secrets)) if self._secrets else None
        )
        self._pending = b""

    def feed(self, data: bytes) -> bytes:
        if self._pattern is None:
            return data
        buffer = self._pattern.sub(MASK, self._pending + data)
        hold = self._held_suffix(buffer)
        self._pending = buffer[len(buffer) - hold :] if hold else b""
        return buffer[: len(buffer) - hold]

    def flush(self) -> bytes:
        out, self._pending = self._pending, b""
        return out

    def _held_suffix(self, buffer: bytes) -> int:
        """Length of the longest suffix of ``buffer`` that is a proper prefix of a secret."""
        longest = min(len(buffer), len(self._secrets[0]) - 1)
        for size in range(longest, 0, -1):
            tail = buffer[-size:]
            if any(s.startswith(tail) for s in self._secrets if len(s) > size):
                return size
        return 0
