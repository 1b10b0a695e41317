"""The caller's vault: opaque blob, optimistic concurrency, history kept by age and count."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    Connection,
    CursorResult,
    Exists,
    bindparam,
    delete,
    exists,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from .. import audit
from ..audit import Actor
from ..blobheader import HeaderError, PublicHeader, peek_header
from ..db import utcnow
from ..encoding import EncodingError, b64url_decode, b64url_encode
from ..models import AuditHead, Client, Vault, VaultVersion
from ..settings import Settings
from ..sqlutil import insert_on_conflict
from ..tokens import AccessClaims
from . import headnotify
from .errors import (
    DomainError,
    HistoryFull,
    Invalid,
    NotFound,
    RevisionConflict,
    Revoked,
    TooLarge,
)
from .token_families import check_live, seen_long_ago

_READ_WITH_CLIENT = (
    select(
        Client.account_id,
        Client.revoked_at,
        Client.last_seen_at,
        Vault.vault_id,
        Vault.revision,
        Vault.updated_at,
        Vault.blob_sha256,
        VaultVersion.size,
        VaultVersion.blob,
        AuditHead.seq.label("audit_seq"),
        AuditHead.hash.label("audit_hash"),
    )
    .select_from(Client)
    .outerjoin(Vault, Vault.account_id == Client.account_id)
    .outerjoin(
        VaultVersion,
        (VaultVersion.account_id == Vault.account_id) & (VaultVersion.revision == Vault.revision),
    )
    # The account's audit chain head, read in the same statement: the client seals it into
    # its next save (docs/server.md, "Audit anchors").
    .outerjoin(AuditHead, AuditHead.chain == bindparam("chain"))
    .where(Client.id == bindparam("client_id"))
)


def read_for(conn: Connection, claims: AccessClaims) -> tuple[bytes, bool]:
    """The hot path: revocation check and vault in one statement, JSON out; and whether
    the client's "last seen" is due an update (the caller writes it, on the primary)."""
    row = conn.execute(
        _READ_WITH_CLIENT, {"client_id": claims.client_id, "chain": str(claims.account_id)}
    ).one_or_none()
    check_live(claims, row.account_id if row else None, row.revoked_at if row else None)
    assert row is not None
    stale = seen_long_ago(row.last_seen_at)
    if row.vault_id is None or row.blob is None:
        raise NotFound("no_vault", "this account has no vault yet")
    body = json.dumps(
        {
            "vault_id": str(row.vault_id),
            "revision": row.revision,
            "size": row.size,
            "updated_at": row.updated_at.isoformat().replace("+00:00", "Z"),
            "sha256": row.blob_sha256 or hashlib.sha256(row.blob).hexdigest(),
            "blob": b64url_encode(row.blob),
            "audit_head": (
                {"seq": row.audit_seq, "hash": row.audit_hash} if row.audit_seq else None
            ),
        }
    ).encode()
    return body, stale


def decode_blob(text: str, limit: int, what: str) -> bytes:
    if len(text) > (limit * 4 + 2) // 3:
        raise TooLarge(f"the {what} exceeds {limit} bytes")
    try:
        blob = b64url_decode(text)
    except EncodingError:
        raise Invalid("invalid_request", f"the {what} is not base64url") from None
    if len(blob) > limit:
        raise TooLarge(f"the {what} exceeds {limit} bytes")
    return blob


def _client_live(client_id: uuid.UUID, account_id: uuid.UUID) -> Exists:
    return exists().where(
        Client.id == client_id, Client.account_id == account_id, Client.revoked_at.is_(None)
    )


def _checked_header(blob: bytes, account_id: uuid.UUID, revision: int) -> PublicHeader:
    try:
        header = peek_header(blob)
    except HeaderError as exc:
        raise Invalid(exc.code, str(exc)) from None
    if header.account_id != account_id:
        raise Invalid("wrong_account", "the vault header names another account")
    if header.revision != revision:
        raise Invalid(
            "revision_mismatch",
            f"the vault header says revision {header.revision}, expected {revision}",
        )
    return header


def _revoked() -> Revoked:
    return Revoked("revoked", "this client has been revoked")


