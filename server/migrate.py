"""Apply Alembic migrations programmatically (the schema is created from zero)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

_HERE = Path(__file__).resolve().parent


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE / "migrations"))
    return cfg


# Any constant shared by every instance: "zkvmigr" as a 64-bit integer.
_ADVISORY_LOCK_KEY = 0x7A6B766D69677200


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Several instances may start at once: on PostgreSQL they queue on an advisory lock
    held for the migration's transaction, so the first migrates and the rest find the
    schema current. (SQLite serves one instance; BEGIN IMMEDIATE serialises anyway.)"""
    cfg = alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
