"""Telling waiting long polls (server/headwatch.py) that a vault moved or a client was
revoked. Called inside the writing transaction, just before its commit.

PostgreSQL: `pg_notify` in the same transaction, so the notice is delivered exactly when
(and only if) the change commits, to every instance's watcher. SQLite: the session is
marked, and after its commit this process's watchers re-read at once (other processes
see the change at their next shared poll). Either way the notice is only a hint to look
sooner: the watchers re-read the database to be sure.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session

CHANNEL = "zkvault_head"
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")
_MARK = "zkvault_head_changed"
# This process's watchers' "look now" callbacks (weak: an app that is gone drops out).
_local: weakref.WeakSet[Any] = weakref.WeakSet()


def vault_moved(db: Session, account_id: uuid.UUID, revision: int) -> None:
    _announce(db, f"w:{account_id}:{revision}")


def client_revoked(db: Session, client_id: uuid.UUID) -> None:
    _announce(db, f"r:{client_id}")


def _announce(db: Session, payload: str) -> None:
    if db.get_bind().dialect.name == "postgresql":
        db.execute(_NOTIFY, {"channel": CHANNEL, "payload": payload})
    else:
        db.info[_MARK] = True


def on_local_change(watcher: Any) -> None:
    """Registers an object with a ``poke()`` method, called after a marked commit."""
    _local.add(watcher)


@event.listens_for(Session, "after_commit")
def _after_commit(db: Session) -> None:
    if db.info.pop(_MARK, False):
        for watcher in list(_local):
            poke: Callable[[], None] = watcher.poke
            poke()


@event.listens_for(Session, "after_rollback")
def _after_rollback(db: Session) -> None:
    db.info.pop(_MARK, None)
