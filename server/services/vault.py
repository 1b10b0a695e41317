"""The caller's vault: opaque blob, optimistic concurrency, last N revisions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from .. import audit
from ..audit import Actor
from ..blobheader import HeaderError, peek_header
from ..db import utcnow
from ..encoding import EncodingError, b64url_decode
from ..errors import ApiError
from ..models import Vault, VaultVersion
from ..sqlutil import affected, insert_on_conflict


@dataclass(frozen=True, slots=True)
class Current:
    vault_id: uuid.UUID
    revision: int
    size: int
    updated_at: datetime
    blob: bytes


def read(db: Session, account_id: uuid.UUID) -> Current:
    row = db.execute(
        select(
            Vault.vault_id, Vault.revision, Vault.updated_at, VaultVersion.size, VaultVersion.blob
        )
        .join(
            VaultVersion,
            (VaultVersion.account_id == Vault.account_id)
            & (VaultVersion.revision == Vault.revision),
        )
        .where(Vault.account_id == account_id)
    ).one_or_none()
    if row is None:
        raise ApiError(404, "no_vault", "this account has no vault yet")
    return Current(row.vault_id, row.revision, row.size, row.updated_at, row.blob)


def decode_blob(text: str, limit: int, what: str) -> bytes:
    if len(text) > (limit * 4 + 2) // 3:
        raise ApiError(413, "too_large", f"the {what} exceeds {limit} bytes")
    try:
        blob = b64url_decode(text)
    except EncodingError:
        raise ApiError(422, "invalid_request", f"the {what} is not base64url") from None
    if len(blob) > limit:
        raise ApiError(413, "too_large", f"the {what} exceeds {limit} bytes")
    return blob


def _current_revision(db: Session, account_id: uuid.UUID) -> int:
    rev = db.scalar(select(Vault.revision).where(Vault.account_id == account_id))
    return int(rev or 0)


def _conflict(db: Session, account_id: uuid.UUID) -> ApiError:
    db.rollback()
    current = _current_revision(db, account_id)
    return ApiError(
        409,
        "revision_conflict",
        f"the vault is at revision {current}; reload and retry",
        current_revision=current,
    )


def write(
    db: Session,
    actor: Actor,
    base_revision: int,
    blob: bytes,
    keep: int,
    *,
    restored_from: int | None = None,
) -> tuple[uuid.UUID, int, datetime]:
    """Stores blob as revision base_revision + 1 if base_revision is still current (commits)."""
    assert actor.account_id is not None
    account_id = actor.account_id
    try:
        header = peek_header(blob)
    except HeaderError as exc:
        raise ApiError(422, exc.code, str(exc)) from None
    new = base_revision + 1
    if header.account_id != account_id:
        raise ApiError(422, "wrong_account", "the vault header names another account")
    if header.revision != new:
        raise ApiError(
            422,
            "revision_mismatch",
            f"the vault header says revision {header.revision}, expected {new}",
        )
    now = utcnow()
    if base_revision == 0:
        stmt = (
            insert_on_conflict(db.get_bind().dialect.name, Vault.__table__)
            .values(account_id=account_id, vault_id=header.vault_id, revision=new, updated_at=now)
            .on_conflict_do_nothing(index_elements=["account_id"])
            .returning(Vault.__table__.c.account_id)
        )
        if db.execute(stmt).scalar_one_or_none() is None:
            raise _conflict(db, account_id)
    else:
        stored_id = db.scalar(select(Vault.vault_id).where(Vault.account_id == account_id))
        if stored_id is not None and stored_id != header.vault_id:
            raise ApiError(422, "wrong_vault", "the vault header names another vault")
        changed = affected(
            db,
            update(Vault)
            .where(Vault.account_id == account_id, Vault.revision == base_revision)
            .values(revision=new, updated_at=now),
        )
        if changed != 1:
            raise _conflict(db, account_id)
    db.add(
        VaultVersion(account_id=account_id, revision=new, size=len(blob), blob=blob, created_at=now)
    )
    db.execute(
        delete(VaultVersion).where(
            VaultVersion.account_id == account_id, VaultVersion.revision <= new - keep
        )
    )
    if restored_from is None:
        audit.record(
            db,
            actor,
            "vault",
            "write",
            f"vault:{header.vault_id}",
            detail=f"revision {new}, {len(blob)} bytes",
        )
    else:
        audit.record(
            db,
            actor,
            "vault",
            "restore",
            f"vault:{header.vault_id}",
            detail=f"revision {restored_from} restored as {new}",
        )
    db.commit()
    return header.vault_id, new, now


def history(db: Session, account_id: uuid.UUID) -> list[VaultVersion]:
    return list(
        db.scalars(
            select(VaultVersion)
            .where(VaultVersion.account_id == account_id)
            .order_by(VaultVersion.revision.desc())
        )
    )


def version(db: Session, account_id: uuid.UUID, revision: int) -> VaultVersion:
    found = db.get(VaultVersion, (account_id, revision))
    if found is None:
        raise ApiError(404, "no_such_revision", "that revision is not kept")
    return found
