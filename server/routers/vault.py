"""/api/vault: the caller's own vault (the account comes from the token only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from ..deps import DB, State, Web, WebOrMachine
from ..encoding import b64url_encode
from ..errors import AUTH_ERRORS, errors
from ..schemas import VaultOut, VaultPut, VaultRestore, VaultWritten, VersionBlobOut, VersionOut
from ..services import vault

router = APIRouter(prefix="/api/vault", tags=["vault"], responses=AUTH_ERRORS)


@router.get("", response_model=VaultOut, responses=errors(404))
def read_vault(who: WebOrMachine, db: DB) -> VaultOut:
    """The current vault blob and its revision."""
    cur = vault.read(db, who.account_id)
    return VaultOut(
        vault_id=cur.vault_id,
        revision=cur.revision,
        size=cur.size,
        updated_at=cur.updated_at,
        blob=b64url_encode(cur.blob),
    )


@router.put("", response_model=VaultWritten, responses=errors(409))
def write_vault(body: VaultPut, who: WebOrMachine, db: DB, st: State) -> VaultWritten:
    """Stores a new revision if base_revision is still current; 409 otherwise."""
    blob = vault.decode_blob(body.blob, st.settings.max_vault_bytes, "vault")
    vault_id, rev, at = vault.write(
        db, who.actor, body.base_revision, blob, st.settings.vault_history
    )
    return VaultWritten(vault_id=vault_id, revision=rev, size=len(blob), updated_at=at)


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
    vault_id, rev, at = vault.write(
        db,
        who.actor,
        body.base_revision,
        blob,
        st.settings.vault_history,
        restored_from=body.from_revision,
    )
    return VaultWritten(vault_id=vault_id, revision=rev, size=len(blob), updated_at=at)
