"""DPoP proofs (RFC 9449) for the native clients: every request proves the client's key.

A stolen refresh token, runner credential, poll secret or access token is useless
without the Ed25519 key that signs these proofs; the key itself never leaves the client.
Machines keep a random key in their encrypted local state (made at `zkvault connect`).
Runners derive theirs from the X25519 seed their credential already holds (never sent to
the server): seed' = SHA-256("zkvault/1 runner-dpop-key" || 0x00 || runner seed), so the
credential string needs no new field. docs/server.md, "Proof of possession".
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import time
from email.utils import parsedate_to_datetime

from nacl.signing import SigningKey

from vault_core.b64url import b64url_encode

_RUNNER_DOMAIN = b"zkvault/1 runner-dpop-key\x00"


def _json(obj: dict[str, object]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


class DpopKey:
    """An Ed25519 proof-of-possession key. Its repr names nothing secret."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("a DPoP key seed is 32 bytes")
        self._key = SigningKey(seed)
        # The server's clock minus ours (s): a proof's iat must fall within the server's
        # tolerated skew of its own clock, whatever this machine's clock says.
        self.offset = 0.0
        x = b64url_encode(bytes(self._key.verify_key))
        self.jwk: dict[str, object] = {"kty": "OKP", "crv": "Ed25519", "x": x}
        self._header = b64url_encode(_json({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": self.jwk}))

    def __repr__(self) -> str:
        return f"<DpopKey {self.thumbprint[:8]}…>"

    @classmethod
    def generate(cls) -> DpopKey:
        return cls(secrets.token_bytes(32))

    @classmethod
    def for_runner(cls, runner_seed: bytes) -> DpopKey:
        """The runner's key, derived from its X25519 seed (domain-separated)."""
        return cls(hashlib.sha256(_RUNNER_DOMAIN + runner_seed).digest())

    @property
    def seed(self) -> bytes:
        return bytes(self._key)

    @property
    def thumbprint(self) -> str:
        """RFC 7638 (jkt): what the server binds tokens to."""
        return b64url_encode(hashlib.sha256(_json(self.jwk)).digest())

    def learn_server_time(self, date_header: str | None) -> None:
        """Adopt the server's clock from the Date header of an answer, if it has one."""
        if not date_header:
            return
        with contextlib.suppress(TypeError, ValueError):
            self.offset = parsedate_to_datetime(date_header).timestamp() - time.time()

    def proof(self, method: str, url: str, access_token: str | None = None) -> str:
        """One request's proof: `url` without query or fragment, as the server's public
        URL plus the path."""
        claims: dict[str, object] = {
            "jti": secrets.token_urlsafe(18),
            "htm": method,
            "htu": url.split("?", 1)[0].split("#", 1)[0],
            "iat": int(time.time() + self.offset),
        }
        if access_token is not None:
            claims["ath"] = b64url_encode(hashlib.sha256(access_token.encode()).digest())
        signing_input = self._header + "." + b64url_encode(_json(claims))
        signature = self._key.sign(signing_input.encode()).signature
        return signing_input + "." + b64url_encode(signature)
