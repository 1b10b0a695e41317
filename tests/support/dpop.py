"""DPoP (RFC 9449) for tests that call the API directly, as the real clients do.

Written apart from the server's own code (server/dpop.py) on purpose: a shared mistake
would pass unnoticed. ``DpopKey`` holds a key pair and makes proofs; ``key.auth(token)``
is an httpx ``auth=`` callable (httpx and httpx2 alike) that signs each request it is
given, so the proof always names that request's method and URL. A thief in a test is a
request made with someone else's token and ``other_key.auth(token)``, or with no auth.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, overload

import httpx
import httpx2
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


class _Request(Protocol):
    method: str
    url: Any
    headers: Any


class DpopKey:
    """A client's proof-of-possession key: Ed25519 (machines, runners) or P-256 (browsers)."""

    def __init__(
        self, alg: str = "EdDSA", seed: bytes | None = None, clock_offset: float = 0.0
    ) -> None:
        self.alg = alg
        # Added to this process's clock for a proof's iat: a server on a faked clock is
        # proven to in its own time, as real clients do after a dpop_invalid.
        self.clock_offset = clock_offset
        if alg == "EdDSA":
            self._ed = (
                Ed25519PrivateKey.from_private_bytes(seed) if seed else Ed25519PrivateKey.generate()
            )
            raw = self._ed.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            self.jwk: dict[str, str] = {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
        elif alg == "ES256":
            self._ec = ec.generate_private_key(ec.SECP256R1())
            numbers = self._ec.public_key().public_numbers()
            self.jwk = {
                "kty": "EC",
                "crv": "P-256",
                "x": b64(numbers.x.to_bytes(32, "big")),
                "y": b64(numbers.y.to_bytes(32, "big")),
            }
        else:
            raise ValueError(alg)

    @property
    def jkt(self) -> str:
        """RFC 7638 thumbprint."""
        return b64(hashlib.sha256(_json(self.jwk)).digest())

    def sign(self, data: bytes) -> bytes:
        if self.alg == "EdDSA":
            return self._ed.sign(data)
        r, s = decode_dss_signature(self._ec.sign(data, ec.ECDSA(SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def proof(
        self,
        method: str,
        url: str,
        access_token: str | None = None,
        *,
        iat: int | None = None,
        jti: str | None = None,
        header: dict[str, Any] | None = None,
        claims: dict[str, Any] | None = None,
    ) -> str:
        """A compact JWS proof for one request; keyword arguments forge its parts."""
        head = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.jwk, **(header or {})}
        body: dict[str, Any] = {
            "jti": jti or secrets.token_urlsafe(16),
            "htm": method,
            "htu": url.split("?", 1)[0].split("#", 1)[0],
            "iat": int(time.time() + self.clock_offset) if iat is None else iat,
        }
        if access_token is not None:
            body["ath"] = b64(hashlib.sha256(access_token.encode()).digest())
        body |= claims or {}
        signing_input = b64(_json(head)) + "." + b64(_json(body))
        return signing_input + "." + b64(self.sign(signing_input.encode()))

    def auth(self, token: str | None = None, public_url: str | None = None) -> DpopAuth:
        """``public_url``: the URL the proof names when the request goes to one instance
        directly, behind the deployment's public URL (the server checks that one)."""
        return DpopAuth(self, token, public_url)

    def headers(self, method: str, url: str, token: str | None = None) -> dict[str, str]:
        """The headers of one request, for clients that cannot take ``auth=``."""
        out = {"DPoP": self.proof(method, url, token)}
        if token is not None:
            out["Authorization"] = f"DPoP {token}"
        return out


def server_clock_offset(url: str) -> float:
    """How far a server's clock is from this process's, read from its Date header (the
    way the real clients learn it): for a ``DpopKey`` talking to a server on a faked clock."""
    answer = httpx.get(f"{url}/healthz")
    return parsedate_to_datetime(answer.headers["date"]).timestamp() - time.time()


class DpopAuth:
    """httpx/httpx2 ``auth=``: a fresh proof for each request (and the token, if any)."""

    def __init__(self, key: DpopKey, token: str | None, public_url: str | None = None) -> None:
        self.key = key
        self.token = token
        self.public_url = public_url

    @overload
    def __call__(self, request: httpx.Request) -> httpx.Request: ...

    @overload
    def __call__(self, request: httpx2.Request) -> httpx2.Request: ...

    def __call__(self, request: _Request) -> _Request:
        url = str(request.url).split("?", 1)[0]
        if self.public_url is not None:
            url = self.public_url.rstrip("/") + request.url.path
        request.headers["DPoP"] = self.key.proof(request.method, url, self.token)
        if self.token is not None:
            request.headers["Authorization"] = f"DPoP {self.token}"
        return request
