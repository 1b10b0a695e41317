"""Sign-in through any OpenID Connect provider (or plain OAuth 2, for GitHub).

authlib builds the authorization request (PKCE S256, state, nonce) and
exchanges the code; joserfc + authlib's CodeIDToken validate the id_token
(signature against the provider's JWKS, iss, aud, exp, iat, nonce, azp).
With the code flow a provider may send the profile and email claims only from
its UserInfo endpoint (OpenID Connect Core §5.4): when the id_token lacks them,
UserInfo is asked, and its ``sub`` must equal the id_token's.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from .settings import Settings

# httpx, authlib and joserfc (~10-20 MiB per worker) are imported on the first sign-in,
# not at start-up: a worker that only serves the API never needs them.
if TYPE_CHECKING:
    from authlib.integrations.httpx_client import OAuth2Client

_METADATA_TTL = 3600.0


class SignInError(Exception):
    """The provider refused, or what it returned did not validate."""


@dataclass(frozen=True, slots=True)
class Identity:
    issuer: str
    subject: str
    name: str
    email: str


class OidcClient:
    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._jwks: dict[str, Any] | None = None
        self._fetched_at = 0.0

    @property
    def redirect_uri(self) -> str:
        return f"{self.s.public_url}/auth/callback"

    def _client(self) -> OAuth2Client:
        from authlib.integrations.httpx_client import OAuth2Client

        return OAuth2Client(
            client_id=self.s.oidc_client_id,
            client_secret=self.s.oidc_client_secret.get_secret_value(),
            scope=self.s.oidc_scopes,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            timeout=self.s.oidc_http_timeout_seconds,
        )

    def metadata(self, *, force: bool = False) -> dict[str, Any]:
        if self.s.oidc_mode == "oauth2":
            return {
                "issuer": self.s.oidc_issuer,
                "authorization_endpoint": self.s.oauth2_authorize_url,
                "token_endpoint": self.s.oauth2_token_url,
                "userinfo_endpoint": self.s.oauth2_userinfo_url,
            }
        with self._lock:
            fresh = time.monotonic() - self._fetched_at < _METADATA_TTL
            if self._metadata is not None and fresh and not force:
                return self._metadata
        url = f"{self.s.oidc_issuer}/.well-known/openid-configuration"
        import httpx

        try:
            with httpx.Client(timeout=self.s.oidc_http_timeout_seconds) as http:
                meta = http.get(url)
                meta.raise_for_status()
                data = meta.json()
                jwks = http.get(data["jwks_uri"])
                jwks.raise_for_status()
                keys = jwks.json()
        except Exception as exc:
            raise SignInError("the identity provider could not be reached") from exc
        if not isinstance(data, dict) or data.get("issuer") != self.s.oidc_issuer:
            raise SignInError("the provider's discovery document names another issuer")
        with self._lock:
            self._metadata, self._jwks, self._fetched_at = data, keys, time.monotonic()
        return data

    def authorization_url(self, state: str, nonce: str, code_verifier: str) -> str:
        meta = self.metadata()
        extra = {"nonce": nonce} if self.s.oidc_mode == "oidc" else {}
        with self._client() as client:
            url, _ = client.create_authorization_url(
                meta["authorization_endpoint"], state=state, code_verifier=code_verifier, **extra
            )
        return str(url)

    def exchange(self, code: str, code_verifier: str, nonce: str) -> Identity:
        meta = self.metadata()
        try:
            with self._client() as client:
                token = client.fetch_token(
                    meta["token_endpoint"],
                    code=code,
                    code_verifier=code_verifier,
                    headers={"Accept": "application/json"},
                )
                if self.s.oidc_mode == "oauth2":
                    return self._from_userinfo(self._userinfo(client, meta))
                claims = self._id_token_claims(token, nonce)
                if _lacks_profile(claims) and meta.get("userinfo_endpoint"):
                    claims = _merged(claims, self._userinfo(client, meta))
        except SignInError:
            raise
        except Exception as exc:
            raise SignInError("the authorization code was not accepted") from exc
        return _identity(self.s.oidc_issuer, claims, "sub")

    def _userinfo(self, client: OAuth2Client, meta: dict[str, Any]) -> Any:
        try:
            info = client.get(meta["userinfo_endpoint"], headers={"Accept": "application/json"})
            info.raise_for_status()
            return info.json()
        except Exception as exc:
            raise SignInError("the provider's userinfo endpoint failed") from exc

    def _id_token_claims(self, token: dict[str, Any], nonce: str) -> dict[str, Any]:
        from authlib.oidc.core import CodeIDToken
        from joserfc import jwt
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        raw = token.get("id_token")
        if not isinstance(raw, str):
            raise SignInError("the provider returned no id_token")
        meta = self.metadata()
        algs = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
        algs = [a for a in algs if a != "none"]
        try:
            try:
                decoded = jwt.decode(
                    raw, KeySet.import_key_set(cast(Any, self._jwks or {})), algorithms=algs
                )
            except JoseError:
                # Maybe the provider rotated its keys: fetch them once more.
                self.metadata(force=True)
                decoded = jwt.decode(
                    raw, KeySet.import_key_set(cast(Any, self._jwks or {})), algorithms=algs
                )
            claims = CodeIDToken(
                decoded.claims,
                decoded.header,
                {"iss": {"essential": True, "value": self.s.oidc_issuer}},
                {
                    "nonce": nonce,
                    "client_id": self.s.oidc_client_id,
                    "access_token": token.get("access_token"),
                },
            )
            claims.validate(leeway=self.s.max_clock_skew_seconds)
        except SignInError:
            raise
        except Exception as exc:
            raise SignInError("the id_token did not validate") from exc
        # CodeIDToken checks aud only through azp; check it ourselves.
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if self.s.oidc_client_id not in auds:
            raise SignInError("the id_token is for another client")
        if claims.get("nonce") != nonce:
            raise SignInError("the id_token nonce does not match")
        return dict(claims)

    def _from_userinfo(self, info: Any) -> Identity:
        if not isinstance(info, dict):
            raise SignInError("the userinfo response is not an object")
        return _identity(self.s.oidc_issuer, info, self.s.oauth2_subject_claim)


def _lacks_profile(claims: dict[str, Any]) -> bool:
    """No email, or no name of any kind: what the header and /api/me show."""
    return not claims.get("email") or not (claims.get("name") or claims.get("preferred_username"))


def _merged(id_claims: dict[str, Any], info: Any) -> dict[str, Any]:
    """The id_token's claims, completed from UserInfo for the same subject only."""
    if not isinstance(info, dict):
        raise SignInError("the userinfo response is not an object")
    if str(info.get("sub", "")) != str(id_claims.get("sub", "")):
        raise SignInError("the userinfo subject differs from the id_token's")
    return {**info, **{k: v for k, v in id_claims.items() if v not in (None, "")}}


def _identity(issuer: str, claims: dict[str, Any], subject_claim: str) -> Identity:
    subject = claims.get(subject_claim)
    if subject is None or str(subject) == "":
        raise SignInError("the provider returned no subject")
    email = claims.get("email") or ""
    name = claims.get("name") or claims.get("preferred_username") or claims.get("login") or email
    return Identity(issuer, str(subject)[:255], str(name)[:256], str(email)[:320])
