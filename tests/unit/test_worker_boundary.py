"""The worker's package reaches vault_core through its public API only: the names
vault_core exports, and its public modules (errors, b64url, audit_chain, lineage,
token_formats, sshkeys, and teams with its session).
Anything else it needs is made public on purpose first."""

from __future__ import annotations

import ast
from pathlib import Path

import vault_core

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_MODULES = {
    "vault_core.errors",
    "vault_core.b64url",
    "vault_core.audit_chain",
    "vault_core.lineage",
    "vault_core.token_formats",
    "vault_core.sshkeys",
    "vault_core.teams",
    "vault_core.teams.session",
}


def test_vault_web_imports_only_public_vault_core_names() -> None:
    private = []
    for path in sorted((ROOT / "vault_web").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vault_core"):
                if node.module == "vault_core":
                    private += [a.name for a in node.names if a.name not in vault_core.__all__]
                elif node.module not in PUBLIC_MODULES:
                    private.append(f"{path.name}: {node.module}")
            elif isinstance(node, ast.Import):
                private += [a.name for a in node.names if a.name.startswith("vault_core.")]
    assert private == []
