"""The packed Pyodide snapshot (docs/web.md, "The Pyodide memory snapshot"), read back by
the layout the document gives rather than by the worker's code."""

from __future__ import annotations

import os
import sys

import pytest

from tests.support.processes import ROOT

sys.path.insert(0, str(ROOT / "tools"))
from build_web import pack_snapshot

PAGE = 65536


def unpack(packed: bytes) -> bytes:
    """docs/web.md: "ZKSP", the length (u32 LE), one bit per 64 KiB page (bit p mod 8 of
    byte p div 8), then the stored pages in order; the others are zeros."""
    assert packed[:4] == b"ZKSP"
    length = int.from_bytes(packed[4:8], "little")
    pages = -(-length // PAGE)
    bitmap = packed[8 : 8 + (pages + 7) // 8]
    out = bytearray(length)
    at = 8 + len(bitmap)
    for p in range(pages):
        if bitmap[p // 8] >> (p % 8) & 1:
            size = min(PAGE, length - p * PAGE)
            out[p * PAGE : p * PAGE + size] = packed[at : at + size]
            at += size
    assert at == len(packed)
    return bytes(out)


def memory(*pages: bytes, tail: bytes = b"") -> bytes:
    return b"".join(page.ljust(PAGE, b"\0") for page in pages) + tail


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\0" * 10,
        b"\1",
        memory(b"", b"", b""),
        memory(b"x", b"", b"y"),
        memory(b"", os.urandom(PAGE), b"", tail=b"\0" * 144),
        memory(b"", b"", tail=b"\0" * 143 + b"\1"),
        memory(*(os.urandom(9) if i % 3 else b"" for i in range(20)), tail=b"abc"),
    ],
)
def test_packing_round_trips_and_stores_only_pages_that_are_not_zeros(raw: bytes) -> None:
    packed = pack_snapshot(raw)
    assert unpack(packed) == raw
    pages = -(-len(raw) // PAGE)
    nonzero = [p for p in range(pages) if raw[p * PAGE : (p + 1) * PAGE].strip(b"\0")]
    stored = sum(min(PAGE, len(raw) - p * PAGE) for p in nonzero)
    assert len(packed) == 8 + (pages + 7) // 8 + stored


def test_the_packed_form_is_the_same_for_the_same_memory() -> None:
    raw = memory(b"a", b"", b"b", tail=b"c")
    assert pack_snapshot(raw) == pack_snapshot(bytes(raw))
    assert pack_snapshot(raw) != pack_snapshot(memory(b"a", b"", b"b", tail=b"d"))
