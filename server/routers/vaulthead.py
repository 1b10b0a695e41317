"""GET /api/vault/head: a long poll that answers as soon as the vault's revision differs
from the caller's, or its client is revoked (docs/server.md, "Watching the vault").

Each request asks the database once (its token's client, and the revision); then it
waits on the instance's one watcher (server/headwatch.py), which serves every waiting
request with one listening connection (PostgreSQL) or one shared re-read (SQLite).
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel

from ..deps import dpop_claims, spend_proof, state_of
from ..errors import AUTH_ERRORS, ApiError
from ..headwatch import Waiter, Woken
from ..middleware import Receive
from ..services import vaulthead
from ..services.token_families import seen_long_ago, touch

router = APIRouter(prefix="/api/vault", tags=["vault"], responses=AUTH_ERRORS)
_READERS = frozenset({"web", "machine"})
MAX_WAIT = 30.0  # below common load balancer idle timeouts (60 s)
# Told to a poll refused a place in the queue (a cap is reached): ask again after this.
RETRY_AFTER = 10


class VaultHead(BaseModel):
    revision: int


@router.get("/head", response_model=VaultHead)
async def vault_head(
    request: Request,
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT)] = 0.0,
) -> Response:
    """The current revision. With ``after`` and ``wait``: waits up to ``wait`` seconds
    for a revision other than ``after``; 401 as soon as the client is revoked."""
    st = state_of(request)
    bound = dpop_claims(request, st, _READERS)
    claims = bound.claims
    # Never past the token's own expiry: a revocation check needs a live token.
    deadline = time.monotonic() + min(wait, max(0.0, claims.expires_at - time.time()))

    def check_in() -> vaulthead.Head:
        """An agent's watch is its check-in, so "last seen" moves."""
        spend_proof(st, bound.proof)
        with st.read_engine.connect() as conn:
            current = vaulthead.head(conn, claims.client_id)
        if current.revoked_at is not None or current.account_id != claims.account_id:
            # Unknown, revoked, or moved: the typed answer clients wipe on (docs/server.md).
            raise ApiError(401, "revoked", "this client has been revoked")
        if seen_long_ago(current.last_seen_at):
            with st.sessions() as db:
                touch(db, claims.client_id)
        return current

    if after is None or deadline <= time.monotonic():
        return _answer((await run_in_threadpool(check_in)).revision)
    # A place in the queue before the first read: a write committed in between still
    # wakes it (the watcher compares with ``after``).
    waiter = st.watcher.register(claims.client_id, claims.account_id, after)
    try:
        current = await run_in_threadpool(check_in)
        if current.revision != after:
            return _answer(current.revision)
        if waiter is None:  # over a cap, or the server is stopping: answer now
            return _answer(current.revision, retry_after=RETRY_AFTER)
        waiter.parked = True
        woken = await _wait(waiter, deadline - time.monotonic(), request.receive)
    finally:
        if waiter is not None:
            st.watcher.unregister(waiter)
    if woken is not None and woken.revoked:
        raise ApiError(401, "revoked", "this client has been revoked")
    if woken is not None and woken.revision is not None:
        return _answer(woken.revision)
    return _answer(current.revision)  # the wait ended, or the server is stopping


def _answer(revision: int, retry_after: int | None = None) -> Response:
    """Built by hand: a write may wake a thousand of these at once."""
    headers = {"Cache-Control": "no-store"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    body = b'{"revision":%d}' % revision
    return Response(body, media_type="application/json", headers=headers)


async def _wait(waiter: Waiter, seconds: float, receive: Receive) -> Woken | None:
    """The watcher's answer, or None when the time is up or the caller went away (then
    nobody reads the answer, and its place in the queue is freed at once)."""
    gone: asyncio.Future[None] = asyncio.ensure_future(_disconnected(receive))
    either: set[asyncio.Future[Woken] | asyncio.Future[None]] = {waiter.future, gone}
    try:
        await asyncio.wait(either, timeout=max(seconds, 0.0), return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    return waiter.future.result() if waiter.future.done() else None


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
