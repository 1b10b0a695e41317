"""The attacker with the dump and write access to the database: plain SQL on the server's
tables, the same for SQLite and PostgreSQL. A careful attacker keeps the server's own
bookkeeping (size, SHA-256) consistent, so only the clients' cryptography can notice."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, text


class Attacker:
    def __init__(self, database_url: str) -> None:
        self.engine = create_engine(database_url)
        self.sqlite = self.engine.dialect.name == "sqlite"

    def _id(self, value: uuid.UUID) -> Any:
        """Ids as the column stores them: 32 hex digits in SQLite, native in PostgreSQL."""
        return value.hex if self.sqlite else value

    def close(self) -> None:
        self.engine.dispose()

    def _one(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).one()

    # -- who is who (the attacker reads the dump) ---------------------------------------------

    def account_of(self, subject: str) -> uuid.UUID:
        row = self._one("SELECT id FROM accounts WHERE subject = :s", s=subject)
        return uuid.UUID(str(row[0]))

    def runner_of(self, account: uuid.UUID, name: str) -> uuid.UUID:
        row = self._one(
            "SELECT id FROM clients WHERE account_id = :a AND kind = 'runner' AND name = :n",
            a=self._id(account),
            n=name,
        )
        return uuid.UUID(str(row[0]))

    # -- vaults ------------------------------------------------------------------------------

    def current(self, account: uuid.UUID) -> tuple[int, bytes]:
        row = self._one(
            "SELECT v.revision, h.blob FROM vaults v JOIN vault_versions h "
            "ON h.account_id = v.account_id AND h.revision = v.revision "
            "WHERE v.account_id = :a",
            a=self._id(account),
        )
        return int(row[0]), bytes(row[1])

    def history(self, account: uuid.UUID) -> dict[int, bytes]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT revision, blob FROM vault_versions WHERE account_id = :a"),
                {"a": self._id(account)},
            )
            return {int(r[0]): bytes(r[1]) for r in rows}

    def serve(self, account: uuid.UUID, revision: int, blob: bytes) -> None:
        """Make the server hand out ``blob`` as this account's vault at ``revision``."""
        with self.engine.begin() as conn:
            params = {"a": self._id(account), "r": revision, "b": blob, "n": len(blob)}
            updated = conn.execute(
                text(
                    "UPDATE vault_versions SET blob = :b, size = :n "
                    "WHERE account_id = :a AND revision = :r"
                ),
                params,
            )
            if updated.rowcount == 0:
                conn.execute(
                    text(
                        "INSERT INTO vault_versions (account_id, revision, size, "
                        "blob, created_at) VALUES (:a, :r, :n, :b, "
                        "CURRENT_TIMESTAMP)"
                    ),
                    params,
                )
            conn.execute(
                text("UPDATE vaults SET revision = :r, blob_sha256 = :s WHERE account_id = :a"),
                {**params, "s": hashlib.sha256(blob).hexdigest()},
            )

    @contextmanager
    def serving(self, account: uuid.UUID, revision: int, blob: bytes) -> Iterator[None]:
        """Serve a forged vault for the duration, then put every row back as it was."""
        good_revision, _ = self.current(account)
        saved = self.history(account)
        self.serve(account, revision, blob)
        try:
            yield
        finally:
            with self.engine.begin() as conn:
                conn.execute(
                    text("DELETE FROM vault_versions WHERE account_id = :a AND revision = :r"),
                    {"a": self._id(account), "r": revision},
                )
            for rev, old in saved.items():
                self.serve(account, rev, old)
            self.serve(account, good_revision, saved[good_revision])

    # -- teams -------------------------------------------------------------------------------

    def team_log(self, team: uuid.UUID) -> list[bytes]:
        """The team's signed membership log, entry 1 first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT entry FROM team_log WHERE team_id = :t ORDER BY seq"),
                {"t": self._id(team)},
            )
            return [bytes(r[0]) for r in rows]

    def team_vault(self, team: uuid.UUID) -> bytes:
        """The team vault's current blob (ciphertext)."""
        row = self._one(
            "SELECT h.blob FROM teams t JOIN team_vault_versions h "
            "ON h.team_id = t.id AND h.revision = t.revision WHERE t.id = :t",
            t=self._id(team),
        )
        return bytes(row[0])

    # -- grants ------------------------------------------------------------------------------

    def grant(self, runner: uuid.UUID) -> tuple[int, bytes]:
        row = self._one(
            "SELECT revision, blob FROM grants WHERE runner_id = :r", r=self._id(runner)
        )
        return int(row[0]), bytes(row[1])

    def grants(self) -> dict[uuid.UUID, tuple[int, bytes]]:
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT runner_id, revision, blob FROM grants"))
            return {uuid.UUID(str(r[0])): (int(r[1]), bytes(r[2])) for r in rows}

    def set_grant(self, runner: uuid.UUID, revision: int, blob: bytes) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text("UPDATE grants SET revision = :v, blob = :b, size = :n WHERE runner_id = :r"),
                {"r": self._id(runner), "v": revision, "b": blob, "n": len(blob)},
            )

    @contextmanager
    def granting(self, runner: uuid.UUID, revision: int, blob: bytes) -> Iterator[None]:
        saved = self.grant(runner)
        self.set_grant(runner, revision, blob)
        try:
            yield
        finally:
            self.set_grant(runner, *saved)
