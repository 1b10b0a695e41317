"""The public header has one definition (vault_core.header), and the server's parser
(server/blobheader.py) agrees with vault_core on every vector and on real vaults, while
loading no code that can decrypt."""

from __future__ import annotations

import ast
import base64
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from server import blobheader
from tests.unit.conftest import FAST, PASSPHRASE
from tests.vectors import checker
from vault_core import Item, Vault, errors
from vault_core import container as layout

ROOT = Path(__file__).resolve().parents[2]
VAULT_VECTORS = [v for v in checker.load_vectors() if v["kind"] == "vault"]
# What the server may import from vault_core: the lazy package, its errors, the header,
# base64url and the audit chain's hash (all standard library only, no key involved), and
# teams, whose membership log it checks before storing an append (public keys and
# signatures only: docs/teams.md, "What the server checks").
SERVER_MAY_LOAD = {
    "vault_core",
    "vault_core.audit_chain",
    "vault_core.b64url",
    "vault_core.encoding",
    "vault_core.errors",
    "vault_core.fingerprints",
    "vault_core.header",
    "vault_core.teams",
}
# What loading the server must never load: opening a personal vault, a grant or a team
# session. (Importing vault_core.teams loads the team vault's and key boxes' code; the
# server imports none of it, which the test below checks in its source.)
SERVER_NEVER_LOADS = {"vault_core.vault", "vault_core.grants", "vault_core.teams.session"}
SERVER_NEVER_IMPORTS = {"open_team_key", "TeamVault", "TeamSession", "Vault", "teamvault", "keybox"}


def _blob(vector: dict[str, Any]) -> bytes:
    return base64.b64decode(vector["blob"]) + bytes(vector.get("append_zeros", 0))


def _server_view(blob: bytes) -> blobheader.PublicHeader | str:
    try:
        return blobheader.peek_header(blob)
    except blobheader.HeaderError as exc:
        return exc.code


@pytest.mark.parametrize("vector", VAULT_VECTORS, ids=[v["name"] for v in VAULT_VECTORS])
def test_the_servers_parser_agrees_with_vault_core_on_every_vector(vector: dict[str, Any]) -> None:
    blob = _blob(vector)
    seen = _server_view(blob)
    try:
        parsed: layout.Container | errors.VaultError = layout.parse(blob)
    except errors.VaultError as exc:
        parsed = exc
    if isinstance(seen, str):
        # The server refuses only what every client refuses too, with the format's code.
        assert vector["expect"] != "ok"
        assert seen in errors.ALL_ERRORS
        assert isinstance(parsed, errors.VaultError)
        if seen != "malformed" or len(blob) < blobheader.PUBLIC_HEADER_BYTES:
            assert parsed.code == seen  # steps 1-3 of format.md §6.1 are shared code
        return
    if isinstance(parsed, layout.Container):
        assert (seen.account_id, seen.vault_id, seen.revision) == (
            parsed.account_id,
            parsed.vault_id,
            parsed.revision,
        )
    if vector["expect"] == "ok":
        assert str(seen.vault_id) == vector["vault_id"] and seen.revision == vector["revision"]


def test_the_servers_parser_reads_real_vaults(account: uuid.UUID) -> None:
    vault = Vault.create(account, PASSPHRASE, kdf=FAST)
    blobs = [vault.save()]
    vault.add(Item(name="gh", kind="github", url="", secret="token"))
    blobs.append(vault.save())
    vault.change_passphrase(PASSPHRASE + " and more")
    blobs.append(vault.save())
    for revision, blob in enumerate(blobs, start=1):
        assert blobheader.peek_header(blob) == blobheader.PublicHeader(
            2, account, vault.vault_id, revision
        )
    # A vault a format-1 client wrote (format.md §4.1): the server still reads its header.
    format_1 = json.loads((ROOT / "tests/unit/data/format-1-three-items.json").read_text())
    header = blobheader.peek_header(base64.b64decode(format_1["blob"]))
    assert (header.version, str(header.account_id), header.revision) == (
        1,
        format_1["account_id"],
        1,
    )


def test_a_revision_out_of_range_is_malformed_for_server_and_clients(account: uuid.UUID) -> None:
    blob = bytearray(Vault.create(account, PASSPHRASE, kdf=FAST).save())
    for revision in (0, 2**63, 2**64 - 1):
        blob[38:46] = revision.to_bytes(8, "big")
        assert _server_view(bytes(blob)) == "malformed"
        with pytest.raises(errors.MalformedError):
            Vault.open(bytes(blob), PASSPHRASE, account_id=account)


def test_the_server_imports_only_what_it_may_from_vault_core() -> None:
    for path in (ROOT / "server").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vault_core"):
                assert node.module in SERVER_MAY_LOAD, f"{path}: from {node.module} import"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("vault_core"):
                        assert alias.name in SERVER_MAY_LOAD, f"{path}: import {alias.name}"


def test_loading_the_whole_server_loads_nothing_that_opens_a_vault() -> None:
    probe = """
import importlib, json, pkgutil, sys
import server
for info in pkgutil.walk_packages(server.__path__, "server."):
    # migrations run inside alembic; asgi builds the app from the environment's settings
    if not info.name.startswith(("server.migrations", "server.asgi")):
        importlib.import_module(info.name)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {"vault_core", "nacl"})))
"""
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    loaded = set(json.loads(out))
    assert "vault_core.header" in loaded  # the probe did load the server's parser
    assert "vault_core.teams.state" in loaded  # and its membership-log check
    assert not loaded & SERVER_NEVER_LOADS, sorted(loaded & SERVER_NEVER_LOADS)
    for path in (ROOT / "server").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vault_core"):
                names = {alias.name for alias in node.names}
                assert not names & SERVER_NEVER_IMPORTS, (path, names & SERVER_NEVER_IMPORTS)
