"""`zkvault-server`: serve (default), migrate, verify-audit, verify-export, generate-key."""

from __future__ import annotations

import argparse
import logging.config
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from .encoding import b64url_encode
from .settings import DevelopmentSettingsError, Settings, check_settings


def _serve(settings: Settings, migrate: bool) -> int:
    import uvicorn

    check_settings(settings)
    if migrate:  # logged in the configured format, like everything serve says
        logging.config.dictConfig(_log_config(settings))
        _migrate(settings, say=logging.getLogger("zkvault.server").info)
    missing = _missing_migrations(settings)
    if missing:
        print(
            f"zkvault-server: the database lacks migration {', '.join(missing)}: run"
            " `zkvault-server migrate` (or `zkvault-server serve --migrate`) first",
            file=sys.stderr,
        )
        return 2
    uvicorn.run(
        "server.asgi:app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_level=settings.log_level,
        server_header=False,
        # Long polls (GET /api/vault/head) wait up to 30 s: do not let them hold a stop.
        timeout_graceful_shutdown=5,
        access_log=False,  # uvicorn's would print query strings; see middleware.log_access
        log_config=_log_config(settings),
    )
    return 0


def _missing_migrations(settings: Settings) -> list[str]:
    """What the schema lacks; [] when it is current, or when the database cannot be
    reached now (the instance starts, and /readyz says 503 until it can)."""
    from sqlalchemy.exc import SQLAlchemyError

    from .db import make_engine
    from .migrate import missing_migrations

    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            return missing_migrations(conn)
    except SQLAlchemyError:
        return []
    finally:
        engine.dispose()


def _log_format(settings: Settings) -> str:
    if settings.log_format == "auto":
        return "plain" if settings.dev else "json"
    return settings.log_format


def _log_config(settings: Settings) -> dict[str, object]:
    level = settings.log_level.upper()
    debug = level == "DEBUG"
    loggers: dict[str, object] = {
        "uvicorn": {"handlers": ["err"], "level": level, "propagate": False},
        "zkvault": {"handlers": ["err"], "level": level, "propagate": False},
    }
    # At debug, everything else too (SQLAlchemy, httpx, authlib): the log a support case
    # would ask for, and what the breach suite searches for secrets. SQLAlchemy caps its
    # own logger at WARNING unless told otherwise.
    if debug:
        loggers["sqlalchemy"] = {"level": level}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            "json": {"()": "server.logfmt.JsonFormatter"},
        },
        "handlers": {"err": {"class": "logging.StreamHandler", "formatter": _log_format(settings)}},
        "loggers": loggers,
        "root": {"handlers": ["err"] if debug else [], "level": level},
    }


def _migrate(settings: Settings, say: Callable[[str], object] = print) -> int:
    from .db import make_engine
    from .migrate import upgrade

    if settings.is_sqlite:
        path = settings.database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings)
    upgrade(engine)
    engine.dispose()
    say("database schema is up to date")
    return 0


def _verify_audit(settings: Settings) -> int:
    from . import audit
    from .db import make_engine, snapshot

    engine = make_engine(settings)
    with snapshot(engine) as db:
        checked, problems = audit.verify(db)
    engine.dispose()
    for p in problems:
        print(f"TAMPERED: {p}")
    print(f"checked {checked} audit events: {'FAILED' if problems else 'chain intact'}")
    return 1 if problems else 0


def _verify_export(path: str) -> int:
    import json

    from . import audit

    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"zkvault-server: cannot read {path}: {type(exc).__name__}", file=sys.stderr)
        return 2
    checked, problems = audit.verify_export(document)
    for p in problems:
        print(f"TAMPERED: {p}")
    print(f"checked {checked} exported events: {'FAILED' if problems else 'chain intact'}")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zkvault-server", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the HTTP server (the default)")
    serve.add_argument("--migrate", action="store_true", help="apply migrations first")
    sub.add_parser("migrate", help="create or upgrade the database schema")
    sub.add_parser("verify-audit", help="recompute every audit hash chain; exit 1 if broken")
    sub.add_parser("generate-key", help="print a new Ed25519 signing key (base64url seed)")
    export = sub.add_parser("verify-export", help="check an audit export (JSON) offline")
    export.add_argument("file")
    args = parser.parse_args(argv)
    if args.command == "verify-export":
        return _verify_export(args.file)
    if args.command == "generate-key":
        print(b64url_encode(secrets.token_bytes(32)))
        return 0
    try:
        settings = Settings()
    except ValidationError as exc:
        for error in exc.errors():  # never the input: it may be a key or a password
            loc = error["loc"]
            name = "ZKVAULT_" + "_".join(str(part) for part in loc).upper() if loc else "settings"
            print(f"zkvault-server: {name}: {error['msg']}", file=sys.stderr)
        return 2
    try:
        if args.command == "migrate":
            return _migrate(settings)
        if args.command == "verify-audit":
            return _verify_audit(settings)
        return _serve(settings, migrate=bool(getattr(args, "migrate", False)) or settings.dev)
    except DevelopmentSettingsError as exc:
        print(f"zkvault-server: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
