"""Canonical encodings shared by the vault and grant formats (format.md §1, §6.6)."""

from __future__ import annotations

import json
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from .errors import MalformedError, NonCanonicalError

REVISION_MAX = 2**63 - 1  # fits a signed 64-bit database column


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")  # Python's json would accept NaN, Infinity


class _Number:
    """A JSON number, kept unconverted: every number is non-canonical whatever its length,
    and converting one could fail (CPython refuses integers of over 4,300 digits)."""


_NUMBER = _Number()
# What a number re-encodes as: a string, so the re-encoding of any value that holds a
# number differs from the bytes it was parsed from (those held a number there, and JSON
# parses one text one way only). Numbers are thereby non-canonical without a walk.
_NUMBER_MARK = "\x00number"


def _number(_text: str) -> _Number:
    return _NUMBER


def _encode_number(value: object) -> str:
    if isinstance(value, _Number):
        return _NUMBER_MARK
    raise TypeError(type(value).__name__)


# Made once: json.loads and json.dumps with options build a new decoder or encoder per call.
_DECODER = json.JSONDecoder(parse_constant=_not_json, parse_int=_number, parse_float=_number)
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_encode_number
)

# The encoder's C core, made once too (JSONEncoder.encode makes one per call). None where
# _json is missing: then the encoder above does the same work. No circularity markers: a
# value fresh from the decoder holds no cycle.
_C_ENCODE = (
    c_make_encoder(
        None,
        _encode_number,
        encode_basestring,
        None,
        ":",
        ",",
        True,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan, as JSONEncoder's default (the decoder yields no float)
    )
    if c_make_encoder is not None
    else None
)


def _reencode(obj: Any) -> str:
    """``_ENCODER.encode(obj)`` for a value fresh from ``_DECODER``."""
    if _C_ENCODE is None or isinstance(obj, str):
        return _ENCODER.encode(obj)
    return "".join(_C_ENCODE(obj, 0))


_SCAN_ONCE = _DECODER.scan_once  # type: ignore[attr-defined]


def _decode(text: str) -> Any:
    """``_DECODER.decode(text)``: its scanner called directly when the value fills the text
    from its first character to its last (what a canonical text does); anything else (white
    space around it, not JSON at all) goes through ``decode`` for its verdict."""
    try:
        obj, end = _SCAN_ONCE(text, 0)
    except StopIteration:
        return _DECODER.decode(text)
    if end != len(text):
        return _DECODER.decode(text)
    return obj


JSON_MAX_DEPTH = 16  # arrays and objects inside each other; a grant body needs 4


def _walk(obj: Any) -> tuple[int, bool]:
    """(deepest nesting of arrays and objects, whether any number, true or false occurs)."""
    deepest, scalar = 0, False
    pending = [(obj, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, bool | int | float | _Number):
            scalar = True
        elif isinstance(value, dict | list):
            deepest = max(deepest, depth + 1)
            children = value.values() if isinstance(value, dict) else value
            pending.extend((child, depth + 1) for child in children)
    return deepest, scalar


def _surely_shallow_and_boolean_free(data: bytes) -> bool:
    """Whether the bytes alone show that ``_walk`` would find nothing to refuse: nesting no
    deeper than JSON_MAX_DEPTH (each level opens with its own "[" or "{", so their total
    count bounds the depth) and no true or false (a JSON literal is never escaped, so each
    shows as those bytes). Brackets or those words inside strings only cost a walk."""
    return (
        data.count(b"{") + data.count(b"[") <= JSON_MAX_DEPTH
        # find, not "in": the same answer, and "in" costs three times as much on bytes
        and data.find(b"true") < 0
        and data.find(b"false") < 0
    )


def parse_canonical_json(data: bytes) -> Any:
    """Parse JSON that must be in canonical form (format.md §6.6, in this order): not UTF-8,
    not JSON, a lone surrogate or nesting deeper than JSON_MAX_DEPTH is MalformedError; a
    number, true, false, or any byte that differs from the canonical re-encoding is
    NonCanonicalError. Only objects, arrays, strings and null are canonical."""
    try:
        text = data.decode("utf-8")
        if text.startswith("\ufeff"):  # as json.loads refuses it
            raise ValueError("a byte order mark")
        obj = _decode(text)
        reencoded = _reencode(obj).encode("utf-8")
    except (UnicodeError, ValueError, RecursionError):
        raise MalformedError("not valid JSON") from None
    # Walking every value is most of the cost of a parse: the bytes usually show there is
    # nothing for it to find (a number is caught by the comparison, see _NUMBER_MARK).
    depth, scalar = (0, False) if _surely_shallow_and_boolean_free(data) else _walk(obj)
    if depth > JSON_MAX_DEPTH:
        raise MalformedError(f"JSON nested deeper than {JSON_MAX_DEPTH} levels")
    if scalar or reencoded != data:
        raise NonCanonicalError("JSON is not in canonical form")
    return obj


class Reader:
    """Reads fixed-width big-endian fields; running short is a MalformedError."""

    def __init__(self, data: bytes, offset: int = 0) -> None:
        self.data = data
        self.offset = offset

    @property
    def remaining(self) -> int:
        return len(self.data) - self.offset

    def take(self, n: int) -> bytes:
        if n < 0 or self.remaining < n:
            raise MalformedError("truncated")
        out = self.data[self.offset : self.offset + n]
        self.offset += n
        return out

    def uint(self, width: int) -> int:
        return int.from_bytes(self.take(width), "big")


def u8(value: int) -> bytes:
    return value.to_bytes(1, "big")


def u16(value: int) -> bytes:
    return value.to_bytes(2, "big")


def u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


def u64(value: int) -> bytes:
    return value.to_bytes(8, "big")
