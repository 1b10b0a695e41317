"""Ready-made lies. Each is a few lines over ``Lie``: match a request, rewrite the answer.

The hostile side has only what the server has (ciphertext, public keys, tokens it issued,
earlier answers), never a client key: forged blobs come from tests/hostile/forge.py.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from tests.support.httpproxy import Answer, Lie, Request

Forge = Callable[[bytes], bytes]


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def json_body(
    name: str,
    method: str,
    path: str,
    edit: Callable[[Any], Any],
    when: Callable[[Request], bool] = lambda request: True,
) -> Lie:
    """Rewrite a successful JSON answer: ``edit`` gets the decoded body, returns the lie."""

    def rewrite(request: Request, answer: Answer) -> None:
        if 200 <= answer.status < 300:
            answer.set_json(edit(answer.json()))

    return Lie(name, method, path, rewrite, when)


def blob_field(name: str, method: str, path: str, forge: Forge, key: str = "blob") -> Lie:
    """Replace the base64url binary field ``key`` of a JSON answer with ``forge(original)``."""

    def edit(body: dict[str, Any]) -> dict[str, Any]:
        return {**body, key: b64e(forge(b64d(body[key])))}

    return json_body(name, method, path, edit)


def vault_blob(name: str, forge: Forge) -> Lie:
    """The vault a laptop or browser downloads (GET /api/vault)."""
    return blob_field(name, "GET", "/api/vault", forge)


def grant_blob(name: str, forge: Forge) -> Lie:
    """The sealed grant a runner downloads (GET /api/runner/grant)."""
    return blob_field(name, "GET", "/api/runner/grant", forge)


def each_runner(name: str, edit: Callable[[dict[str, Any]], dict[str, Any]]) -> Lie:
    """Rewrite every runner in the browser's list (GET /api/runners), e.g. its public_key."""
    return json_body(name, "GET", "/api/runners", lambda runners: [edit(r) for r in runners])


def pairing_poll(name: str, edit: Callable[[dict[str, Any]], dict[str, Any]]) -> Lie:
    """Rewrite the approved answer an enrolling laptop or runner polls for."""
    return json_body(
        name,
        "POST",
        "/api/pairings/poll",
        lambda body: edit(body) if body.get("status") == "approved" else body,
    )


def replay(name: str, method: str, path: str) -> Lie:
    """Every answer after the first is replaced by the first one (status, headers and body,
    Set-Cookie included): the server's real answer is withheld, its earlier one repeated.
    Does not count as told until it has replaced an answer."""
    first: list[Answer] = []

    def rewrite(request: Request, answer: Answer) -> None:
        if not first:
            first.append(answer.copy())
            lie.fired -= 1  # recording the first answer is not yet a lie
            return
        answer.status, answer.headers, answer.body = (
            first[0].status,
            list(first[0].headers),
            first[0].body,
        )

    lie = Lie(name, method, path, rewrite)
    return lie
