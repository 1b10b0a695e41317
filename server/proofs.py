"""Each DPoP proof is accepted once, on whichever instance it reaches first.

The database is the only state instances share, so a proof's `jti` (scoped by its key's
thumbprint) goes into a small table with an expiry: one INSERT ... ON CONFLICT DO NOTHING
per request, and an insert that changes no row is a replay. Rows outlive every instance's
acceptance window for the proof (clock skew counted twice), then are swept.
"""

from __future__ import annotations

import hashlib
import random
import time

from sqlalchemy import Connection, Engine, delete

from .dpop import PROOF_LIFETIME_SECONDS, Proof, ProofError
from .models import DpopProof
from .sqlutil import insert_on_conflict

_table = DpopProof.__table__


def retention_seconds(skew_seconds: int) -> int:
    # Accepted up to iat + skew + lifetime on the slowest clock, which may be skew behind
    # the instance that swept; one more skew for the sweeper's own clock.
    return 3 * skew_seconds + PROOF_LIFETIME_SECONDS


def spend(conn: Connection, proof: Proof, skew_seconds: int) -> None:
    """Records the proof's jti (the caller commits); ProofError `dpop_replayed` if it
    was seen before."""
    now = int(time.time())
    key = hashlib.sha256(f"{proof.jkt}.{proof.jti}".encode()).hexdigest()
    stmt = (
        insert_on_conflict(conn.dialect.name, _table)
        .values(key=key, expires_at=max(now, proof.iat) + retention_seconds(skew_seconds))
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(_table.c.key)
    )
    if conn.execute(stmt).scalar() is None:  # rowcount is not reliable across drivers
        raise ProofError("dpop_replayed", "this DPoP proof was already used")
    if random.random() < 0.001:  # noqa: S311 - housekeeping, not security
        conn.execute(delete(DpopProof).where(DpopProof.expires_at < now))


def spend_now(engine: Engine, proof: Proof, skew_seconds: int) -> None:
    """spend() in its own short transaction."""
    with engine.begin() as conn:
        spend(conn, proof, skew_seconds)
