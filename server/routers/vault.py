"""/api/vault: the caller's own vault (the account comes from the token only).

Read and write are the hot paths (targets in docs/architecture.md): the token is checked on
the event loop, then one thread-pool hop does the revocation check and the
database work together.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.concurrency import run_in_threadpool

from ..deps import DB, State, Web, dpop_claims, principal, spend_proof, state_of
from ..encoding import b64url_encode
from ..errors import AUTH_ERRORS, errors
from ..schemas import VaultOut, VaultPut, VaultRestore, VaultWritten, VersionBlobOut, VersionOut
from ..services import vault
from ..services.sessions import touch

router = APIRouter(prefix="/api/vault", tags=["vault"], responses=AUTH_ERRORS)
_READERS = frozenset({"web", "machine"})


def _written(w: vault.Written, size: int) -> VaultWritten:
    return VaultWritten(
        vault_id=w.vault_id,
        revision=w.revision,
        size=size,
        updated_at=w.updated_at,
        sha256=w.sha256,
    )


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


@router.put("", response_model=VaultWritten, responses=errors(409))
async def write_vault(body: VaultPut, request: Request) -> Response:
    """Stores a new revision if base_revision is still current; 409 otherwise."""
    st = state_of(request)
    bound = dpop_claims(request, st, _READERS)
    claims = bound.claims
    blob = vault.decode_blob(body.blob, st.settings.max_vault_bytes, "vault")

    def work() -> bytes:
        spend_proof(st, bound.proof)
        who = principal(claims, request)
        with st.sessions() as db:  # write() itself refuses a revoked client
            w = vault.write(
                db,
                who.actor,
                who.client_id,
                body.base_revision,
                blob,
                st.settings.vault_history,
                base_sha256=body.base_sha256,
            )
        return _written(w, len(blob)).model_dump_json().encode()

    return _json(await run_in_threadpool(work))


@router.get("/history", response_model=list[VersionOut])
def list_history(who: Web, db: DB) -> list[VersionOut]:
    """The kept revisions, newest first."""
    return [
        VersionOut(revision=v.revision, size=v.size, created_at=v.created_at)
        for v in vault.history(db, who.account_id)
    ]


@router.get("/history/{revision}", response_model=VersionBlobOut, responses=errors(404))
def read_version(
    revision: Annotated[int, Path(ge=1, le=2**63 - 1)], who: Web, db: DB
) -> VersionBlobOut:
    """One kept revision's blob, for the client to decrypt and re-save."""
    v = vault.version(db, who.account_id, revision)
    return VersionBlobOut(
        revision=v.revision, size=v.size, created_at=v.created_at, blob=b64url_encode(v.blob)
    )


@router.post("/restore", response_model=VaultWritten, responses=errors(404, 409))
def restore(body: VaultRestore, who: Web, db: DB, st: State) -> VaultWritten:
    """Records a restore: the client re-sealed from_revision's items as base_revision + 1."""
    vault.version(db, who.account_id, body.from_revision)
    blob = vault.decode_blob(body.blob, st.settings.max_vault_bytes, "vault")
    w = vault.write(
        db,
        who.actor,
        who.client_id,
        body.base_revision,
        blob,
        st.settings.vault_history,
        base_sha256=body.base_sha256,
        restored_from=body.from_revision,
    )
    return _written(w, len(blob))
