"""The one dialect-specific statement we need: INSERT ... ON CONFLICT."""

from __future__ import annotations

from typing import Any

from sqlalchemy import CursorResult, Executable
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_on_conflict(dialect: str, table: Any) -> Any:
    """An INSERT with .on_conflict_do_nothing/.on_conflict_do_update for the dialect."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database: {dialect}")


def affected(db: Session, stmt: Executable) -> int:
    """Rows an UPDATE/DELETE/INSERT changed: the test every conditional write relies on."""
    result = db.execute(stmt)
    assert isinstance(result, CursorResult)
    return int(result.rowcount)
