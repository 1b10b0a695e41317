"""/api/vault: the caller's own vault (the account comes from the token only).

Read and write are the hot paths (targets in docs/architecture.md): the token is checked on
the event loop, then one thread-pool hop does the revocation check and the
database work together. A save and a restore are the same write (`_write`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from ..deps import DB, WebOrMachine, dpop_claims, principal, spend_proof, state_of
from ..encoding import b64url_encode
from ..errors import AUTH_ERRORS, errors
from ..schemas import (
    AuditHeadOut,
    VaultOut,
    VaultPut,
    VaultRestore,
    VaultWritten,
    VersionBlobOut,
    VersionOut,
)
from ..services import vault
from ..services.token_families import touch

router = APIRouter(prefix="/api/vault", tags=["vault"], responses=AUTH_ERRORS)
_READERS = frozenset({"web", "machine"})
_OWNER = frozenset({"web"})


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


@router.get("", response_model=VaultOut, responses=errors(404))
async def read_vault(request: Request) -> Response:
    """The current vault blob and its revision (web and machine tokens)."""
    st = state_of(request)
    bound = dpop_claims(request, st, _READERS)
    claims = bound.claims

    def work() -> bytes:
        spend_proof(st, bound.proof)
        with st.read_engine.connect() as conn:
            body, stale = vault.read_for(conn, claims)
        if stale:  # the agent's check-in: "last seen" moves (at most once a minute)
            with st.sessions() as db:
                touch(db, claims.client_id)
        return body

    return _json(await run_in_threadpool(work))


async def _write(
    request: Request, kinds: frozenset[str], body: VaultPut, restored_from: int | None = None
) -> Response:
    """Every vault write, save or restore: the client's write limit, then the conditional
    write, in one thread-pool hop."""
    st = state_of(request)
    bound = dpop_claims(request, st, kinds)
    claims = bound.claims
    blob = vault.decode_blob(body.blob, st.settings.max_vault_bytes, "vault")
    retention = vault.Retention.of(st.settings)

    def work() -> bytes:
        spend_proof(st, bound.proof)
        who = principal(claims, request)
        with st.sessions() as db:  # write() itself refuses a revoked client
            # Counted (and committed) before anything is written: a limited write changes
            # nothing, so nothing is lost.
            st.limiter.hit(
                db,
                f"write:{claims.client_id}",
                st.settings.rate_vault_writes_per_client,
                window=st.settings.rate_vault_write_window_seconds,
            )
            w = vault.write(
                db,
                who.actor,
                who.client_id,
                body.base_revision,
                blob,
                retention,
                base_sha256=body.base_sha256,
                restored_from=restored_from,
            )
        out = VaultWritten(
            vault_id=w.vault_id,
            revision=w.revision,
            size=len(blob),
            updated_at=w.updated_at,
            sha256=w.sha256,
            audit_head=AuditHeadOut(seq=w.audit_head[0], hash=w.audit_head[1]),
        )
        return out.model_dump_json().encode()

    return _json(await run_in_threadpool(work))


@router.put("", response_model=VaultWritten, responses=errors(409, 507))
async def write_vault(body: VaultPut, request: Request) -> Response:
    """Stores a new revision if base_revision is still current; 409 otherwise."""
    return await _write(request, _READERS, body)


@router.get("/history", response_model=list[VersionOut])
def list_history(
    who: WebOrMachine,
    db: DB,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> list[VersionOut]:
    """The kept revisions, newest first, `limit` at a time: pass the last one's revision as
    `before` for the next page."""
    return [
        VersionOut(revision=v.revision, size=v.size, created_at=v.created_at)
        for v in vault.history(db, who.account_id, limit, before)
    ]


@router.get("/history/{revision}", response_model=VersionBlobOut, responses=errors(404))
def read_version(
    revision: Annotated[int, Path(ge=1, le=2**63 - 1)], who: WebOrMachine, db: DB
) -> VersionBlobOut:
    """One kept revision's blob, for the client to decrypt and re-save or to read the audit
    anchor it sealed (web and machine tokens)."""
    v = vault.version(db, who.account_id, revision)
    return VersionBlobOut(
        revision=v.revision, size=v.size, created_at=v.created_at, blob=b64url_encode(v.blob)
    )


@router.post("/restore", response_model=VaultWritten, responses=errors(404, 409, 507))
async def restore(body: VaultRestore, request: Request) -> Response:
    """Records a restore: the client re-sealed from_revision's items as base_revision + 1."""
    return await _write(request, _OWNER, body, restored_from=body.from_revision)
