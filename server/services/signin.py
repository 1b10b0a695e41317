"""Browser sign-in and the token endpoints' work: OIDC login bound to a DPoP key,
the callback that makes a web session, refresh, logout, and machine and runner grants.

The browser's key is bound at the very start: the login row keeps the thumbprint of the
key that asked, and the web session the callback creates is bound to it, so the refresh
cookie alone (stolen from the jar) refreshes nothing.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .. import audit
from ..audit import Actor
from ..credentials import digest
from ..db import utcnow
from ..models import Client, OidcLogin, RefreshToken
from ..oidc import OidcClient, SignInError
from ..settings import Settings
from ..tokens import KeyRing
from . import accounts, token_families
from .errors import NotAuthenticated, SignInRefused

LOGIN_TTL = timedelta(seconds=600)


@dataclass(frozen=True, slots=True)
class LoginStarted:
    url: str  # the provider's authorization URL
    state: str  # also set as the login cookie: the callback must come back to this browser


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    expires_in: int
    account_id: uuid.UUID
    refresh_token: str | None = None


def start(db: Session, oidc: OidcClient, jkt: str) -> LoginStarted:
    """A login in flight (PKCE, state, nonce) for the browser key `jkt` (commits).
    SignInError if the provider cannot be reached."""
    state, nonce, verifier = (
        secrets.token_urlsafe(32),
        secrets.token_urlsafe(32),
        secrets.token_urlsafe(48),
    )
    url = oidc.authorization_url(state, nonce, verifier)
    now = utcnow()
    db.add(
        OidcLogin(
            state_hash=digest(state),
            nonce=nonce,
            code_verifier=verifier,
            dpop_jkt=jkt,
            created_at=now,
            expires_at=now + LOGIN_TTL,
        )
    )
    db.execute(delete(OidcLogin).where(OidcLogin.expires_at < now))
    db.commit()
    return LoginStarted(url, state)


def finish(
    db: Session,
    oidc: OidcClient,
    settings: Settings,
    *,
    code: str | None,
    state: str | None,
    cookie_state: str,
    idp_error: str | None,
    source: str,
) -> str:
    """The provider's redirect back: checks state (against this browser's login cookie),
    code and identity, then makes a web session bound to the login's key. Returns its
    first refresh token (commits). SignInRefused, audited, otherwise."""

    def fail(code_: str, message: str) -> SignInRefused:
        db.rollback()
        audit.record(
            db,
            Actor("anonymous", "", None, source),
            "session",
            "sign-in",
            "account",
            outcome="failure",
            detail=code_,
        )
        db.commit()
        return SignInRefused(code_, message)

    if idp_error is not None:
        raise fail("idp_refused", "the identity provider refused the sign-in")
    if not code or not state or not hmac.compare_digest(cookie_state.encode(), state.encode()):
        raise fail("state_mismatch", "the sign-in was not started in this browser")
    login = db.scalars(select(OidcLogin).where(OidcLogin.state_hash == digest(state))).one_or_none()
    if login is None or login.expires_at <= utcnow() or not login.dpop_jkt:
        raise fail("state_expired", "the sign-in expired or was already completed")
    nonce, verifier, jkt = login.nonce, login.code_verifier, login.dpop_jkt
    db.delete(login)  # single use
    db.commit()
    try:
        who = oidc.exchange(code, verifier, nonce)
    except SignInError as exc:
        raise fail("signin_failed", str(exc)) from None
    account = accounts.upsert(db, who)
    client = token_families.create_client(db, account.id, "web", "browser", dpop_jkt=jkt)
    refresh = token_families.issue_refresh(db, client, settings)
    audit.record(
        db,
        Actor("account", str(account.id), account.id, source),
        "session",
        "sign-in",
        f"account:{account.id}",
        detail=f"client {client.id}",
    )
    db.commit()
    return refresh


def refresh(
    db: Session,
    keys: KeyRing,
    settings: Settings,
    kind: str,
    token: str,
    source: str,
    jkt: str | None,
) -> Tokens:
    """Spends a browser's refresh cookie or a machine's refresh token (`kind`), proven by
    the key `jkt` (None: no proof), for its successor and an access token bound to the
    same key (commits)."""
    issued = token_families.rotate(db, token, frozenset({kind}), settings, source, jkt)
    client = issued.client
    assert client.dpop_jkt is not None  # rotate() refuses a client without a key
    access, ttl = keys.issue(client.account_id, client.id, kind, client.dpop_jkt)
    return Tokens(access, ttl, client.account_id, issued.refresh_token)


def runner_token(db: Session, keys: KeyRing, credential: str, source: str, jkt: str) -> Tokens:
    runner = token_families.exchange_runner_credential(db, credential, source, jkt)
    access, ttl = keys.issue(runner.account_id, runner.id, "runner", jkt)
    return Tokens(access, ttl, runner.account_id)


def logout(db: Session, token: str, source: str, jkt: str) -> None:
    """Ends the browser session behind this refresh cookie, if `jkt` is its key."""
    found = (
        db.execute(
            select(Client)
            .join(RefreshToken, RefreshToken.client_id == Client.id)
            .where(RefreshToken.token_hash == digest(token), Client.kind == "web")
        ).scalar_one_or_none()
        if token
        else None
    )
    if found is None:
        return
    if found.dpop_jkt != jkt:
        raise NotAuthenticated("dpop_key_mismatch", "the DPoP proof is not by this session's key")
    actor = Actor("account", str(found.account_id), found.account_id, source)
    token_families.revoke_family(db, found, actor, "session")
