"""Everything an app instance holds, built once by the app factory."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from .headwatch import HeadWatcher
from .oidc import OidcClient
from .ratelimit import RateLimiter
from .settings import Settings
from .tokens import KeyRing


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    # Single-statement reads: autocommit on PostgreSQL (no BEGIN/ROLLBACK round trips).
    read_engine: Engine
    sessions: sessionmaker[Session]
    keys: KeyRing
    limiter: RateLimiter
    oidc: OidcClient
    watcher: HeadWatcher  # every waiting GET /api/vault/head
