"""Settings from ZKVAULT_* environment variables and an optional .env file."""

from __future__ import annotations

import ipaddress
from functools import cached_property
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Published on purpose: it signs tokens only in development mode, and the
# server refuses to start with it anywhere else.
DEV_SIGNING_KEY = "ZGV2ZWxvcG1lbnQtb25seS1rZXktZG8tbm90LXVzZS0"
# Likewise published: keys refresh successors and pairing-code hashes in development only.
DEV_TOKEN_SECRET = "ZGV2ZWxvcG1lbnQtb25seS10b2tlbi1zZWNyZXQtZG8tbm90LXVzZQ"  # noqa: S105
DEV_OIDC_CLIENT_SECRET = "zkvault-dev-secret"  # noqa: S105 - the dev IdP accepts any secret


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ZKVAULT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Literal["development", "production"] = "production"
    public_url: str = "http://127.0.0.1:8000"
    database_url: str = "sqlite:///var/zkvault.sqlite3"
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    # A database that accepts connections but never answers must not hang requests (and
    # /readyz) forever: connecting, waiting for a pooled connection and (PostgreSQL) any
    # one statement give up after these.
    db_connect_timeout_seconds: int = Field(default=5, ge=1, le=120)
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    db_statement_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    readiness_timeout_seconds: float = Field(default=3.0, gt=0, le=60)

    # Long polls (GET /api/vault/head) waiting at once, per worker process: per client,
    # per account and in all. A poll over a cap answers at once with the current revision
    # and Retry-After (docs/server.md, "Watching the vault").
    head_waits_per_client: int = Field(default=2, ge=0, le=10_000)
    head_waits_per_account: int = Field(default=32, ge=0, le=100_000)
    head_waits_total: int = Field(default=4096, ge=0, le=100_000)
    # How often the shared watcher re-reads every waiter's head: on SQLite this is how
    # writes are seen; on PostgreSQL (which notifies) it only bounds a missed notification.
    head_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    head_recheck_seconds: float = Field(default=5.0, gt=0, le=60)
    # Where the PostgreSQL watcher LISTENs, when DATABASE_URL goes through a pooler in
    # transaction mode (PgBouncer), which does not deliver notifications: a direct URL.
    head_listen_url: SecretStr | None = None

    # Ed25519 seeds, base64url (32 bytes). The first signs; all verify and are
    # published. verify_only_keys are published and verify but never sign: the first
    # phase of a rotation (docs/operations.md).
    signing_keys: list[SecretStr] = Field(default_factory=lambda: [SecretStr(DEV_SIGNING_KEY)])
    verify_only_keys: list[SecretStr] = Field(default_factory=list)
    # Secrets of their own (not the signing seeds) that key refresh successors and
    # pairing-code hashes. The first keys new ones; all are tried, so a rotation strands
    # neither a pending pairing nor a retried refresh (docs/operations.md).
    token_secrets: list[SecretStr] = Field(
        default_factory=lambda: [SecretStr(DEV_TOKEN_SECRET)], min_length=1
    )
    # Clocks (instances', and clients' for DPoP proofs) may differ this much: tokens'
    # nbf/iat may be that far ahead of the verifier's clock and exp that far behind it.
    max_clock_skew_seconds: int = Field(default=90, ge=0, le=600)
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=3600)
    # Gone: a retried refresh is now recognised by its DPoP key, at any time, so there is
    # no window left to configure. Refused if still set, so nobody relies on it.
    refresh_grace_seconds: int | None = None
    web_refresh_ttl_seconds: int = Field(default=14 * 86400, ge=300)
    machine_refresh_ttl_seconds: int = Field(default=90 * 86400, ge=300)

    oidc_issuer: str = "http://127.0.0.1:9400"
    oidc_client_id: str = "zkvault-dev"
    oidc_client_secret: SecretStr = SecretStr(DEV_OIDC_CLIENT_SECRET)
    oidc_scopes: str = "openid email profile"
    # "oidc": discovery + id_token. "oauth2": plain OAuth 2 with a userinfo
    # endpoint (GitHub); the three URLs below must then be set.
    oidc_mode: Literal["oidc", "oauth2"] = "oidc"
    oauth2_authorize_url: str = ""
    oauth2_token_url: str = ""
    oauth2_userinfo_url: str = ""
    oauth2_subject_claim: str = "sub"
    oidc_http_timeout_seconds: float = 10.0

    cookie_secure: bool = True
    # History: every revision younger than vault_history_days is kept, and at least the
    # newest vault_history whatever their age. A write that would grow an account's kept
    # history past vault_history_max_bytes is refused (507): history is never dropped
    # to make room (docs/server.md, "History").
    vault_history: int = Field(default=10, ge=1, le=1000)
    vault_history_days: int = Field(default=30, ge=0, le=3650)
    vault_history_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024 * 1024)
    max_vault_bytes: int = 1024 * 1024
    max_grant_bytes: int = 1024 * 1024
    pairing_ttl_seconds: int = Field(default=600, ge=60, le=3600)

    # Rate limits: count per window, kept in the database (shared by instances).
    rate_window_seconds: int = Field(default=600, ge=1)
    rate_signin_per_ip: int = 60
    rate_refresh_per_ip: int = 600
    rate_pairing_create_per_ip: int = 30
    rate_pairing_poll_per_ip: int = 1200
    rate_code_attempts_per_account: int = 20
    rate_code_attempts_global: int = 10_000
    max_pending_pairings: int = 10_000
    # Account lookups by email (to invite someone), per account: enough for a person
    # inviting a team, too few to walk a list of guessed addresses.
    rate_lookup_per_account: int = Field(default=60, ge=1)
    # Teams created per account: each brings its own kept history (up to
    # vault_history_max_bytes), so one account cannot make storage without bound.
    rate_team_creates_per_account: int = Field(default=20, ge=1)
    # Vault writes (saves and restores) per client, in a window of their own (a minute).
    rate_vault_writes_per_client: int = Field(default=30, ge=1)
    rate_vault_write_window_seconds: int = Field(default=60, ge=1)

    # /metrics answers only with `Authorization: Bearer <this>`; unset, it does not exist.
    metrics_token: SecretStr | None = None
    # "auto": JSON lines in production, plain text in development.
    log_format: Literal["auto", "plain", "json"] = "auto"

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(default=1, ge=1, le=64)
    forwarded_allow_ips: str = "127.0.0.1"
    # "debug" is the most verbose: every library logs (SQL statements and rows included).
    # uvicorn's "trace" is not offered: it logs raw query strings (the OIDC code).
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"

    @field_validator("public_url", "oidc_issuer")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("metrics_token")
    @classmethod
    def _empty_is_off(cls, value: SecretStr | None) -> SecretStr | None:
        # `ZKVAULT_METRICS_TOKEN=` must not mean "the empty string is the password".
        if value is None or not value.get_secret_value().strip():
            return None
        return value

    @field_validator("token_secrets")
    @classmethod
    def _long_secrets(cls, value: list[SecretStr]) -> list[SecretStr]:
        if any(len(s.get_secret_value()) < 32 for s in value):
            raise ValueError(
                "each token secret needs at least 32 characters (`zkvault-server generate-key`)"
            )
        return value

    @model_validator(mode="after")
    def _skew_fits(self) -> Settings:
        if self.refresh_grace_seconds is not None:
            raise ValueError(
                "refresh_grace_seconds was removed: a refresh retried with the same DPoP key "
                "gets the same successor at any time (docs/server.md); unset it"
            )
        # An access token is honoured up to exp + skew: with skew as long as its life, a
        # token (and the DPoP proofs' window, 2 x skew) would outlive any revocation story.
        if 2 * self.max_clock_skew_seconds >= self.access_token_ttl_seconds:
            raise ValueError(
                f"max_clock_skew_seconds ({self.max_clock_skew_seconds}) must be below half "
                f"of access_token_ttl_seconds ({self.access_token_ttl_seconds})"
            )
        return self

    @property
    def dev(self) -> bool:
        return self.environment == "development"

    @cached_property
    def public_origin(self) -> str:
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def server_keys(self) -> list[str]:
        """Every configured seed, signing ones first (the first one is the current signer)."""
        seeds = [k.get_secret_value() for k in [*self.signing_keys, *self.verify_only_keys]]
        return list(dict.fromkeys(seeds))

    @property
    def secrets_for_tokens(self) -> list[str]:
        """The token secrets, the current one first."""
        return list(dict.fromkeys(s.get_secret_value() for s in self.token_secrets))

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def development_settings_in_use(self) -> list[str]:
        """Names of settings that are only acceptable in development mode."""
        found = []
        if DEV_SIGNING_KEY in self.server_keys:
            found.append("signing_keys (the published development key)")
        if DEV_TOKEN_SECRET in self.secrets_for_tokens:
            found.append("token_secrets (unset, or the published development secret)")
        if not self.cookie_secure:
            found.append("cookie_secure=false")
        if self.oidc_client_secret.get_secret_value() == DEV_OIDC_CLIENT_SECRET:
            found.append("oidc_client_secret (the development secret)")
        if _is_loopback_http(self.oidc_issuer):
            found.append("oidc_issuer (a plain-HTTP loopback development IdP)")
        if not self.public_url.startswith("https://"):
            found.append("public_url (not https)")
        return found


def _is_loopback_http(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme != "http":
        return False
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class DevelopmentSettingsError(RuntimeError):
    """Production mode was asked to start with development-only settings."""


def check_settings(settings: Settings) -> None:
    if settings.dev:
        return
    found = settings.development_settings_in_use()
    if found:
        raise DevelopmentSettingsError(
            "refusing to start in production with development settings: " + "; ".join(found)
        )
