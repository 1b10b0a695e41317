"""Fixed-window rate limits counted in the database, so every instance shares them.

Each hit commits at once: a request that later fails (a wrong pairing code,
say) still counts. It commits on the request's own session, because on SQLite
a second connection would wait for the write lock that session may hold.
"""

from __future__ import annotations

import random
import time

from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from . import metrics
from .models import RateCounter
from .services.errors import RateLimited
from .sqlutil import insert_on_conflict

_table = RateCounter.__table__


class RateLimiter:
    def __init__(self, engine: Engine, window_seconds: int) -> None:
        self.engine = engine
        self.window = window_seconds

    def hit(self, db: Session, key: str, limit: int, *, window: int | None = None) -> None:
        """Counts one event for key (commits db); raises 429 over the window's limit.
        `window` (seconds) overrides the shared one for a limit with its own."""
        span = window or self.window
        now = int(time.time())
        start = now - now % span
        stmt = insert_on_conflict(self.engine.dialect.name, _table).values(
            key=f"{key}:{start}"[:200], count=1, expires_at=start + span
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"], set_={"count": _table.c.count + 1}
        ).returning(_table.c.count)
        count = int(db.execute(stmt).scalar_one())
        if random.random() < 0.01:  # noqa: S311 - housekeeping, not security
            db.execute(delete(RateCounter).where(RateCounter.expires_at < now))
        db.commit()
        if count > limit:
            metrics.rate_limited(key)
            retry = start + span - now
            raise RateLimited(f"too many requests; retry in {retry} s", retry_after=retry)
