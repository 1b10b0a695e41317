"""Services speak the domain, not HTTP: nothing under server/services imports the web
framework or the HTTP layer, so their refusals stay domain errors mapped in one place."""

from __future__ import annotations

import ast
from pathlib import Path

from server.errors import domain_status
from server.services import errors as domain

SERVICES = Path(__file__).resolve().parents[2] / "server" / "services"
FORBIDDEN = ("fastapi", "starlette", "server.deps", "server.errors", "server.routers")


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            package = {0: "", 1: "server.services.", 2: "server."}[node.level]
            base = package + (node.module or "")
            names += [base, *(f"{base}.{a.name}" for a in node.names)]
    return names


def test_services_import_nothing_from_the_http_layer() -> None:
    files = sorted(SERVICES.glob("*.py"))
    assert len(files) >= 6
    bad = {
        f.name: name
        for f in files
        for name in _imports(f)
        if any(name == x or name.startswith(x + ".") for x in FORBIDDEN)
    }
    assert bad == {}


def test_every_domain_error_has_one_status() -> None:
    leaves = [
        domain.Revoked("c", "m"),
        domain.InvalidGrant("c", "m"),
        domain.NotAuthenticated("c", "m"),
        domain.NotFound("c", "m"),
        domain.Forbidden("c", "m"),
        domain.Gone("c", "m"),
        domain.RevisionConflict("m", current_revision=3),
        domain.Invalid("c", "m"),
        domain.TooLarge("m"),
        domain.RateLimited("m"),
        domain.HistoryFull("m"),
        domain.Unavailable("c", "m"),
        domain.SignInRefused("c", "m"),
    ]
    statuses = [401, 401, 401, 404, 403, 410, 409, 422, 413, 429, 507, 503, 400]
    assert [domain_status(e) for e in leaves] == statuses


def test_the_auth_router_only_translates() -> None:
    """routers/auth.py turns HTTP into calls of services/signin.py and back: it touches no
    table, writes no audit entry and mints no token itself."""
    router = SERVICES.parent / "routers" / "auth.py"
    names = _imports(router)
    assert not [n for n in names if n.startswith(("server.models", "server.audit", "sqlalchemy."))]
    text = router.read_text()
    assert ".issue(" not in text and "db.execute" not in text and "db.add" not in text


def test_the_team_routers_only_translate() -> None:
    """Every rule of teams (membership, roles, the log, the vault's header, invitations,
    grants) lives in server/services: the team routers touch no table and no audit chain."""
    routers = SERVICES.parent / "routers"
    for name in ("teams.py", "teaminvitations.py", "teamgrants.py", "identity.py"):
        names = _imports(routers / name)
        touching = [
            n
            for n in names
            if n.startswith(("server.models", "server.audit", "server.teamlog", "sqlalchemy"))
        ]
        assert touching == [], name
        text = (routers / name).read_text()
        assert "db.execute" not in text and "db.add" not in text and "select(" not in text
