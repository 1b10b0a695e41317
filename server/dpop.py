"""DPoP proofs (RFC 9449): the request was signed by the key a token is bound to.

A stolen access token, refresh token, runner credential, poll secret or browser cookie
is useless without the private key that made the proof, which never leaves its client.
Checking a proof is pure (no I/O); remembering its `jti` so it is accepted once is the
caller's job (`server.proofs`), since it needs the database shared by every instance.
docs/server.md, "Proof of possession".
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256

from .encoding import EncodingError, b64url_decode, b64url_encode

# A proof is made just before its request; this long after `iat` (plus clock skew) it is
# refused. Short, because a proof travels with its request and could be copied from it.
PROOF_LIFETIME_SECONDS = 60
_MAX_PROOF_LEN = 2048
_MIN_JTI, _MAX_JTI = 16, 128
_PUBLIC_MEMBERS = {
    "OKP": {"kty", "crv", "x"},
    "EC": {"kty", "crv", "x", "y"},
}
_OPTIONAL_MEMBERS = {"alg", "use", "kid", "key_ops", "ext"}


class ProofError(Exception):
    """The DPoP proof is missing, malformed, forged, stale or for another request.

    `code` is the typed error a client sees (docs/server.md)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Proof:
    jkt: str  # RFC 7638 thumbprint of the key that signed it
    jti: str
    iat: int


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 over the required members, sorted, no whitespace."""
    required = {k: jwk[k] for k in sorted(_PUBLIC_MEMBERS[jwk["kty"]])}
    text = json.dumps(required, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(text.encode("utf-8")).digest())


def access_token_hash(token: str) -> str:
    """The `ath` claim: base64url(SHA-256(access token))."""
    return b64url_encode(hashlib.sha256(token.encode("ascii")).digest())


def _invalid(message: str) -> ProofError:
    return ProofError("dpop_invalid", message)


def _b64(text: object, size: int | None = None) -> bytes:
    if not isinstance(text, str):
        raise _invalid("malformed DPoP proof")
    try:
        raw = b64url_decode(text)
    except EncodingError:
        raise _invalid("malformed DPoP proof") from None
    if size is not None and len(raw) != size:
        raise _invalid("malformed DPoP key")
    return raw


def _verify_signature(alg: str, jwk: dict[str, Any], signature: bytes, data: bytes) -> None:
    members = set(jwk) - _OPTIONAL_MEMBERS
    kty = jwk.get("kty")
    # Only the public members: a jwk carrying "d" (or anything else) is refused.
    if kty not in _PUBLIC_MEMBERS or members != _PUBLIC_MEMBERS[kty]:
        raise _invalid("the DPoP key must be a public Ed25519 or P-256 JWK")
    try:
        if alg == "EdDSA" and kty == "OKP" and jwk.get("crv") == "Ed25519":
            Ed25519PublicKey.from_public_bytes(_b64(jwk["x"], 32)).verify(signature, data)
            return
        if alg == "ES256" and kty == "EC" and jwk.get("crv") == "P-256":
            if len(signature) != 64:
                raise _invalid("bad DPoP proof signature")
            x, y = (int.from_bytes(_b64(jwk[c], 32), "big") for c in ("x", "y"))
            key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(SHA256()))
            return
    except (InvalidSignature, ValueError):
        raise _invalid("bad DPoP proof signature") from None
    raise _invalid("the DPoP key does not match the proof's algorithm")


def verify(
    proof: str | None,
    *,
    method: str,
    url: str,
    access_token: str | None,
    skew_seconds: int,
    now: float | None = None,
) -> Proof:
    """Checks one proof for one request. `url` is the server's own public URL plus the
    request path (never the Host header). Raises ProofError."""
    if not proof:
        raise ProofError("dpop_required", "a DPoP proof header is required")
    if len(proof) > _MAX_PROOF_LEN or proof.count(".") != 2:
        raise _invalid("malformed DPoP proof")
    header_b64, payload_b64, sig_b64 = proof.split(".")
    try:
        header = json.loads(_b64(header_b64))
        claims = json.loads(_b64(payload_b64))
    except ValueError:
        raise _invalid("malformed DPoP proof") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise _invalid("malformed DPoP proof")
    alg, jwk = header.get("alg"), header.get("jwk")
    if header.get("typ") != "dpop+jwt" or alg not in ("EdDSA", "ES256"):
        raise _invalid("a DPoP proof is typ dpop+jwt, alg EdDSA or ES256")
    if not isinstance(jwk, dict):
        raise _invalid("the DPoP proof carries no key")
    try:
        signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    except UnicodeEncodeError:
        raise _invalid("malformed DPoP proof") from None
    _verify_signature(str(alg), jwk, _b64(sig_b64), signing_input)
    jti, iat = claims.get("jti"), claims.get("iat")
    if not isinstance(jti, str) or not _MIN_JTI <= len(jti) <= _MAX_JTI:
        raise _invalid("the DPoP proof needs a random jti")
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise _invalid("the DPoP proof needs an integer iat")
    if claims.get("htm") != method or claims.get("htu") != url:
        raise _invalid("the DPoP proof was made for another request")
    current = time.time() if now is None else now
    if not current - skew_seconds - PROOF_LIFETIME_SECONDS <= iat <= current + skew_seconds:
        raise _invalid("the DPoP proof is stale or from a clock too far off")
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise _invalid("the DPoP proof was made for another access token")
    return Proof(thumbprint(jwk), jti, iat)
