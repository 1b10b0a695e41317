"""KnownFormatMasker (``run --mask-known``): tokens of a published format never leave,
whatever the read boundaries, and the result equals masking the whole stream at once."""

from __future__ import annotations

import itertools
import random
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from native.masking import MASK, KnownFormatMasker, Masker
from tests.unit.token_format_checks import samples
from vault_core.token_formats import find_tokens

TOKENS = [token.encode() for _name, token in samples(5)]
VAULT = [b"vault-secret-value"]


def _through(masker: KnownFormatMasker, chunks: list[bytes]) -> bytes:
    return b"".join(masker.feed(c) for c in chunks) + masker.flush()


def _whole(text: bytes) -> bytes:
    """Masking the whole stream at once: the vault's values, then every known token."""
    inner = Masker(VAULT)
    text = inner.feed(text) + inner.flush()
    out, i = [], 0
    for start, end, _name in find_tokens(text):
        out += [text[i:start], MASK]
        i = end
    return b"".join([*out, text[i:]])


def test_every_format_split_at_every_byte_is_masked() -> None:
    for token in TOKENS:
        text = b"export T=" + token + b"\nnext line\n"
        for cut in range(1, len(text)):
            out = _through(KnownFormatMasker(Masker(VAULT)), [text[:cut], text[cut:]])
            assert out == b"export T=" + MASK + b"\nnext line\n", (token[:6], cut)


def test_byte_by_byte() -> None:
    text = b"a " + b" b ".join(TOKENS) + b" vault-secret-value z"
    out = _through(KnownFormatMasker(Masker(VAULT)), [bytes([c]) for c in text])
    assert out == b"a " + b" b ".join([MASK] * len(TOKENS)) + b" " + MASK + b" z"


def test_only_a_possible_start_is_held_back() -> None:
    masker = KnownFormatMasker(Masker([]))
    assert masker.feed(b"Password: ") == b"Password: "  # a prompt is not delayed
    assert masker.feed(b"building foo") == b"building foo"  # "foo" begins no format
    assert masker.feed(b" ghp_abc") == b" "  # could still become a token
    assert masker.feed(b"!") == b"ghp_abc!"  # no longer: released
    token = TOKENS[0]
    assert masker.feed(b"T: " + token) == b"T: "  # complete, but a longer one could follow
    assert masker.feed(b"\n") == MASK + b"\n"
    assert masker.flush() == b""


def test_glued_token_is_left_alone_and_unknown_text_passes() -> None:
    token = TOKENS[0]
    text = b"x" + token + b" plain"
    assert _through(KnownFormatMasker(Masker([])), [text]) == text


def test_long_runs_do_not_grow_the_buffer() -> None:
    masker = KnownFormatMasker(Masker([]))
    out = masker.feed(b"g" * 100_000)
    assert len(out) >= 100_000 - 1100  # at most one token's length held back
    assert out + masker.flush() == b"g" * 100_000


fillers = st.text(alphabet=string.ascii_letters + " \n=:/_-.\"'", max_size=30).map(str.encode)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(
    parts=st.lists(st.tuples(fillers, st.sampled_from([*TOKENS, *VAULT])), max_size=5),
    tail=fillers,
    cuts=st.lists(st.integers(min_value=0, max_value=1500), max_size=15),
)
def test_any_chunking_equals_masking_the_whole_stream(
    parts: list[tuple[bytes, bytes]], tail: bytes, cuts: list[int]
) -> None:
    text = b"".join(f + b" " + s + b"\n" for f, s in parts) + tail
    bounds = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    chunks = [text[a:b] for a, b in itertools.pairwise(bounds)]
    out = _through(KnownFormatMasker(Masker(VAULT)), chunks)
    assert out == _whole(text)
    for token in TOKENS:
        assert token not in out


def test_random_noise_with_tokens_at_random_chunkings() -> None:
    rng = random.Random(3)
    alphabet = (string.ascii_letters + string.digits + "_-=. \n").encode()
    for _ in range(40):
        pieces = []
        for _ in range(30):
            pieces.append(bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 50))))
            pieces.append(rng.choice(b" \n").to_bytes(1, "big") + rng.choice(TOKENS))
        text = b"".join(pieces)
        cuts = sorted(rng.sample(range(1, len(text)), 40))
        chunks = [text[a:b] for a, b in itertools.pairwise([0, *cuts, len(text)])]
        assert _through(KnownFormatMasker(Masker(VAULT)), chunks) == _whole(text)
