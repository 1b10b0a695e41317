"""Request dependencies: database session, caller identity, rate-limit keys."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import dpop, proofs
from .audit import Actor
from .errors import ApiError
from .models import Client
from .services.token_families import check_live, seen_long_ago, touch
from .state import AppState
from .tokens import AccessClaims, TokenError, TokenExpired, UnknownSigningKey


async def app_state(request: Request) -> AppState:
    # async: FastAPI would run a plain def in the thread pool, a needless hop.
    return state_of(request)


def state_of(request: Request) -> AppState:
    state = request.app.state.zk
    assert isinstance(state, AppState)
    return state


def get_db(request: Request) -> Iterator[Session]:
    session = state_of(request).sessions()
    try:
        yield session
    finally:
        session.close()  # rolls back anything not committed


def source_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: uuid.UUID
    client_id: uuid.UUID
    kind: str  # web | machine | runner
    source: str

    @property
    def actor(self) -> Actor:
        kind = "account" if self.kind == "web" else self.kind
        ident = str(self.account_id) if self.kind == "web" else str(self.client_id)
        return Actor(kind, ident, self.account_id, self.source)


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message)


def _token_refused(exc: TokenError) -> ApiError:
    # Distinct codes, so a client wipes nothing unless told "revoked" (docs/server.md).
    if isinstance(exc, UnknownSigningKey):
        return ApiError(401, "unknown_signing_key", str(exc))
    if isinstance(exc, TokenExpired):
        return ApiError(401, "token_expired", str(exc))
    return _unauthorized(str(exc))


def _proof_refused(exc: dpop.ProofError) -> ApiError:
    return ApiError(401, exc.code, str(exc))


def check_proof(request: Request, state: AppState, access_token: str | None) -> dpop.Proof:
    """The request's DPoP proof, checked against this request (method, the configured
    public URL plus the path, never the Host header) and `access_token`: no I/O. Its
    jti is not spent yet (spend_proof)."""
    sent = request.headers.getlist("dpop")
    if len(sent) > 1:  # RFC 9449 §4.3: exactly one proof
        raise ApiError(401, "dpop_invalid", "send exactly one DPoP proof")
    try:
        return dpop.verify(
            sent[0] if sent else None,
            method=request.method,
            url=state.settings.public_url + request.url.path,
            access_token=access_token,
            skew_seconds=state.settings.max_clock_skew_seconds,
        )
    except dpop.ProofError as exc:
        raise _proof_refused(exc) from None


def spend_proof(state: AppState, proof: dpop.Proof, db: Session | None = None) -> None:
    """Accepts the proof's jti once across instances (blocking I/O: call it off the event
    loop). PostgreSQL: one autocommit statement. SQLite: on `db` if given (committing it),
    so the request never waits for a write lock its own session holds."""
    skew = state.settings.max_clock_skew_seconds
    try:
        if db is None or not state.settings.is_sqlite:
            proofs.spend_now(state.read_engine, proof, skew)
        else:
            proofs.spend(db.connection(), proof, skew)
            db.commit()
    except dpop.ProofError as exc:
        if db is not None and state.settings.is_sqlite:
            db.rollback()
        raise _proof_refused(exc) from None


def proven(request: Request, db: Session, state: AppState) -> dpop.Proof:
    """A request without an access token (pairing, sign-in, refresh): its proof, checked
    and spent. The key it proves is what the caller binds or compares."""
    proof = check_proof(request, state, None)
    spend_proof(state, proof, db)
    return proof


@dataclass(frozen=True, slots=True)
class Bound:
    """An access token whose DPoP proof matched: the proof still has to be spent."""

    claims: AccessClaims
    proof: dpop.Proof


def dpop_claims(request: Request, state: AppState, kinds: frozenset[str]) -> Bound:
    """`Authorization: DPoP <token>` plus a `DPoP` proof by the key the token is bound to
    (signature, issuer, audience, expiry, proof): no I/O. `Bearer` is refused."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "dpop" or not token:
        raise ApiError(401, "dpop_required", "send Authorization: DPoP <token> with a DPoP proof")
    try:
        claims = state.keys.verify(token, kinds)
    except TokenError as exc:
        raise _token_refused(exc) from None
    proof = check_proof(request, state, token)
    if proof.jkt != claims.jkt:
        raise ApiError(401, "dpop_key_mismatch", "the DPoP proof is not by the token's key")
    return Bound(claims, proof)


def principal(claims: AccessClaims, request: Request) -> Principal:
    return Principal(claims.account_id, claims.client_id, claims.kind, source_address(request))


def _authenticate(request: Request, db: Session, kinds: frozenset[str]) -> Principal:
    st = state_of(request)
    bound = dpop_claims(request, st, kinds)
    spend_proof(st, bound.proof, db)
    claims = bound.claims
    row = db.execute(
        select(Client.account_id, Client.revoked_at, Client.last_seen_at).where(
            Client.id == claims.client_id
        )
    ).one_or_none()
    check_live(claims, row.account_id if row else None, row.revoked_at if row else None)
    if seen_long_ago(row.last_seen_at if row else None):
        touch(db, claims.client_id)
    return principal(claims, request)


def require(*kinds: str) -> object:
    allowed = frozenset(kinds)

    def dependency(request: Request, db: Annotated[Session, Depends(get_db)]) -> Principal:
        return _authenticate(request, db, allowed)

    return Depends(dependency)


DB = Annotated[Session, Depends(get_db)]
State = Annotated[AppState, Depends(app_state)]
Web = Annotated[Principal, require("web")]
WebOrMachine = Annotated[Principal, require("web", "machine")]
Runner = Annotated[Principal, require("runner")]
AnyClient = Annotated[Principal, require("web", "machine", "runner")]
