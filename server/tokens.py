"""EdDSA (Ed25519) access tokens: compact JWS we sign and verify ourselves.

Each token is bound to its client's DPoP key (`cnf.jkt`, RFC 9449): deps.py checks the
proof. Only alg=EdDSA with a known kid is accepted, so `alg: none`, HMAC confusion
and foreign keys are refused before any signature check.

Instances' clocks may differ by up to `skew` seconds: `nbf` and `iat` may lie that
far in the future and `exp` that far in the past (docs/operations.md).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .encoding import EncodingError, b64url_decode, b64url_encode

AUDIENCES = {"web": "zkvault:web", "machine": "zkvault:machine", "runner": "zkvault:runner"}
_MAX_TOKEN_LEN = 4096
_CACHE_SIZE = 20_000  # verified tokens remembered (bounded; cleared when full)


class TokenError(Exception):
    """The token is malformed, forged, expired or for another audience."""


class UnknownSigningKey(TokenError):
    """Signed by a key this instance does not (yet) hold: during a rotation that skipped
    the verify-only phase, a token minted elsewhere. Not a verdict on the client."""


class TokenExpired(TokenError):
    """Past its exp (or before its nbf/iat), beyond the tolerated clock skew."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    account_id: uuid.UUID
    client_id: uuid.UUID
    kind: str
    expires_at: int
    jkt: str  # the DPoP key it is bound to (cnf.jkt): every use must prove it


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private: Ed25519PrivateKey
    public: Ed25519PublicKey

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r})"


def load_key(seed_b64url: str) -> SigningKey:
    seed = b64url_decode(seed_b64url)
    if len(seed) != 32:
        raise ValueError("an Ed25519 signing key is a 32-byte seed")
    private = Ed25519PrivateKey.from_private_bytes(seed)
    public = private.public_key()
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return SigningKey(b64url_encode(hashlib.sha256(raw).digest()[:12]), private, public)


class KeyRing:
    """The first signing key signs; every key, verify-only ones too, verifies and is
    published in the JWKS (a rotation publishes the next key before it signs)."""

    def __init__(
        self,
        seeds: list[str],
        issuer: str,
        ttl_seconds: int,
        *,
        verify_only: Sequence[str] = (),
        skew_seconds: int = 0,
    ) -> None:
        if not seeds:
            raise ValueError("at least one signing key is required")
        self._keys = [load_key(s) for s in seeds]
        known = {k.kid for k in self._keys}
        self._keys += [k for k in map(load_key, verify_only) if k.kid not in known]
        self._by_kid = {k.kid: k for k in self._keys}
        self._verified: dict[str, Any] = {}
        self.issuer = issuer
        self.ttl = ttl_seconds
        self.skew = skew_seconds
        header = {"alg": "EdDSA", "typ": "at+jwt", "kid": self._keys[0].kid}
        self._header_b64 = b64url_encode(_json(header))

    def jwks(self) -> dict[str, Any]:
        return {
            "keys": [
                {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "use": "sig",
                    "alg": "EdDSA",
                    "kid": k.kid,
                    "x": b64url_encode(k.public.public_bytes(Encoding.Raw, PublicFormat.Raw)),
                }
                for k in self._keys
            ]
        }

    def issue(
        self, account_id: uuid.UUID, client_id: uuid.UUID, kind: str, jkt: str
    ) -> tuple[str, int]:
        now = int(time.time())
        claims = {
            "cnf": {"jkt": jkt},
            "iss": self.issuer,
            "sub": str(account_id),
            "aud": AUDIENCES[kind],
            "sid": str(client_id),
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl,
            "jti": uuid.uuid4().hex,
        }
        signing_input = self._header_b64 + "." + b64url_encode(_json(claims))
        signature = self._keys[0].private.sign(signing_input.encode("ascii"))
        return signing_input + "." + b64url_encode(signature), self.ttl

    def verify(self, token: str, kinds: frozenset[str]) -> AccessClaims:
        # A token whose signature already verified needs no second Ed25519 check;
        # expiry and audience are checked on every use all the same.
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify_signature(token)
            if len(self._verified) >= _CACHE_SIZE:
                self._verified.clear()
            self._verified[token] = claims
        return self._check_claims(claims, kinds)

    def _verify_signature(self, token: str) -> Any:
        if len(token) > _MAX_TOKEN_LEN or token.count(".") != 2:
            raise TokenError("malformed token")
        header_b64, payload_b64, sig_b64 = token.split(".")
        try:
            header = json.loads(b64url_decode(header_b64))
            signature = b64url_decode(sig_b64)
        except (EncodingError, ValueError) as exc:
            raise TokenError("malformed token") from exc
        if not isinstance(header, dict) or header.get("alg") != "EdDSA":
            raise TokenError("unsupported token algorithm")
        kid = header.get("kid")
        if not isinstance(kid, str):  # a list kid is unhashable
            raise TokenError("malformed token")
        key = self._by_kid.get(kid)
        if key is None:
            raise UnknownSigningKey("this server does not hold the token's signing key")
        try:
            key.public.verify(signature, f"{header_b64}.{payload_b64}".encode("ascii"))
        except (InvalidSignature, UnicodeEncodeError) as exc:
            raise TokenError("bad token signature") from exc
        try:
            return json.loads(b64url_decode(payload_b64))
        except (EncodingError, ValueError) as exc:
            raise TokenError("malformed token") from exc

    def _check_claims(self, claims: Any, kinds: frozenset[str]) -> AccessClaims:
        if not isinstance(claims, dict) or claims.get("iss") != self.issuer:
            raise TokenError("token from another issuer")
        now = int(time.time())
        exp, nbf, iat = claims.get("exp"), claims.get("nbf", 0), claims.get("iat", 0)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (exp, nbf, iat)):
            raise TokenError("malformed token")
        assert isinstance(exp, int) and isinstance(nbf, int) and isinstance(iat, int)
        if exp + self.skew <= now:
            raise TokenExpired("token expired")
        if max(nbf, iat) > now + self.skew:
            raise TokenExpired("token not valid yet (clock skew beyond the tolerated bound)")
        kind = next((k for k in kinds if AUDIENCES[k] == claims.get("aud")), None)
        if kind is None:
            raise TokenError("token for another audience")
        cnf = claims.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        if not isinstance(jkt, str) or not jkt:
            raise TokenError("the token is bound to no key (cnf.jkt)")
        try:
            return AccessClaims(
                uuid.UUID(str(claims["sub"])), uuid.UUID(str(claims["sid"])), kind, exp, jkt
            )
        except (KeyError, ValueError) as exc:
            raise TokenError("malformed token") from exc


def _json(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode("utf-8")
