"""The cheap question agents ask while they wait: which revision is current, and is the
asking client still live? One indexed statement; no blob is read."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, select

from ..models import Client, Vault

_HEAD = (
    select(Client.account_id, Client.revoked_at, Client.last_seen_at, Vault.revision)
    .select_from(Client)
    .outerjoin(Vault, Vault.account_id == Client.account_id)
    .where(Client.id == bindparam("client_id"))
)


@dataclass(frozen=True, slots=True)
class Head:
    account_id: uuid.UUID | None  # None: no such client
    revoked_at: datetime | None
    last_seen_at: datetime | None
    revision: int  # 0: no vault yet


def head(conn: Connection, client_id: uuid.UUID) -> Head:
    """The client's liveness and its account's current revision (the caller checks the
    liveness, as on every authenticated read)."""
    row = conn.execute(_HEAD, {"client_id": client_id}).one_or_none()
    if row is None:
        return Head(None, None, None, 0)
    return Head(row.account_id, row.revoked_at, row.last_seen_at, int(row.revision or 0))
