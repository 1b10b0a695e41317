"""Each DPoP proof is accepted once, on whichever instance it reaches first.

The database is the only state instances share, so a proof's `jti` (scoped by its key's
thumbprint) goes into a small table with an expiry: one INSERT ... ON CONFLICT DO NOTHING
per request, and an insert that adds no row is a replay. Rows outlive every instance's
acceptance window for the proof (clock skew counted twice), then are swept.
"""

from __future__ import annotations

import hashlib
import random
import time

from sqlalchemy import Connection, Engine, delete, text

from .dpop import PROOF_LIFETIME_SECONDS, Proof, ProofError
from .models import DpopProof
from .sqlutil import insert_on_conflict

_table = DpopProof.__table__
# PostgreSQL, one round trip in autocommit: the row, without waiting for its WAL flush
# (set_config(..., true) lasts for this statement's own transaction). A crash may forget
# the last moment's jtis, reopening a replay window no longer than those proofs' life.
_PG_SPEND = text(
    "INSERT INTO dpop_proofs (key, expires_at) "
    "SELECT :key, :expires_at FROM (SELECT set_config('synchronous_commit', 'off', true)) AS c "
    "ON CONFLICT (key) DO NOTHING RETURNING key"
)
_SWEEP_ODDS = 0.001


def retention_seconds(skew_seconds: int) -> int:
    # Accepted up to iat + skew + lifetime on the slowest clock, which may be skew behind
    # the instance that swept; one more skew for the sweeper's own clock.
    return 3 * skew_seconds + PROOF_LIFETIME_SECONDS


def _row(proof: Proof, skew_seconds: int) -> dict[str, object]:
    now = int(time.time())
    return {
        "key": hashlib.sha256(f"{proof.jkt}.{proof.jti}".encode()).hexdigest(),
        "expires_at": max(now, proof.iat) + retention_seconds(skew_seconds),
    }


def _sweep(conn: Connection) -> None:
    if random.random() < _SWEEP_ODDS:  # noqa: S311 - housekeeping, not security
        conn.execute(delete(DpopProof).where(DpopProof.expires_at < int(time.time())))


def spend(conn: Connection, proof: Proof, skew_seconds: int) -> None:
    """Records the proof's jti on `conn`, inside the caller's transaction (which commits
    at once); ProofError `dpop_replayed` if it was seen before."""
    stmt = (
        insert_on_conflict(conn.dialect.name, _table)
        .values(**_row(proof, skew_seconds))
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(_table.c.key)
    )
    if conn.execute(stmt).scalar() is None:  # rowcount is not reliable across drivers
        raise ProofError("dpop_replayed", "this DPoP proof was already used")
    _sweep(conn)


def spend_now(engine: Engine, proof: Proof, skew_seconds: int) -> None:
    """spend() on a connection of its own. On PostgreSQL `engine` must autocommit (the
    app's read engine): one statement, one round trip."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            if conn.execute(_PG_SPEND, _row(proof, skew_seconds)).scalar() is None:
                raise ProofError("dpop_replayed", "this DPoP proof was already used")
            _sweep(conn)
        return
    with engine.begin() as conn:
        spend(conn, proof, skew_seconds)
