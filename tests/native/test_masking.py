"""Masker: secrets never leave, whatever the read boundaries."""

from __future__ import annotations

import base64
import itertools
from urllib.parse import quote, quote_plus

from hypothesis import given, settings
from hypothesis import strategies as st

from native.masking import MASK, Masker, encoded_forms

SECRETS = [b"ghp_abcdef123456", b"tok-XYZ", b"tok-XYZ-longer"]


def _through(masker: Masker, chunks: list[bytes]) -> bytes:
    return b"".join(masker.feed(c) for c in chunks) + masker.flush()


def test_split_secret_is_masked() -> None:
    masker = Masker(SECRETS)
    assert _through(masker, [b"token: ghp_abc", b"def12", b"3456\n"]) == b"token: " + MASK + b"\n"


def test_longest_secret_wins() -> None:
    assert _through(Masker(SECRETS), [b"a tok-XYZ-longer b tok-XYZ c"]) == (
        b"a " + MASK + b" b " + MASK + b" c"
    )


def test_prefix_is_held_only_while_it_could_be_a_secret() -> None:
    masker = Masker(SECRETS)
    assert masker.feed(b"hello ghp_ab") == b"hello "
    assert masker.feed(b"X") == b"ghp_abX"  # no longer a possible secret: released
    assert masker.feed(b"plain\n") == b"plain\n"  # nothing held back without cause


def test_truncated_secret_at_end_is_flushed() -> None:
    assert _through(Masker(SECRETS), [b"ghp_abc"]) == b"ghp_abc"


fillers = st.binary(max_size=40).map(lambda b: b.replace(b"g", b"").replace(b"t", b""))


@settings(derandomize=True, max_examples=300, deadline=None)
@given(
    parts=st.lists(st.tuples(fillers, st.sampled_from(SECRETS)), max_size=6),
    tail=fillers,
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
)
def test_any_chunking_masks_every_occurrence(
    parts: list[tuple[bytes, bytes]], tail: bytes, cuts: list[int]
) -> None:
    text = b"".join(f + s for f, s in parts) + tail
    expected = b"".join(f + MASK for f, _ in parts) + tail
    bounds = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    chunks = [text[a:b] for a, b in itertools.pairwise(bounds)]
    out = _through(Masker(SECRETS), chunks)
    assert out == expected
    for secret in SECRETS:
        assert secret not in out


def test_short_secret_that_a_longer_one_extends() -> None:
    masker = Masker(SECRETS)
    assert masker.feed(b"x tok-XYZ") == b"x "  # could still become tok-XYZ-longer
    assert masker.feed(b"-long") == b""
    assert masker.feed(b"er!") == MASK + b"!"
    assert _through(Masker(SECRETS), [b"tok-XYZ"]) == MASK  # decided at end of stream
    assert _through(Masker(SECRETS), [b"tok-XYZ-lo", b"ng"]) == MASK + b"-long"


@settings(max_examples=200, deadline=None)
@given(
    secret=st.binary(min_size=8, max_size=64),
    before=st.binary(max_size=8),
    after=st.binary(max_size=8),
    urlsafe=st.booleans(),
)
def test_base64_of_a_secret_inside_longer_data_is_masked(
    secret: bytes, before: bytes, after: bytes, urlsafe: bool
) -> None:
    """Whatever its alignment, at most the characters that mix in neighbouring bytes
    (two bytes' worth at either end) survive; the secret's own core does not."""
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    printed = encode(before + secret + after)
    masked = _through(Masker(encoded_forms(secret)), [printed])
    assert MASK in masked
    skip = -len(before) % 3
    core = encode(secret[skip : skip + (len(secret) - skip) // 3 * 3])
    assert core not in masked


def test_percent_encoded_secret_is_masked() -> None:
    secret = b"p@ss/w rd&x=1"
    for printed in (quote(secret, safe=""), quote_plus(secret, safe="")):
        assert _through(Masker(encoded_forms(secret)), [printed.encode()]) == MASK
