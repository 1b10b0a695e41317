"""Fixed-window rate limits counted in the database, so every instance shares them.

Each hit commits on its own connection: a request that later fails (a wrong
pairing code, say) still counts.
"""

from __future__ import annotations

import random
import time

from sqlalchemy import Engine, delete

from .errors import ApiError
from .models import RateCounter
from .sqlutil import insert_on_conflict

_table = RateCounter.__table__


class RateLimiter:
    def __init__(self, engine: Engine, window_seconds: int) -> None:
        self.engine = engine
        self.window = window_seconds

    def hit(self, key: str, limit: int) -> None:
        """Counts one event for key; raises 429 when the window's count exceeds limit."""
        now = int(time.time())
        start = now - now % self.window
        stmt = insert_on_conflict(self.engine.dialect.name, _table).values(
            key=f"{key}:{start}"[:200], count=1, expires_at=start + self.window
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"], set_={"count": _table.c.count + 1}
        ).returning(_table.c.count)
        with self.engine.begin() as conn:
            count = int(conn.execute(stmt).scalar_one())
            if random.random() < 0.01:  # noqa: S311 - housekeeping, not security
                conn.execute(delete(RateCounter).where(RateCounter.expires_at < now))
        if count > limit:
            retry = start + self.window - now
            raise ApiError(429, "rate_limited", f"too many requests; retry in {retry} s")
