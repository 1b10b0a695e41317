"""Replace secret values in a byte stream, even when one is split across reads.

The result equals masking the whole stream at once (leftmost, longest secret
first). Bytes that could still begin a secret (including a complete secret
that a longer one could extend) are held until the next read or the end of
the stream decides; everything else is passed on at once, so interactive
output is not delayed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = b"****"


class Masker:
    def __init__(self, secrets: Iterable[bytes]) -> None:
        # Longest first: at any position the regex then takes the longest secret.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._pattern = (
            re.compile(b"|".join(re.escape(s) for s in self._secrets)) if self._secrets else None
        )
        self._longest = len(self._secrets[0]) if self._secrets else 0
        self._pending = b""

    def feed(self, data: bytes) -> bytes:
        if self._pattern is None:
            return data
        buffer = self._pending + data
        out: list[bytes] = []
        i = 0
        hold = self._hold_from(buffer, 0)
        while True:
            if i > hold:
                hold = self._hold_from(buffer, i)
            match = self._pattern.search(buffer, i)
            if match is None or match.start() >= hold:
                out.append(buffer[i:hold])
                self._pending = buffer[hold:]
                return b"".join(out)
            out.append(buffer[i : match.start()])
            out.append(MASK)
            i = match.end()

    def flush(self) -> bytes:
        """End of stream: mask what was held back and return it."""
        pending, self._pending = self._pending, b""
        return self._pattern.sub(MASK, pending) if self._pattern else pending

    def _hold_from(self, buffer: bytes, start: int) -> int:
        """First position >= start whose rest of ``buffer`` could still grow into a
        longer secret, or len(buffer)."""
        size = len(buffer)
        for j in range(max(start, size - self._longest + 1), size):
            tail = buffer[j:]
            if any(len(s) > len(tail) and s.startswith(tail) for s in self._secrets):
                return j
        return size
