"""The cheap question agents ask while they wait: which revision is current, and is the
asking client still live? One indexed statement; no blob is read."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select

from ..deps import check_live
from ..models import Client, Vault
from ..tokens import AccessClaims

_HEAD = (
    select(Client.account_id, Client.revoked_at, Vault.revision)
    .select_from(Client)
    .outerjoin(Vault, Vault.account_id == Client.account_id)
    .where(Client.id == bindparam("client_id"))
)


@dataclass(frozen=True, slots=True)
class Head:
    revision: int  # 0: no vault yet


def head(conn: Connection, claims: AccessClaims) -> Head:
    """The current revision; the client's revocation is refused as on every read."""
    row = conn.execute(_HEAD, {"client_id": claims.client_id}).one_or_none()
    check_live(claims, row.account_id if row else None, row.revoked_at if row else None)
    assert row is not None
    return Head(int(row.revision or 0))
