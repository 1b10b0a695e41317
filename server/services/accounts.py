"""Accounts: (issuer, subject) -> our own UUID, plus name and email."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models import Account
from ..oidc import Identity
from ..sqlutil import insert_on_conflict


def upsert(db: Session, who: Identity) -> Account:
    stmt = insert_on_conflict(db.get_bind().dialect.name, Account.__table__).values(
        id=uuid.uuid4(),
        issuer=who.issuer,
        subject=who.subject,
        name=who.name,
        email=who.email,
        created_at=utcnow(),
    )
    # Two first sign-ins racing on two instances still make one account.
    db.execute(stmt.on_conflict_do_nothing(index_elements=["issuer", "subject"]))
    account = db.scalars(
        select(Account).where(Account.issuer == who.issuer, Account.subject == who.subject)
    ).one()
    account.name, account.email = who.name, who.email
    return account
