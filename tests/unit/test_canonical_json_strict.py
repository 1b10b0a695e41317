"""parse_canonical_json takes a shortcut (format.md §6.6): the bytes settle depth and
true/false, and a number re-encodes as a string so the comparison refuses it. Here its
every outcome, value or error class, is compared with the plain definition: parse, walk
every value, re-encode, compare."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault_core import errors
from vault_core.encoding import JSON_MAX_DEPTH, canonical_json, parse_canonical_json


class _Num:
    pass


def _not_json(constant: str) -> Any:
    raise ValueError(constant)


def reference(data: bytes) -> Any:
    """The definition, slowly: any number, true, false or nesting is found by walking."""
    try:
        obj = json.loads(
            data.decode("utf-8"),
            parse_constant=_not_json,
            parse_int=lambda _t: _Num(),
            parse_float=lambda _t: _Num(),
        )
        again = json.dumps(
            obj,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            default=lambda v: 0 if isinstance(v, _Num) else None,
        ).encode("utf-8")
    except (UnicodeError, ValueError, RecursionError):
        raise errors.MalformedError from None
    deepest, scalar, pending = 0, False, [(obj, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, bool | int | float | _Num):
            scalar = True
        elif isinstance(value, dict | list):
            deepest = max(deepest, depth + 1)
            children = value.values() if isinstance(value, dict) else value
            pending.extend((child, depth + 1) for child in children)
    if deepest > JSON_MAX_DEPTH:
        raise errors.MalformedError
    if scalar or again != data:
        raise errors.NonCanonicalError
    return obj


def outcome(parse: Any, data: bytes) -> tuple[str, Any]:
    try:
        return "ok", parse(data)
    except errors.NonCanonicalError:
        return "non_canonical", None
    except errors.MalformedError:
        return "malformed", None


def nested(depth: int, inner: str) -> bytes:
    return ("[" * (depth - 1) + inner + "]" * (depth - 1)).encode()


CASES = [
    b'{"a":0}',  # a number that re-encodes as itself under a "0" stand-in
    b'{"a":[0,"x"]}',
    b'{"a":-1.5e3}',
    b'{"a":true}',
    b'{"a":false}',
    b'{"a":null}',
    b'{"a":"true false [[[[[[[[[[[[[[[[[[{{{{"}',  # all only inside a string
    b'{"a":"x","a":"y"}',
    b'{"b":"1","a":"2"}',
    b'{"a": "1"}',
    b' {"a":"1"}',  # white space around the value: not read by the scanner alone
    b'{"a":"1"} ',
    b'{"a":"1"}x',
    b"",
    b"\xef\xbb\xbf{}",
    b'{"a":NaN}',
    b'{"a":"\\ud800"}',
    b'{"a":"\\u00e9"}',
    '{"a":"\u00e9"}'.encode(),
    b'{"a":' + b"9" * 5000 + b"}",
    b"[]",
    b'""',
    b"null",
    b"0",
    b"true",
    nested(JSON_MAX_DEPTH, "[]"),
    nested(JSON_MAX_DEPTH + 1, "[]"),
    nested(JSON_MAX_DEPTH + 1, "[0]"),  # too deep before non-canonical
    nested(JSON_MAX_DEPTH, "[0]"),
    nested(JSON_MAX_DEPTH, '["true"]'),
    nested(JSON_MAX_DEPTH + 1, '["x"]'),
    nested(2000, "[]"),
]


@pytest.mark.parametrize("data", CASES)
def test_the_shortcut_agrees_with_the_definition(data: bytes) -> None:
    assert outcome(parse_canonical_json, data) == outcome(reference, data)


def test_numbers_and_literals_are_refused() -> None:
    for data in (b'{"a":0}', b'["x",1]', b'{"a":true}', b'{"a":false}'):
        with pytest.raises(errors.NonCanonicalError):
            parse_canonical_json(data)


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.sampled_from('ab"\\[]{}tru efals0é\x00\u2028'), max_size=12),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(alphabet="abtrue[{", max_size=4), inner, max_size=3)
    ),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(VALUES, st.booleans())
def test_random_documents_agree_with_the_definition(value: Any, canonical: bool) -> None:
    data = (
        canonical_json(value)
        if canonical
        else json.dumps(value, ensure_ascii=canonical).encode("utf-8")
    )
    assert outcome(parse_canonical_json, data) == outcome(reference, data)
