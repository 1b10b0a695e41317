"""/api/pairings: machines and runners ask; the signed-in owner approves by code."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ..deps import DB, State, Web, proven, source_address
from ..errors import AUTH_ERRORS, errors
from ..models import Pairing
from ..schemas import (
    CodeIn,
    PairingApprove,
    PairingCreate,
    PairingCreated,
    PairingInfo,
    PairingPoll,
    PairingStatus,
)
from ..services import pairing

router = APIRouter(prefix="/api/pairings", tags=["pairing"])


def _info(p: Pairing) -> PairingInfo:
    return PairingInfo(
        pairing_id=p.id,
        kind=p.kind,
        name=p.name,
        public_key=p.public_key,
        created_at=p.created_at,
        expires_at=p.expires_at,
    )


@router.post("", status_code=201, response_model=PairingCreated, responses=errors(401, 503))
def request_pairing(body: PairingCreate, request: Request, db: DB, st: State) -> PairingCreated:
    """With a DPoP proof only: a machine or runner asks to be paired and gets a code to
    show. The proof's key is the one it must prove from then on."""
    source = source_address(request)
    st.limiter.hit(db, f"pair:{source}", st.settings.rate_pairing_create_per_ip)
    jkt = proven(request, db, st).jkt
    created = pairing.create(db, st.settings, body.kind, body.name, body.public_key, source, jkt)
    p = created.pairing
    return PairingCreated(
        pairing_id=p.id,
        code=created.code,
        url=f"{st.settings.public_url}/pair#code={created.code}",
        poll_secret=created.poll_secret,
        expires_at=p.expires_at,
        poll_interval_seconds=2,
    )


@router.post(
    "/poll",
    response_model=PairingStatus,
    response_model_exclude_none=True,
    responses=errors(401, 404, 410),
)
def poll(body: PairingPoll, request: Request, db: DB, st: State) -> PairingStatus:
    """With the poll secret and a proof by the key that asked: pending, refused,
    expired, or (once) the machine's credentials."""
    source = source_address(request)
    st.limiter.hit(db, f"poll:{source}", st.settings.rate_pairing_poll_per_ip)
    jkt = proven(request, db, st).jkt
    r = pairing.poll(db, st.settings, st.keys, body.pairing_id, body.poll_secret, source, jkt)
    return PairingStatus(
        status=r.status,
        kind=r.kind,
        client_id=r.client_id,
        account_id=r.account_id,
        access_token=r.access_token,
        expires_in=r.expires_in,
        refresh_token=r.refresh_token,
        runner_credential=r.runner_credential,
        grant_public_key=r.grant_public_key,
        name=r.name,
    )


@router.post("/lookup", response_model=PairingInfo, responses={**AUTH_ERRORS, **errors(404)})
def lookup(body: CodeIn, who: Web, db: DB, st: State) -> PairingInfo:
    """Shows the machine behind a code (name, fingerprint) before the owner decides."""
    return _info(pairing.lookup(db, st.limiter, st.settings, who.account_id, body.code))


@router.post("/approve", response_model=PairingInfo, responses={**AUTH_ERRORS, **errors(404)})
def approve(body: PairingApprove, who: Web, db: DB, st: State) -> PairingInfo:
    """Approves the pending pairing with this code for the caller's account."""
    return _info(
        pairing.decide(
            db,
            st.limiter,
            st.settings,
            who.actor,
            body.code,
            approve=True,
            name=body.name,
            grant_public_key=body.grant_public_key,
        )
    )


@router.post("/refuse", response_model=PairingInfo, responses={**AUTH_ERRORS, **errors(404)})
def refuse(body: CodeIn, who: Web, db: DB, st: State) -> PairingInfo:
    """Refuses the pending pairing with this code."""
    return _info(pairing.decide(db, st.limiter, st.settings, who.actor, body.code, approve=False))
