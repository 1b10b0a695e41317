"""One strict base64url, used by the server, the CLI and the web worker."""

from __future__ import annotations

from pathlib import Path

import pytest

import native.api
import server.encoding
import vault_web.worker_vault
from vault_core import errors
from vault_core.b64url import Base64UrlError, b64url_decode, b64url_encode

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xff\xfe", bytes(range(256))])
def test_round_trip(data: bytes) -> None:
    text = b64url_encode(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert b64url_decode(text) == data


@pytest.mark.parametrize(
    "text",
    [
        "AA==",  # padding
        "AA=",
        " AA",  # whitespace
        "AA\n",
        "+/8",  # the standard alphabet
        "A",  # a length no byte string has
        "AB",  # non-zero bits after the last whole byte (AA is the canonical text)
        "AAB",
        "ÀA",  # not ASCII
    ],
)
def test_anything_but_the_canonical_text_is_refused(text: str) -> None:
    with pytest.raises(Base64UrlError) as refused:
        b64url_decode(text)
    assert isinstance(refused.value, errors.MalformedError) and isinstance(
        refused.value, ValueError
    )
    assert refused.value.code == "malformed"


def test_a_non_string_is_refused() -> None:
    with pytest.raises(Base64UrlError):
        b64url_decode(b"AA")  # type: ignore[arg-type]


def test_server_cli_and_web_worker_use_this_one_implementation() -> None:
    assert server.encoding.b64url_decode is b64url_decode
    assert server.encoding.b64url_encode is b64url_encode
    assert server.encoding.EncodingError is Base64UrlError
    assert native.api.b64url_decode is b64url_decode
    assert native.api.b64url_encode is b64url_encode
    worker = vars(vault_web.worker_vault)
    assert (worker["b64d"], worker["b64e"]) == (b64url_decode, b64url_encode)
