"""Apply Alembic migrations programmatically (the schema is created from zero)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

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


@lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def missing_migrations(conn: Connection) -> list[str]:
    """The migrations this release needs that the database lacks, oldest first, each as
    "revision (what it does)"; [] when the schema is current, or newer (a later release
    migrated it: migrations are additive, so this one keeps working)."""
    scripts = _scripts()
    heads = set(scripts.get_heads())
    current = set(MigrationContext.configure(conn).get_current_heads())
    if current == heads:
        return []
    known = {r.revision for r in scripts.walk_revisions()}
    if current - known:
        return []
    lacking = scripts.iterate_revisions(tuple(heads), tuple(current) or "base")
    return [f"{r.revision} ({r.doc})" for r in reversed(list(lacking))]
