"""The app factory: settings in, a configured FastAPI app out."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from . import errors, metrics
from .db import make_engine, make_sessionmaker
from .headwatch import HeadWatcher
from .middleware import BodyLimit, Observed, Observer, SecurityHeaders, log_access
from .oidc import OidcClient
from .ratelimit import RateLimiter
from .routers import (
    audit,
    auth,
    devices,
    identity,
    meta,
    pairings,
    sessions,
    teamgrants,
    teaminvitations,
    teams,
    vault,
    vaulthead,
    webapp,
)
from .settings import Settings, check_settings
from .state import AppState
from .stopping import on_stop_signal
from .tokens import KeyRing

# A 1 MiB blob is 1,398,102 base64url characters; JSON framing adds little.
_BODY_LIMIT_SLACK = 64 * 1024

log = logging.getLogger("zkvault.server")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    check_settings(settings)
    engine = make_engine(settings, serving=True)
    state = AppState(
        settings=settings,
        engine=engine,
        read_engine=engine
        if settings.is_sqlite
        else engine.execution_options(isolation_level="AUTOCOMMIT"),
        sessions=make_sessionmaker(engine),
        keys=KeyRing(
            [k.get_secret_value() for k in settings.signing_keys],
            settings.public_url,
            settings.access_token_ttl_seconds,
            verify_only=[k.get_secret_value() for k in settings.verify_only_keys],
            skew_seconds=settings.max_clock_skew_seconds,
        ),
        limiter=RateLimiter(engine, settings.rate_window_seconds),
        oidc=OidcClient(settings),
        watcher=HeadWatcher(settings, engine),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Under uvicorn this runs with its signal handlers in place: waiting long polls
        # answer as soon as a stop is asked for, inside uvicorn's graceful-shutdown wait,
        # instead of being cancelled at its end (server/stopping.py).
        on_stop_signal(state.watcher.stop_soon)
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="zkvault server",
        version="1",
        description="Stores ciphertext, public keys, names and emails; nothing it could leak.",
        docs_url="/api/docs" if settings.dev else None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        responses=errors.COMMON_ERRORS,
    )
    app.state.zk = state
    errors.install(app)
    for router in (
        # Routes are matched one by one, in this order: the health check and the hot
        # path (/api/vault) come before the pages and sign-in routes.
        meta.router,
        vaulthead.router,
        vault.router,
        webapp.router,
        auth.router,
        pairings.router,
        devices.machines,
        devices.runners,
        devices.runner_self,
        audit.router,
        identity.router,
        teams.router,
        teaminvitations.router,
        teaminvitations.invited,
        teamgrants.router,
        teamgrants.runner_grants,
        sessions.router,
    ):
        app.include_router(router)
    largest = max(settings.max_vault_bytes, settings.max_grant_bytes)
    # A team log append carries an entry and the re-sealed team vault together.
    largest += teams.ENTRY_MAX_BYTES
    app.add_middleware(BodyLimit, limit=(largest * 4 + 2) // 3 + _BODY_LIMIT_SLACK)
    app.add_middleware(SecurityHeaders, hsts=settings.public_url.startswith("https://"))
    # Request metrics cost a little on every request: counted only where /metrics exists.
    observers: list[Observer] = [log_access]
    if settings.metrics_token:
        observers.append(metrics.record_request)
    app.add_middleware(Observed, observers=observers)
    return app
