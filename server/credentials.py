"""Secrets the server hands out, and how it recognises them again.

Every issued credential carries a prefix that leak scanners can match; the
server keeps only SHA-256 hashes (they are 256-bit random, so a slow hash
would add nothing). Pairing codes, 50 bits, are kept as keyed hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from .encoding import b64url_encode

REFRESH_PREFIX = "zkv_rt_"
RUNNER_PREFIX = "zkv_runner_"
POLL_PREFIX = "zkv_poll_"

# Crockford base32: no I, L, O, U, so a code survives being read aloud.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 10  # 50 bits; see docs/pairing.md for the guessing bound
_CODE_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_secret(prefix: str) -> str:
    return prefix + b64url_encode(secrets.token_bytes(32))


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def code_digests(code: str, token_secrets: list[str]) -> list[str]:
    """How a pairing code is stored: keyed by a server secret, because 50 bits could be
    searched offline by someone holding a copy of the database while the code is live.
    The key is derived from each token secret (TOKEN_SECRETS, never the signing seeds;
    the first one stores, all are tried, so a rotation does not strand a pending
    pairing)."""
    return [
        hmac.new(
            hmac.new(key.encode(), b"zkvault/1 pairing-code-key", hashlib.sha256).digest(),
            code.encode("utf-8"),
            hashlib.sha256,
        ).hexdigest()
        for key in token_secrets
    ]


def refresh_successors(token: str, token_secrets: list[str]) -> list[str]:
    """The refresh token that replaces `token`, once per token secret (the first is the
    one minted). Derived, not random, so a retried refresh (its response was lost) gets
    the same successor back without the server ever storing it: the database keeps only
    its SHA-256, and deriving it needs both the predecessor (which the database holds
    only as a hash) and a token secret (which the database does not hold).
    docs/server.md."""
    return [
        REFRESH_PREFIX
        + b64url_encode(
            hmac.new(
                hmac.new(key.encode(), b"zkvault/1 refresh-successor-key", hashlib.sha256).digest(),
                token.encode("utf-8"),
                hashlib.sha256,
            ).digest()
        )
        for key in token_secrets
    ]


def same_digest(secret: str, expected_hex: str) -> bool:
    return hmac.compare_digest(digest(secret), expected_hex)


def token_hint(secret: str) -> str:
    """What may be logged about a credential: its prefix and 4 characters."""
    for prefix in (REFRESH_PREFIX, RUNNER_PREFIX, POLL_PREFIX):
        if secret.startswith(prefix):
            return secret[: len(prefix) + 4] + "..."
    return "?"


def new_pairing_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def normalize_code(text: str) -> str | None:
    """Canonical form of what a person typed, or None if it cannot be a code."""
    cleaned = "".join(ch for ch in text.upper() if ch != "-" and not ch.isspace())
    cleaned = cleaned.translate(_CODE_ALIASES)
    if len(cleaned) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in cleaned):
        return None
    return f"{cleaned[:5]}-{cleaned[5:]}"
