"""Alembic creates the schema from zero on both databases, matching the models."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, insert, inspect, select

from server.migrate import downgrade, upgrade
from server.models import Account, Base, Vault, VaultVersion
from tests.api.conftest import fresh_pg_database


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    engine.dispose()
    assert diff == []


def test_upgrade_from_zero_and_back(database_url: str, tmp_path: Path) -> None:
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        cleanup = None
    else:
        admin_url = database_url.replace("postgresql+psycopg://", "postgresql://")
        name = f"zkv_mig_{secrets.token_hex(4)}"
        admin = psycopg.connect(admin_url, autocommit=True)
        admin.execute(f'CREATE DATABASE "{name}"')
        url = database_url.rsplit("/", 1)[0] + f"/{name}"
        cleanup = (admin, name)
    try:
        engine = create_engine(url)
        assert inspect(engine).get_table_names() == []
        upgrade(engine)
        tables = set(inspect(engine).get_table_names())
        assert {t.name for t in Base.metadata.sorted_tables} <= tables
        downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(engine)
        engine.dispose()
    finally:
        if cleanup:
            admin, name = cleanup
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()


def test_a_run_without_postgresql_fails_instead_of_skipping(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.support.processes import free_port

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "ZKVAULT_TEST_PG": f"postgresql://postgres@127.0.0.1:{free_port()}/test"}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(root),
            "tests/api/test_migrations.py",
            "-k",
            "matches_the_models and postgresql",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode != 0, run.stdout
    assert "PostgreSQL is required" in run.stdout
    assert "skipped" not in run.stdout.splitlines()[-1]


@contextmanager
def _empty_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of the same kind as database_url with nothing in it, dropped after."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    with fresh_pg_database("zkv_mig") as url:
        yield url


def test_0003_counts_the_history_each_account_already_keeps(
    database_url: str, tmp_path: Path
) -> None:
    """Revisions kept before the history bound existed count against it from the start."""
    with _empty_database(database_url, tmp_path) as url:
        engine = create_engine(url)
        try:
            upgrade(engine, "0002")
            busy, idle = uuid.uuid4(), uuid.uuid4()
            now = datetime.now(UTC)
            with engine.begin() as conn:  # only columns that exist at 0002
                for account in (busy, idle):
                    values = {"issuer": "i", "subject": str(account), "name": "n", "email": "e"}
                    conn.execute(insert(Account).values(id=account, created_at=now, **values))
                    conn.execute(
                        insert(Vault).values(
                            account_id=account, vault_id=uuid.uuid4(), revision=3, updated_at=now
                        )
                    )
                for revision, size in ((1, 100), (2, 250), (3, 4000)):
                    conn.execute(
                        insert(VaultVersion).values(
                            account_id=busy, revision=revision, size=size, blob=b"x", created_at=now
                        )
                    )
            upgrade(engine)
            with engine.connect() as conn:
                counted = dict(conn.execute(select(Vault.account_id, Vault.history_bytes)).all())
            assert counted == {busy: 4350, idle: 0}
        finally:
            engine.dispose()
