"""The leak scanner finds a planted secret in every form it claims to search."""

from __future__ import annotations

import base64
import json
import random
import urllib.parse

import pytest

from tests.support.leaks import Hit, forms, scan, table

SECRET = "ghp_Zx9/é+token=="


def encodings(secret: str, padding: bytes) -> dict[str, bytes]:
    raw = secret.encode()
    return {
        "raw": padding + raw,
        "hex": padding.hex().encode() + raw.hex().encode(),
        "base64": base64.b64encode(padding + raw + padding),
        "base64url": base64.urlsafe_b64encode(padding + raw + padding),
        "url-encoded": b"q=" + urllib.parse.quote(secret).encode(),
        "utf-16": b"\xff\xfe" + secret.encode("utf-16-le"),
        "json": json.dumps({"v": secret}).encode(),
    }


@pytest.mark.parametrize("padding", [b"", b"x", b"xy", b"xyz"])
def test_a_planted_secret_is_found_in_every_form(padding: bytes) -> None:
    artefacts = encodings(SECRET, padding)
    hits = {(h.artefact, h.form) for h in scan(artefacts, {"token": SECRET})}
    for name in artefacts:
        assert any(artefact == name for artefact, _ in hits), name


def test_absent_secrets_are_not_reported() -> None:
    artefacts = encodings("something else entirely", b"pad")
    assert scan(artefacts, {"token": SECRET}) == []
    assert "0" in table(artefacts, {"token": SECRET})


def test_bytes_secrets_get_binary_forms_only() -> None:
    assert set(forms(bytes(range(32)))) == {"raw", "hex", "base64", "base64url", "url-encoded"}


def every_variant_searched(
    artefacts: dict[str, bytes], secrets: dict[str, str | bytes]
) -> list[Hit]:
    """The scan as it was, one `in` per variant and artefact: the reference the one-pass
    search must agree with exactly."""
    hits = []
    for secret_name, secret in secrets.items():
        for form_name, variants in forms(secret).items():
            for artefact_name, data in artefacts.items():
                if any(variant in data for variant in variants):
                    hits.append(Hit(artefact_name, secret_name, form_name))
    return hits


def planted(seed: int) -> tuple[dict[str, bytes], dict[str, str | bytes]]:
    """Secrets of many lengths (1 to 70 bytes), text and binary. For each offset modulo 8
    and each k, an artefact of noise (binary, hex, base64, words) holding the k-th variant
    of every form of every secret once, starting at that offset: a form is found there
    only if that one variant at that one alignment is. Then near misses (every variant of
    the longer secrets with one byte changed, one cut off by the artefact's end), an empty
    artefact and one shorter than a word."""
    rng = random.Random(seed)
    alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 /+=%é"\\\n€'
    secrets: dict[str, str | bytes] = {}
    for length in [*range(1, 41), 48, 64, 70]:
        secrets[f"text {length}"] = "".join(rng.choice(alphabet) for _ in range(length))
        secrets[f"bytes {length}"] = rng.randbytes(length)
    noise = [
        lambda n: rng.randbytes(n),
        lambda n: rng.randbytes(n // 2 + 1).hex().encode()[:n],
        lambda n: base64.b64encode(rng.randbytes(n))[:n],
        lambda n: " ".join(rng.choice(["the", "vault", "%20", "=="]) for _ in range(n)).encode()[
            :n
        ],
    ]
    variants = {name: list(forms(secret).values()) for name, secret in secrets.items()}

    def place(pieces: list[bytes], variant: bytes, shift: int) -> None:
        at = sum(map(len, pieces))
        pieces.append(rng.choice(noise)((shift - at) % 8 + 8 * rng.randrange(3)))
        pieces.append(variant)

    artefacts: dict[str, bytes] = {"empty": b"", "short": b"abc"}
    for shift in range(8):
        for k in range(6):
            pieces: list[bytes] = []
            for of_secret in variants.values():
                for of_form in of_secret:
                    if k < len(of_form):
                        place(pieces, of_form[k], shift)
            artefacts[f"variant {k} at offset {shift} mod 8"] = b"".join(pieces)
    pieces = []
    for name, of_secret in variants.items():
        for variant in (v for of_form in of_secret for v in of_form):
            if len(secrets[name]) >= 20:
                miss = bytearray(variant)
                miss[rng.randrange(len(miss))] ^= 0x01
                place(pieces, bytes(miss), rng.randrange(8))
    pieces.append(variants["bytes 70"][1][0][:-1])  # hex, cut off by the end
    artefacts["near misses"] = b"".join(pieces)
    return artefacts, secrets


@pytest.mark.parametrize("seed", range(3))
def test_the_one_pass_search_finds_exactly_what_searching_each_variant_finds(seed: int) -> None:
    artefacts, secrets = planted(seed)
    expected = every_variant_searched(artefacts, secrets)
    assert scan(artefacts, secrets) == expected
    # Both short (always searched with `in`) and long variants were found, and the near
    # misses were not: the comparison is not of two empty lists.
    lengths = {len(str(secrets[h.secret])) for h in expected}
    assert min(lengths) < 8 and max(lengths) > 60
    assert len({h.form for h in expected}) == 7
    # (UTF-16: a little-endian form after a zero byte holds the big-endian one, so a near
    # miss of one may still be a hit of the other.)
    missed = {h.secret for h in expected if h.artefact == "near misses" and h.form != "utf-16"}
    assert not {name for name in missed if len(secrets[name]) >= 20}
