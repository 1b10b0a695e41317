"""Vault and grant round trips, run unchanged in CPython and inside Pyodide.

Each runtime calls these on blobs the other runtime made; inputs and outputs are
JSON-friendly (base64 blobs, hex keys, str UUIDs) so they cross the harness as they are.
Standard library and vault_core only.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any, NotRequired, TypedDict

from vault_core import Item, KdfParams, RunnerKeyPair, Vault, open_grant, seal_grant
from vault_core.errors import VaultError


class ItemSpec(TypedDict):
    """Item's constructor arguments, JSON-friendly."""

    name: str
    kind: str
    url: str
    secret: str
    username: NotRequired[str]
    scopes: NotRequired[tuple[str, ...]]
    expires: NotRequired[str]
    note: NotRequired[str]


ITEMS: list[ItemSpec] = [
    {
        "name": "gh-ci",
        "kind": "github",
        "url": "https://github.com",
        "username": "bot",
        "secret": "ghp_CROSSRUNTIMEsecret0123456789abcdef",
        "scopes": ("repo", "read:org"),
    },
    {
        "name": "gitlab ✓ prod",
        "kind": "gitlab",
        "url": "https://gitlab.example",
        "secret": "glpat-ünïcødé-🔑",
        "expires": "2030-01-31",
        "note": "rotate yearly",
    },
]
RUNNER_SEED = bytes(range(32))


def _describe(vault: Vault) -> list[dict[str, Any]]:
    found = []
    for info in vault.items():
        entry = info.to_dict()
        entry["secret"] = vault.get(info.id).secret
        found.append(entry)
    return sorted(found, key=lambda d: d["name"])


def create(account_id: str, passphrase: str, runner_id: str) -> dict[str, Any]:
    """A new vault holding ITEMS, saved once, plus a grant of every item to the test runner."""
    vault = Vault.create(uuid.UUID(account_id), passphrase, kdf=KdfParams.floor())
    ids = [vault.add(Item(**spec)) for spec in ITEMS]
    blob = vault.save()
    grant = seal_grant(
        vault, uuid.UUID(runner_id), RunnerKeyPair(RUNNER_SEED).public_key, ids, revision=1
    )
    result = {
        "blob": base64.b64encode(blob).decode(),
        "vault_id": str(vault.vault_id),
        "revision": vault.revision,
        "items": _describe(vault),
        "grant": base64.b64encode(grant).decode(),
        "owner_verify_key": vault.owner_verify_key.hex(),
    }
    vault.lock()
    return result


def open_and_edit(
    blob: str, passphrase: str, account_id: str, vault_id: str, min_revision: int
) -> dict[str, Any]:
    """Open (fully verified), list, then add an item and save the next revision."""
    vault = Vault.open(
        base64.b64decode(blob),
        passphrase,
        account_id=uuid.UUID(account_id),
        vault_id=uuid.UUID(vault_id),
        min_revision=min_revision,
    )
    before = {"revision": vault.revision, "items": _describe(vault)}
    vault.add(
        Item(
            name=f"added for revision {vault.revision + 1}",
            kind="generic",
            url="https://example.com",
            secret="s3cr3t-from-the-other-runtime",
        )
    )
    edited = vault.save()
    after = {"revision": vault.revision, "items": _describe(vault)}
    vault.lock()
    return {"before": before, "after": after, "blob": base64.b64encode(edited).decode()}


def open_error(blob: str, passphrase: str, account_id: str, min_revision: int) -> str | None:
    """The error code opening fails with, or None when it opens."""
    try:
        Vault.open(
            base64.b64decode(blob),
            passphrase,
            account_id=uuid.UUID(account_id),
            min_revision=min_revision,
        ).lock()
    except VaultError as error:
        return error.code
    return None


def read_grant(
    grant: str, account_id: str, runner_id: str, owner_verify_key: str
) -> list[dict[str, Any]]:
    opened = open_grant(
        base64.b64decode(grant),
        RunnerKeyPair(RUNNER_SEED),
        account_id=uuid.UUID(account_id),
        runner_id=uuid.UUID(runner_id),
        owner_verify_key=bytes.fromhex(owner_verify_key),
    )
    return sorted(
        (granted.item.__dict__ | {"scopes": list(granted.item.scopes)} for granted in opened.items),
        key=lambda d: str(d["name"]),
    )
