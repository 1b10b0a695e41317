"""/api/machines and /api/runners (same shape), runner grants, and /api/runner for runners."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from ..deps import DB, Runner, State, Web
from ..encoding import b64url_encode
from ..errors import AUTH_ERRORS, errors
from ..models import Client
from ..schemas import ClientOut, GrantMeta, GrantOut, GrantPut, Rename
from ..services import devices
from ..services.vault import decode_blob


def _out(c: Client, grant_revision: int | None = None) -> ClientOut:
    return ClientOut(
        id=c.id,
        kind=c.kind,
        name=c.name,
        public_key=c.public_key,
        created_at=c.created_at,
        last_seen_at=c.last_seen_at,
        revoked_at=c.revoked_at,
        grant_revision=grant_revision,
    )


def _client_router(kind: str) -> APIRouter:
    router = APIRouter(prefix=f"/api/{kind}s", tags=[f"{kind}s"], responses=AUTH_ERRORS)

    @router.get("", response_model=list[ClientOut], name=f"list_{kind}s")
    def list_clients(who: Web, db: DB) -> list[ClientOut]:
        return [_out(c, rev) for c, rev in devices.list_clients(db, who.account_id, kind)]

    @router.patch(
        "/{client_id}", response_model=ClientOut, responses=errors(404), name=f"rename_{kind}"
    )
    def rename(client_id: uuid.UUID, body: Rename, who: Web, db: DB) -> ClientOut:
        return _out(devices.rename(db, who.actor, kind, client_id, body.name))

    @router.delete(
        "/{client_id}", response_model=ClientOut, responses=errors(404), name=f"revoke_{kind}"
    )
    def revoke(client_id: uuid.UUID, who: Web, db: DB) -> ClientOut:
        """Revokes it: its refresh family ends and its access tokens stop working now."""
        return _out(devices.revoke(db, who.actor, kind, client_id))

    return router


machines = _client_router("machine")
runners = _client_router("runner")


@runners.put("/{client_id}/grant", response_model=GrantMeta, responses=errors(404, 409))
def put_grant(client_id: uuid.UUID, body: GrantPut, who: Web, db: DB, st: State) -> GrantMeta:
    """Stores the runner's sealed grant; the revision must exceed the stored one."""
    blob = decode_blob(body.blob, st.settings.max_grant_bytes, "grant")
    g = devices.put_grant(db, who.actor, client_id, body.revision, blob)
    return GrantMeta(
        runner_id=g.runner_id, revision=g.revision, size=g.size, updated_at=g.updated_at
    )


@runners.get("/{client_id}/grant", response_model=GrantMeta, responses=errors(404))
def grant_meta(client_id: uuid.UUID, who: Web, db: DB) -> GrantMeta:
    g, _ = devices.grant_of(db, who.account_id, client_id)
    return GrantMeta(
        runner_id=g.runner_id, revision=g.revision, size=g.size, updated_at=g.updated_at
    )


@runners.delete(
    "/{client_id}/grant", status_code=204, response_class=Response, responses=errors(404)
)
def delete_grant(client_id: uuid.UUID, who: Web, db: DB) -> Response:
    devices.delete_grant(db, who.actor, client_id)
    return Response(status_code=204)


runner_self = APIRouter(prefix="/api/runner", tags=["runner"], responses=AUTH_ERRORS)


@runner_self.get("/grant", response_model=GrantOut, responses=errors(404))
def my_grant(who: Runner, db: DB) -> GrantOut:
    """A runner reads its own grant, and only its own."""
    g, runner = devices.grant_of(db, who.account_id, who.client_id)
    return GrantOut(
        runner_id=g.runner_id,
        revision=g.revision,
        size=g.size,
        updated_at=g.updated_at,
        blob=b64url_encode(g.blob),
        grant_public_key=runner.grant_public_key,
    )