def _refusal(
    db: Session,
    client_id: uuid.UUID,
    account_id: uuid.UUID,
    vault_id: uuid.UUID,
    base: tuple[int, str | None],
    max_bytes: int,
) -> DomainError:
    """Why a conditional write changed nothing: revoked, another vault, stale, or (the
    base still current: revisions only grow) the history bound."""
    db.rollback()
    if not db.scalar(select(_client_live(client_id, account_id))):
        return _revoked()
    row = db.execute(
        select(Vault.vault_id, Vault.revision, Vault.blob_sha256).where(
            Vault.account_id == account_id
        )
    ).one_or_none()
    if row is not None and row.vault_id != vault_id:
        return Invalid("wrong_vault", "the vault header names another vault")
    current = int(row.revision) if row else 0
    base_revision, base_sha256 = base
    if row is not None and current == base_revision and base_sha256 in (None, row.blob_sha256):
        return HistoryFull(
            f"the vault's kept history would exceed {max_bytes} bytes; nothing was"
            " stored, and writes fit again as old revisions age out"
        )
    return RevisionConflict(
        f"the vault is at revision {current}; reload and retry",
        current_revision=current,
    )


@dataclass(frozen=True, slots=True)
class Retention:
    """What history a write keeps: every revision younger than `days`, at least the newest
    `keep`; and the kept blobs of an account may not outgrow `max_bytes` (a write that
    would is refused, so a flood of writes can fill history but never flush it)."""

    keep: int
    days: int
    max_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> Retention:
        return cls(
            settings.vault_history, settings.vault_history_days, settings.vault_history_max_bytes
        )


@dataclass(frozen=True, slots=True)
class Written:
    vault_id: uuid.UUID
    revision: int
    updated_at: datetime
    sha256: str
    audit_head: tuple[int, str]  # the account's audit chain head after this write's event


_ADVANCE = (
    update(Vault)
    .where(
        Vault.account_id == bindparam("acc"),
        Vault.revision == bindparam("base"),
        Vault.vault_id == bindparam("vid"),
        exists().where(
            Client.id == bindparam("cid"),
            Client.account_id == bindparam("acc"),
            Client.revoked_at.is_(None),
        ),
    )
    # The history bound (write() passes no bound for a write that does not grow history,
    # so lowering the setting never strands an account already over it).
    .where(Vault.history_bytes + bindparam("grow") <= bindparam("cap"))
    .values(
        revision=bindparam("new"),
        updated_at=bindparam("now"),
        blob_sha256=bindparam("sha"),
        history_bytes=Vault.history_bytes + bindparam("grow"),
    )
)
# The same, when the client also names the blob it replaces by its hash: two
# different blobs that both claim revision N are then told apart.
_ADVANCE_EXACT = _ADVANCE.where(Vault.blob_sha256 == bindparam("base_sha"))
_KEEP = insert(VaultVersion)
_NO_BOUND = 2**62  # the cap for a write that frees as much as it adds
# Only revisions both past the age bound and outside the newest `keep`: never younger ones.
_PRUNE = (
    delete(VaultVersion)
    .where(
        VaultVersion.account_id == bindparam("acc"),
        VaultVersion.created_at < bindparam("cutoff"),
        VaultVersion.revision <= bindparam("upto"),
    )
    .returning(VaultVersion.size)
)
_KEPT = select(
    exists().where(
        VaultVersion.account_id == bindparam("acc"), VaultVersion.revision == bindparam("rev")
    )
)


