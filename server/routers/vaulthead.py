"""GET /api/vault/head: a long poll that answers as soon as the vault's revision differs
from the caller's, or its client is revoked (docs/server.md, "Watching the vault").

Every instance polls the database (one indexed statement per tick), so an agent waiting
on one instance sees a write or a revocation made through any other: nothing in one
process's memory is needed for it to be right.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from ..deps import dpop_claims, spend_proof, state_of
from ..errors import AUTH_ERRORS, ApiError
from ..services import vaulthead
from ..services.sessions import seen_long_ago, touch

router = APIRouter(prefix="/api/vault", tags=["vault"], responses=AUTH_ERRORS)
_READERS = frozenset({"web", "machine"})
MAX_WAIT = 30.0  # below common load balancer idle timeouts (60 s)
TICK = 1.0  # how often a waiting request asks the database


class VaultHead(BaseModel):
    revision: int


@router.get("/head", response_model=VaultHead)
async def vault_head(
    request: Request,
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT)] = 0.0,
) -> VaultHead:
    """The current revision. With ``after`` and ``wait``: waits up to ``wait`` seconds
    for a revision other than ``after``; 401 as soon as the client is revoked."""
    st = state_of(request)
    bound = dpop_claims(request, st, _READERS)
    claims = bound.claims
    # Never past the token's own expiry: a revocation check needs a live token.
    deadline = time.monotonic() + min(wait, max(0.0, claims.expires_at - time.time()))

    def ask() -> vaulthead.Head:
        with st.read_engine.connect() as conn:
            current = vaulthead.head(conn, claims.client_id)
        if current.revoked_at is not None or current.account_id != claims.account_id:
            # Unknown, revoked, or moved: the typed answer clients wipe on (docs/server.md).
            raise ApiError(401, "revoked", "this client has been revoked")
        return current

    def check_in() -> vaulthead.Head:
        """The first ask; an agent's watch is its check-in, so "last seen" moves."""
        spend_proof(st, bound.proof)
        current = ask()
        if seen_long_ago(current.last_seen_at):
            with st.sessions() as db:
                touch(db, claims.client_id)
        return current

    current = await run_in_threadpool(check_in)
    while True:
        left = deadline - time.monotonic()
        if after is None or current.revision != after or left <= 0:
            return VaultHead(revision=current.revision)
        if await request.is_disconnected():  # the agent went away: stop asking for it
            return VaultHead(revision=current.revision)
        await asyncio.sleep(min(TICK, left))
        current = await run_in_threadpool(ask)
