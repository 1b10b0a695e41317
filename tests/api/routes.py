"""Every operation of the API, read from the app's own OpenAPI schema, with a
well-formed sample request for each.

Adversarial tests walk these lists, so a route added later is attacked too: a
route whose path parameter or request body has no sample here fails the suite
with a message that says what to add.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import httpx2
from fastapi import FastAPI

from server.encoding import b64url_decode

# Operations that take no access token. Every other one must answer 401 without one.
ANONYMOUS = frozenset(
    {
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/.well-known/jwks.json"),
        ("POST", "/auth/login"),  # a DPoP proof: the browser key the session will be bound to
        ("GET", "/auth/callback"),
        ("POST", "/auth/refresh"),  # the refresh cookie plus X-CSRF-Token, and a proof
        ("POST", "/auth/logout"),  # likewise
        ("POST", "/auth/token"),  # a machine's refresh token or a runner's credential + proof
        ("POST", "/api/pairings"),  # a proof: the key the pairing is bound to
        ("POST", "/api/pairings/poll"),  # the poll secret and a proof by that key
    }
)
# Which client kinds' access tokens each authenticated operation accepts; any
# other is "web" only. A token of another kind is refused like a forged one.
KINDS: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/api/me"): frozenset({"web", "machine"}),
    ("GET", "/api/vault"): frozenset({"web", "machine"}),
    ("PUT", "/api/vault"): frozenset({"web", "machine"}),
    ("GET", "/api/vault/head"): frozenset({"web", "machine"}),
    ("GET", "/api/vault/history"): frozenset({"web", "machine"}),
    ("GET", "/api/vault/history/{revision}"): frozenset({"web", "machine"}),
    ("GET", "/api/audit/export"): frozenset({"web", "machine"}),
    ("GET", "/api/runner/grant"): frozenset({"runner"}),
    ("GET", "/api/runner/team-grants"): frozenset({"runner"}),
    # Teams: a person's browser or CLI; runners read the vault and log of a granted team.
    ("PUT", "/api/identity"): frozenset({"web", "machine"}),
    ("GET", "/api/identity/{account_id}"): frozenset({"web", "machine"}),
    ("GET", "/api/accounts/lookup"): frozenset({"web", "machine"}),
    ("POST", "/api/teams"): frozenset({"web", "machine"}),
    ("GET", "/api/teams"): frozenset({"web", "machine"}),
    ("GET", "/api/teams/{team_id}/log"): frozenset({"web", "machine", "runner"}),
    ("POST", "/api/teams/{team_id}/log"): frozenset({"web", "machine"}),
    ("GET", "/api/teams/{team_id}/vault"): frozenset({"web", "machine", "runner"}),
    ("PUT", "/api/teams/{team_id}/vault"): frozenset({"web", "machine"}),
    ("GET", "/api/teams/{team_id}/vault/history"): frozenset({"web", "machine"}),
    ("GET", "/api/teams/{team_id}/vault/history/{revision}"): frozenset({"web", "machine"}),
    ("POST", "/api/teams/{team_id}/invitations"): frozenset({"web", "machine"}),
    ("GET", "/api/teams/{team_id}/invitations"): frozenset({"web", "machine"}),
    ("DELETE", "/api/teams/{team_id}/invitations/{invitation_id}"): frozenset({"web", "machine"}),
    ("POST", "/api/invitations/{invitation_id}/accept"): frozenset({"web", "machine"}),
    ("POST", "/api/invitations/{invitation_id}/decline"): frozenset({"web", "machine"}),
    ("GET", "/api/teams/{team_id}/audit"): frozenset({"web", "machine"}),
    ("GET", "/api/teams/{team_id}/audit/export"): frozenset({"web", "machine"}),
    ("PUT", "/api/teams/{team_id}/grants/{client_id}"): frozenset({"web", "machine"}),
    ("DELETE", "/api/teams/{team_id}/grants/{client_id}"): frozenset({"web", "machine"}),
    ("GET", "/api/teams/{team_id}/grants"): frozenset({"web", "machine"}),
}
# The only operations a browser's cookies authenticate (the CSRF defence guards them).
COOKIE_AUTHENTICATED = frozenset({("POST", "/auth/refresh"), ("POST", "/auth/logout")})

NIL = "00000000-0000-0000-0000-000000000000"
PUBLIC_KEY = "A" * 43
# Well-formed bodies (they pass validation; what they name need not exist).
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/auth/token"): {"grant_type": "refresh_token", "refresh_token": "zkv_rt_" + "A" * 43},
    ("PUT", "/api/vault"): {"base_revision": 0, "blob": "AAAA"},
    ("POST", "/api/vault/restore"): {"from_revision": 1, "base_revision": 0, "blob": "AAAA"},
    ("POST", "/api/pairings"): {"kind": "machine", "name": "x", "public_key": PUBLIC_KEY},
    ("POST", "/api/pairings/poll"): {"pairing_id": NIL, "poll_secret": "zkv_poll_" + "A" * 43},
    ("POST", "/api/pairings/lookup"): {"code": "00000-00000"},
    ("POST", "/api/pairings/approve"): {"code": "00000-00000"},
    ("POST", "/api/pairings/refuse"): {"code": "00000-00000"},
    ("PATCH", "/api/machines/{client_id}"): {"name": "x"},
    ("PATCH", "/api/runners/{client_id}"): {"name": "x"},
    ("PUT", "/api/runners/{client_id}/grant"): {"revision": 1, "blob": "AAAA"},
    ("PUT", "/api/identity"): {"bundle": "AAAA"},
    ("POST", "/api/teams"): {"entry": "AAAA", "vault": "AAAA"},
    ("POST", "/api/teams/{team_id}/log"): {"entry": "AAAA"},
    ("PUT", "/api/teams/{team_id}/vault"): {"base_revision": 1, "blob": "AAAA"},
    ("POST", "/api/teams/{team_id}/invitations"): {"email": "x@example.test", "role": "reader"},
    ("PUT", "/api/teams/{team_id}/grants/{client_id}"): {"revision": 1, "blob": "AAAA"},
}
PATH_SAMPLES = {
    "client_id": NIL,
    "revision": "1",
    "team_id": "0" * 32,
    "invitation_id": NIL,
    "account_id": NIL,
}

# Every path parameter and every body field that names a stored object. Those
# objects belong to one account: another account's id must answer like a missing one.
ID_PATH_PARAMS = frozenset({"client_id", "revision", "team_id", "invitation_id"})
ID_BODY_FIELDS = frozenset({"pairing_id", "from_revision"})
# A published identity is public: anyone signed in reads anyone's by account id.
NOT_ID_PATH_PARAMS: frozenset[str] = frozenset({"account_id"})
# Body fields that look like ids but are not: the caller's own counters.
NOT_IDS = frozenset({"base_revision", "revision"})


@dataclass(frozen=True)
class BodyField:
    name: str
    schema: dict[str, Any]
    required: bool


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # the template, e.g. /api/machines/{client_id}
    path_params: tuple[str, ...]
    fields: tuple[BodyField, ...] = field(default=())  # of the JSON body, if it takes one

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    @property
    def anonymous(self) -> bool:
        return self.key in ANONYMOUS

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset() if self.anonymous else KINDS.get(self.key, frozenset({"web"}))

    @property
    def takes_json(self) -> bool:
        return self.key in BODIES

    def url(self, **params: str) -> str:
        values = {**PATH_SAMPLES, **params}
        return self.path.format(**{p: values[p] for p in self.path_params})

    def body(self, **changes: Any) -> dict[str, Any] | None:
        if not self.takes_json:
            return None
        return {**BODIES[self.key], **changes}

    @property
    def id_params(self) -> tuple[str, ...]:
        return tuple(p for p in self.path_params if p in ID_PATH_PARAMS)

    @property
    def id_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.name in ID_BODY_FIELDS)


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> list[dict[str, Any]]:
    """The object schemas a body may take (a $ref, or each arm of a oneOf)."""
    if "$ref" in schema:
        return _resolve(components[schema["$ref"].rsplit("/", 1)[1]], components)
    if "oneOf" in schema:
        return [s for arm in schema["oneOf"] for s in _resolve(arm, components)]
    return [schema]


def _looks_like_id(name: str, schema: dict[str, Any]) -> bool:
    return schema.get("format") == "uuid" or name.endswith(("_id", "revision"))


def operations(app: FastAPI) -> list[Operation]:
    spec = app.openapi()
    components = spec.get("components", {}).get("schemas", {})
    found: list[Operation] = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            method = method.upper()
            params = tuple(p["name"] for p in op.get("parameters", []) if p["in"] == "path")
            for p in params:
                assert p in PATH_SAMPLES, f"{method} {path}: add a sample for {{{p}}} to {__file__}"
                assert p in ID_PATH_PARAMS or p in NOT_ID_PATH_PARAMS, (
                    f"{method} {path}: does {{{p}}} name a stored object? classify it"
                )
            fields: list[BodyField] = []
            content = op.get("requestBody", {}).get("content", {})
            if content:
                assert (method, path) in BODIES, f"{method} {path}: add a body to {__file__}"
                schema = content["application/json"]["schema"]
                for arm in _resolve(schema, components):
                    required = set(arm.get("required", []))
                    for name, prop in arm.get("properties", {}).items():
                        if name in {f.name for f in fields}:
                            continue
                        if _looks_like_id(name, prop):
                            assert name in ID_BODY_FIELDS | NOT_IDS, (
                                f"{method} {path}: is body field {name!r} an id? "
                                f"classify it in {__file__}"
                            )
                        fields.append(BodyField(name, prop, name in required))
            found.append(Operation(method, path, params, tuple(fields)))
    return found


def random_id() -> str:
    return str(uuid.uuid4())


def refused(r: httpx.Response | httpx2.Response) -> bool:
    """True for a typed 4xx ({code, message}); a 5xx fails the test on the spot."""
    assert r.status_code < 500, (
        f"{r.request.method} {r.request.url.path} -> {r.status_code}: {r.text[:300]}"
    )
    if not 400 <= r.status_code < 500:
        return False
    body = r.json()
    return isinstance(body, dict) and isinstance(body.get("code"), str) and "message" in body


def claims(token: str) -> dict[str, Any]:
    """An access token's payload, read without checking it."""
    payload: dict[str, Any] = json.loads(b64url_decode(token.split(".")[1]))
    return payload
