"""The leak scanner finds a planted secret in every form it claims to search."""

from __future__ import annotations

import base64
import json
import urllib.parse

import pytest

from tests.support.leaks import forms, scan, table

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
