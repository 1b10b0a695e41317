"""/api/identity and /api/accounts/lookup: public identity bundles, and finding whom to
invite by email (rate-limited per account)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from ..deps import DB, State, WebOrMachine
from ..encoding import EncodingError, b64url_decode, b64url_encode
from ..errors import AUTH_ERRORS, ApiError, errors
from ..services import identities
from ..teamschemas import Email, IdentityOut, IdentityPut, LookupOut

router = APIRouter(prefix="/api", tags=["teams"], responses=AUTH_ERRORS)


def _out(p: identities.Published) -> IdentityOut:
    return IdentityOut(
        account_id=p.account_id,
        bundle=b64url_encode(p.bundle),
        created_at=p.created_at,
        changed_at=p.changed_at,
    )


def decode(text: str, what: str) -> bytes:
    try:
        return b64url_decode(text)
    except EncodingError:
        raise ApiError(422, "invalid_request", f"the {what} is not base64url") from None


@router.put("/identity", response_model=IdentityOut, responses=errors(422))
def publish(body: IdentityPut, who: WebOrMachine, db: DB) -> IdentityOut:
    """Publishes the caller's own identity bundle (self-signed, naming the caller). A new
    one replacing another is audited and sets changed_at."""
    return _out(identities.publish(db, who.actor, decode(body.bundle, "bundle")))


@router.get("/identity/{account_id}", response_model=IdentityOut, responses=errors(404))
def read(account_id: uuid.UUID, _: WebOrMachine, db: DB) -> IdentityOut:
    """Anyone's published identity bundle: verify it, and its safety number, yourself."""
    return _out(identities.get(db, account_id))


@router.get("/accounts/lookup", response_model=LookupOut, responses=errors(404, 409, 429))
def lookup(email: Annotated[Email, Query()], who: WebOrMachine, db: DB, st: State) -> LookupOut:
    """The one account with this email (to invite it), and its identity bundle if any."""
    st.limiter.hit(db, f"lookup:{who.account_id}", st.settings.rate_lookup_per_account)
    found = identities.by_email(db, email)
    return LookupOut(
        account_id=found.account_id,
        email=found.email,
        name=found.name,
        identity=b64url_encode(found.bundle) if found.bundle is not None else None,
    )
