"""The agent's ``match`` request: which items hold each of the secrets given.

`zkvault import` asks it twice: against the vault held, to skip a token already stored
(under any name), and against the vault as the server saved it, before it removes any
plaintext copy (native.import_cmd). Only item names leave the agent; the secrets come in
over the same private socket a ``write`` uses, and each comparison is constant-time.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from native.errors import USAGE, CliError
from vault_core.items import is_reserved

MAX_SECRETS = 1000  # a vault holds at most 1000 items (vault_core.items.MAX_ITEMS)

# Opens the vault the server holds now with the keys held (native.write.Writer.saved).
Saved = Callable[[Any], Any]


def secrets_of(request: dict[str, Any]) -> list[bytes]:
    secrets = request.get("secrets")
    if not isinstance(secrets, list) or len(secrets) > MAX_SECRETS:
        raise CliError("malformed match request", USAGE, "bad_request")
    if not all(isinstance(s, str) and s for s in secrets):
        raise CliError("malformed match request", USAGE, "bad_request")
    return [s.encode() for s in secrets]


def match(vault: Any, wanted: list[bytes]) -> list[list[str]]:
    """For each secret, the names of the user's items holding exactly it."""
    found: list[list[str]] = [[] for _ in wanted]
    for info in vault.items():
        if is_reserved(info.name):
            continue
        secret = vault.get(info.id).secret
        held = secret.encode() if isinstance(secret, str) else bytes(secret)
        for i, candidate in enumerate(wanted):
            if hmac.compare_digest(held, candidate):
                found[i].append(info.name)
    return found


def answer(vault: Any, request: dict[str, Any], saved: Saved | None) -> dict[str, Any]:
    """``{"secrets": [...], "saved": bool}``: matched against the vault held or, with
    ``saved``, against the server's current revision opened with the keys held."""
    wanted = secrets_of(request)
    if not request.get("saved"):
        return {"ok": True, "revision": vault.revision, "matches": match(vault, wanted)}
    if saved is None:
        raise CliError(
            "this machine has no server to read the saved vault from (an adopted vault file)",
            USAGE,
            "no_server",
        )
    stored = saved(vault)
    try:
        return {"ok": True, "revision": stored.revision, "matches": match(stored, wanted)}
    finally:
        stored.lock()