def write(
    db: Session,
    actor: Actor,
    client_id: uuid.UUID,
    base_revision: int,
    blob: bytes,
    retention: Retention,
    *,
    base_sha256: str | None = None,
    restored_from: int | None = None,
) -> Written:
    """Stores blob as revision base_revision + 1 if base_revision is still current, the
    writing client is not revoked and the history bound allows it (commits); lets go of
    the revisions `retention` no longer keeps. Few round trips: this is a hot path."""
    assert actor.account_id is not None
    account_id = actor.account_id
    new = base_revision + 1
    # A restore names a revision first: one not kept (another account's included) is
    # 404 whatever the blob, as a missing id is on every route.
    if restored_from is not None and not db.scalar(
        _KEPT, {"acc": account_id, "rev": restored_from}
    ):
        if not db.scalar(select(_client_live(client_id, account_id))):
            raise _revoked()
        raise NotFound("no_such_revision", "that revision is not kept")
    try:
        header = _checked_header(blob, account_id, new)
    except Invalid:
        # The hot path checks revocation inside its conditional write, which a refused
        # header never reaches: check it here, so a revoked client learns only that.
        if not db.scalar(select(_client_live(client_id, account_id))):
            raise _revoked() from None
        raise
    conn = db.connection()
    now = utcnow()
    sha = hashlib.sha256(blob).hexdigest()

    def refused() -> DomainError:
        base = (base_revision, base_sha256)
        return _refusal(db, client_id, account_id, header.vault_id, base, retention.max_bytes)

    if base_revision == 0:
        if not db.scalar(select(_client_live(client_id, account_id))):
            raise refused()
        stmt = (
            insert_on_conflict(db.get_bind().dialect.name, Vault.__table__)
            .values(
                account_id=account_id,
                vault_id=header.vault_id,
                revision=new,
                updated_at=now,
                blob_sha256=sha,
                history_bytes=len(blob),
            )
            .on_conflict_do_nothing(index_elements=["account_id"])
            .returning(Vault.__table__.c.account_id)
        )
        if db.execute(stmt).scalar_one_or_none() is None:
            raise refused()
    else:
        # Constant Core statements with bound values: compiled once, cached, no ORM.
        # Pruning first (undone with the rest if the write is refused) lets the bound
        # count the room it makes. Revisions only grow, so `upto` from a stale base is
        # lower than the true one: it can only keep more.
        freed = 0
        if new > retention.keep:
            cutoff = now - timedelta(days=retention.days)
            pruned = conn.execute(
                _PRUNE, {"acc": account_id, "cutoff": cutoff, "upto": new - retention.keep}
            )
            freed = sum(pruned.scalars())
        grow = len(blob) - freed
        params = {
            "acc": account_id,
            "base": base_revision,
            "vid": header.vault_id,
            "cid": client_id,
            "new": new,
            "now": now,
            "sha": sha,
            "base_sha": base_sha256,
            "grow": grow,
            "cap": retention.max_bytes if grow > 0 else _NO_BOUND,
        }
        result = conn.execute(_ADVANCE if base_sha256 is None else _ADVANCE_EXACT, params)
        assert isinstance(result, CursorResult)
        if result.rowcount != 1:
            raise refused()
    conn.execute(
        _KEEP,
        {
            "account_id": account_id,
            "revision": new,
            "size": len(blob),
            "blob": blob,
            "created_at": now,
        },
    )
    if restored_from is None:
        head = audit.record(
            db,
            actor,
            "vault",
            "write",
            f"vault:{header.vault_id}",
            detail=f"revision {new}, {len(blob)} bytes",
        )
    else:
        head = audit.record(
            db,
            actor,
            "vault",
            "restore",
            f"vault:{header.vault_id}",
            detail=f"revision {restored_from} restored as {new}",
        )
    headnotify.vault_moved(db, account_id, new)  # wakes long polls when this commits
    db.commit()
    return Written(header.vault_id, new, now, sha, head)


@dataclass(frozen=True, slots=True)
class Kept:
    revision: int
    size: int
    created_at: datetime


def history(
    db: Session, account_id: uuid.UUID, limit: int, before: int | None = None
) -> list[Kept]:
    """The kept revisions below `before` (all if None), newest first, at most `limit`;
    their blobs stay in the database."""
    query = select(VaultVersion.revision, VaultVersion.size, VaultVersion.created_at).where(
        VaultVersion.account_id == account_id
    )
    if before is not None:
        query = query.where(VaultVersion.revision < before)
    rows = db.execute(query.order_by(VaultVersion.revision.desc()).limit(limit))
    return [Kept(r.revision, r.size, r.created_at) for r in rows]


def version(db: Session, account_id: uuid.UUID, revision: int) -> VaultVersion:
    found = db.get(VaultVersion, (account_id, revision))
    if found is None:
        raise NotFound("no_such_revision", "that revision is not kept")
    return found
