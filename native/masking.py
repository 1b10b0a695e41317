"""Replace secret values in a byte stream, even when one is split across reads.

The result equals masking the whole stream at once (leftmost, longest secret
first). Bytes that could still begin a secret (including a complete secret
that a longer one could extend) are held until the next read or the end of
the stream decides; everything else is passed on at once, so interactive
output is not delayed.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Protocol
from urllib.parse import quote, quote_plus

MASK = b"****"
# A base64 run shorter than this could occur by chance in ordinary output.
_MIN_ENCODED_CORE = 8


def encoded_forms(secret: bytes) -> set[bytes]:
    """``secret`` and the encodings a build step is likely to print it in.

    Base64 (standard and URL-safe): the whole encoding, and for each of the three
    alignments the characters that depend on the secret alone, so the secret is also
    caught inside a longer encoded string (``base64 <<< "user:$TOKEN"``). Percent
    encoding as ``quote`` and ``quote_plus`` write it. docs/cli.md says what is not caught.
    """
    if not secret:
        return set()
    forms = {secret}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        forms.add(encode(secret))
        forms.add(encode(secret).rstrip(b"="))
        for skip in range(3):
            whole_groups = (len(secret) - skip) // 3 * 3
            core = encode(secret[skip : skip + whole_groups])
            if len(core) >= _MIN_ENCODED_CORE:
                forms.add(core)
    for percent in (quote(secret, safe=""), quote_plus(secret, safe="")):
        forms.add(percent.encode("ascii"))
    return forms


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


class StreamMasker(Protocol):
    def feed(self, data: bytes) -> bytes: ...
    def flush(self) -> bytes: ...


class KnownFormatMasker:
    """``run --mask-known``: after ``inner`` (the vault's own values), also replace every
    token of a published format (vault_core.token_formats, docs/tokens.md) by ``MASK``.

    The result equals masking the whole of ``inner``'s output at once. Only a trailing run
    of token characters that could still begin a token is held back (at most
    ``MAX_TOKEN_LENGTH`` + 1 bytes): a token is decided by the byte before it, its own bytes
    and the byte after it, so whatever lies before that run is final.
    """

    def __init__(self, inner: Masker) -> None:
        from vault_core import token_formats

        self._tf = token_formats
        self._chars = frozenset(ord(c) for c in token_formats.TOKEN_CHARS)
        self._firsts = frozenset(ord(c) for c in token_formats.FIRST_CHARS)
        self._inner = inner
        self._pending = b""  # the held-back tail
        self._context = b""  # the one byte before it, for the left boundary

    def feed(self, data: bytes) -> bytes:
        return self._mask(self._inner.feed(data), final=False)

    def flush(self) -> bytes:
        return self._mask(self._inner.flush(), final=True)

    def _mask(self, data: bytes, *, final: bool) -> bytes:
        buffer = self._context + self._pending + data
        start = len(self._context)
        hold = len(buffer) if final else self._hold_from(buffer, start)
        out: list[bytes] = []
        i = start
        for t_start, t_end, _name in self._tf.find_tokens_from(buffer, start):
            if t_start >= hold:
                break
            # A token that begins before the held-back run ends before it too: the byte
            # after it is known and is no token character, or the run would begin earlier.
            out.append(buffer[i:t_start])
            out.append(MASK)
            i = t_end
        if i < hold:
            out.append(buffer[i:hold])
        else:
            hold = i  # a masked token reached into the run: nothing of it is held
        self._pending = buffer[hold:]
        self._context = buffer[hold - 1 : hold] if hold > 0 else b""
        return b"".join(out)

    def _hold_from(self, buffer: bytes, start: int) -> int:
        """The first position >= ``start`` at which a token could begin whose end is not
        yet known: within the trailing run of token characters (its last
        MAX_TOKEN_LENGTH + 1 bytes), a first character with no letter or digit before it."""
        chars, firsts = self._chars, self._firsts
        end = len(buffer)
        run = end
        floor = max(start, end - self._tf.MAX_TOKEN_LENGTH - 1)
        while run > floor and buffer[run - 1] in chars:
            run -= 1
        for j in range(run, end):
            if buffer[j] in firsts and (j == 0 or buffer[j - 1] not in _ALNUM_BYTES):
                return j
        return end


_ALNUM_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
