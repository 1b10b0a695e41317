"""Alembic environment: runs on the connection server.migrate hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from server.models import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite can only ALTER through table copies
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run(connection)
        return
    # Plain `alembic -c server/alembic.ini ...`: build the engine from settings.
    from server.db import make_engine
    from server.settings import Settings

    engine = make_engine(Settings())
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run zkvault-server migrate")
main()
