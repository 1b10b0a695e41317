"""Engine and sessions for SQLite (default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from .settings import Settings


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(settings: Settings, *, serving: bool = False) -> Engine:
    """``serving``: the server's own engine, whose PostgreSQL statements are cut off after
    db_statement_timeout_seconds (the command-line tools' long reads are not)."""
    if settings.is_sqlite:
        engine = create_engine(
            settings.database_url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout_seconds,
        )
        _sqlite_immediate_transactions(engine)
        return engine
    return create_engine(
        settings.database_url,
        connect_args=pg_connect_args(settings, serving=serving),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_pre_ping=False,
    )


def pg_connect_args(settings: Settings, *, serving: bool) -> dict[str, Any]:
    """libpq's connect_timeout covers the whole start-up exchange, so a peer that accepts
    and never answers fails after it; statement_timeout ends a statement that waits on."""
    args: dict[str, Any] = {"connect_timeout": settings.db_connect_timeout_seconds}
    if serving:
        ms = int(settings.db_statement_timeout_seconds * 1000)
        args["options"] = f"-c statement_timeout={ms}"
    return args


def _sqlite_immediate_transactions(engine: Engine) -> None:
    # pysqlite's deferred BEGIN lets two writers read the same row and then one
    # fails on lock upgrade; BEGIN IMMEDIATE serialises writers up front.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)


@contextmanager
def snapshot(engine: Engine, current: Session | None = None) -> Iterator[Session]:
    """A session that sees one consistent state for all its reads (audit verify/export:
    a chain head and its events read in two statements must agree, while other instances
    append). PostgreSQL: a read-only REPEATABLE READ transaction. SQLite: one transaction
    already reads one snapshot, so `current` (the request's session, which may hold the
    write lock a second connection would wait for) is used as it is."""
    if current is not None and engine.dialect.name == "sqlite":
        yield current
        return
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with Session(bind=conn) as db:
            yield db


def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    session = factory()
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
