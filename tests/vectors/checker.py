"""Checks one known-answer vector. The same code runs natively and inside Pyodide.

Standard library and vault_core only: tests/pyodide loads this file into Pyodide.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

from vault_core import KdfParams, RunnerKeyPair, Vault, open_grant
from vault_core.errors import VaultError
from vault_core.kdf import derive_kek

VECTOR_DIR = Path(__file__).parent


def load_vectors(directory: Path = VECTOR_DIR) -> list[dict[str, Any]]:
    return [
        json.loads(path.read_text(encoding="utf-8")) for path in sorted(directory.glob("*.json"))
    ]


def _optional_uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def _open(vector: dict[str, Any]) -> list[dict[str, Any]]:
    # append_zeros keeps the oversized vectors small on disk.
    blob = base64.b64decode(vector["blob"]) + bytes(vector.get("append_zeros", 0))
    if vector["kind"] == "vault":
        vault = Vault.open(
            blob,
            vector["passphrase"],
            account_id=uuid.UUID(vector["account_id"]),
            vault_id=_optional_uuid(vector["vault_id"]),
            min_revision=vector["min_revision"],
        )
        assert vault.revision == vector["revision"], "revision differs"
        found = []
        for info in vault.items():
            entry = info.to_dict()
            entry["secret"] = vault.get(info.id).secret
            found.append(entry)
        vault.lock()
        return sorted(found, key=lambda d: d["id"])
    runner = RunnerKeyPair(bytes.fromhex(vector["runner_seed"]))
    assert runner.public_key.hex() == vector["runner_public_key"], "runner key derivation"
    grant = open_grant(
        blob,
        runner,
        account_id=uuid.UUID(vector["account_id"]),
        runner_id=uuid.UUID(vector["runner_id"]),
        owner_verify_key=bytes.fromhex(vector["owner_verify_key"]),
        min_revision=vector["min_revision"],
    )
    assert grant.revision == vector["revision"], "grant revision differs"
    out = []
    for granted in grant.items:
        entry = json.loads(granted.item.to_json())
        entry["id"] = granted.id.hex
        out.append(entry)
    return out


def check_vector(vector: dict[str, Any]) -> None:
    """Raise AssertionError when vault_core does not do what the vector says."""
    name = vector["name"]
    if vector["kind"] == "argon2id":
        params = KdfParams(ops=vector["ops"], mem_kib=vector["mem_kib"])
        kek = derive_kek(vector["passphrase"], bytes.fromhex(vector["salt"]), params)
        assert kek.hex() == vector["output"], f"{name}: Argon2id output differs"
        return
    try:
        items = _open(vector)
    except VaultError as error:
        assert error.code == vector["expect"], (
            f"{name}: expected {vector['expect']}, got {error.code}"
        )
        return
    assert vector["expect"] == "ok", f"{name}: expected {vector['expect']}, but it opened"
    assert items == vector["items"], f"{name}: items differ"
    if "kek" in vector:
        kdf = vector["kdf"]
        kek = derive_kek(
            vector["passphrase"],
            bytes.fromhex(kdf["salt"]),
            KdfParams(ops=kdf["ops"], mem_kib=kdf["mem_kib"], kdf_id=kdf["id"]),
        )
        assert kek.hex() == vector["kek"], f"{name}: key-encryption key differs"


def check_all(directory: Path = VECTOR_DIR) -> int:
    """Check every vector in ``directory``; returns how many were checked."""
    vectors = load_vectors(directory)
    for vector in vectors:
        check_vector(vector)
    return len(vectors)
