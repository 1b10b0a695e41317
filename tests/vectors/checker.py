"""Checks one known-answer vector. The same code runs natively and inside Pyodide.

Standard library and vault_core only: tests/pyodide loads this file into Pyodide.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vault_core import (
    Item,
    KdfParams,
    RunnerGrants,
    RunnerKeyPair,
    RunnerPins,
    Vault,
    check_team_grant_log,
    fingerprint,
    normalise_fingerprint,
    open_grant,
    open_team_grant,
)
from vault_core.errors import VaultError
from vault_core.kdf import derive_kek
from vault_core.lineage import (
    AuditAnchor,
    Device,
    Lineage,
    VaultMemory,
    Write,
    check_descent,
    remember,
)
from vault_core.local_state import open_state, read_state_header
from vault_core.revocations import Revocations
from vault_core.teams import (
    IdentityKeys,
    TeamMemory,
    open_team_key,
    parse_identity,
    replay,
    replay_states,
)
from vault_core.teams.contacts import Contacts
from vault_core.teams.session import TeamSession

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
        memory = vector.get("memory")
        device_id = vector.get("device_id")
        vault = Vault.open(
            blob,
            vector["passphrase"],
            account_id=uuid.UUID(vector["account_id"]),
            vault_id=_optional_uuid(vector["vault_id"]),
            min_revision=vector["min_revision"],
            memory=None if memory is None else VaultMemory.from_json(memory),
            device=None if device_id is None else Device(device_id, "vector reader"),
        )
        assert vault.revision == vector["revision"], "revision differs"
        assert vault.version == vector["format"], "format differs"
        found = []
        for info in vault.items(reserved=True):  # bookkeeping included: §6.1 opens all
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


def _pins(vector: dict[str, Any]) -> Any:
    pins = RunnerPins.parse(vector["secret"])
    return {str(r): {"key": pin.key.hex(), "name": pin.name} for r, pin in pins.runners.items()}


def _pin_add(vector: dict[str, Any]) -> Any:
    pins = RunnerPins.parse(vector["secret"])
    pins.pin(vector["runner_id"], bytes.fromhex(vector["key"]), vector["pin_name"])
    return pins.dumps()


def _grant_list(vector: dict[str, Any]) -> Any:
    return RunnerGrants.parse(vector["secret"]).to_dict()


def _fingerprint(vector: dict[str, Any]) -> Any:
    return fingerprint(vector["key_type"], bytes.fromhex(vector["key"]))


def _fingerprint_input(vector: dict[str, Any]) -> Any:
    return normalise_fingerprint(vector["text"])


_NAMES: list[Vault] = []


def _item_name(vector: dict[str, Any]) -> Any:
    """Adding, then renaming to, the name: both refused alike, or both accepted."""
    if not _NAMES:  # one vault for every name vector (the KDF runs once)
        _NAMES.append(Vault.create(uuid.UUID(int=1), "item name vectors", kdf=KdfParams.floor()))
    vault = _NAMES[0]
    for info in vault.items():
        vault.remove(info.id)
    placeholder = vault.add(Item(name="placeholder", kind="generic", url="", secret="s"))
    item = Item(name=vector["item_name"], kind="generic", url="", secret="s")
    outcomes = []
    for write in (lambda: vault.add(item), lambda: vault.update(placeholder, item)):
        try:
            write()
            outcomes.append("ok")
        except VaultError as error:
            outcomes.append(error.code)
        for info in vault.items():
            if info.id != placeholder:
                vault.remove(info.id)
    assert outcomes[0] == outcomes[1], f"add and rename differ: {outcomes}"
    if outcomes[0] != "ok":
        raise _Refused(outcomes[0])
    return None


class _Refused(VaultError):
    """Carries the code an operation refused with, observed above."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.refused = code


def _local_state(vector: dict[str, Any]) -> Any:
    blob = base64.b64decode(vector["blob"])
    plaintext = open_state(
        blob,
        bytes.fromhex(vector["key"]),
        machine_id=bytes.fromhex(vector["machine_id"]),
        min_generation=vector["min_generation"],
    )
    return {"generation": read_state_header(blob).generation, "plaintext": plaintext.hex()}


def _lineage_value(lineage: Lineage) -> dict[str, Any]:
    def write(w: Write | None) -> Any:
        return None if w is None else {"digest": w.digest, "rev": w.revision}

    return {
        "parent": write(lineage.parent),
        "devices": {
            d: {**write(e.write), "name": e.name} for d, e in sorted(lineage.devices.items())
        },
        "floor": lineage.floor,
        "saved_at": lineage.saved_at,
        "saved_by": lineage.saved_by.id,
        "saved_name": lineage.saved_by.name,
        "audit": None
        if lineage.audit is None
        else {"head": lineage.audit.head, "seq": lineage.audit.seq},
    }


def _lineage(vector: dict[str, Any]) -> Any:
    lineage = Lineage.parse(vector["secret"])
    lineage.check_revision(vector["revision"])
    return _lineage_value(lineage)


def _write(doc: Any) -> Write | None:
    return None if doc is None else Write(doc["rev"], doc["digest"])


def _lineage_next(vector: dict[str, Any]) -> Any:
    previous = vector["previous"]
    audit = vector["audit"]
    following = Lineage.following(
        None if previous is None else Lineage.parse(previous),
        _write(vector["parent"]),
        Device(vector["device"]["id"], vector["device"]["name"]),
        vector["at"],
        None if audit is None else AuditAnchor(audit["seq"], audit["head"]),
    )
    return following.dumps()


def _descent(vector: dict[str, Any]) -> Any:
    memory = None if vector["memory"] is None else VaultMemory.from_json(vector["memory"])
    lineage = None if vector["lineage"] is None else Lineage.parse(vector["lineage"])
    facts: dict[str, Any] = {
        "version": vector["version"],
        "write": Write(vector["revision"], vector["digest"]),
        "lineage": lineage,
        "device_id": vector["device_id"],
    }
    check_descent(memory, **facts)
    return remember(memory, **facts).to_json()


def _revoked(vector: dict[str, Any]) -> Any:
    revoked = Revocations.parse(vector["secret"])
    if "check_id" in vector:
        check_id, check_key = vector["check_id"], vector["check_key"]
        revoked.check_allowed(
            None if check_id is None else uuid.UUID(check_id),
            None if check_key is None else bytes.fromhex(check_key),
        )
    return {
        str(d): {"at": r.at, "key": r.key.hex(), "kind": r.kind, "name": r.name}
        for d, r in revoked.devices.items()
    }


def _identity(vector: dict[str, Any]) -> Any:
    account = vector["account_id"]
    identity = parse_identity(
        bytes.fromhex(vector["bundle"]), None if account is None else uuid.UUID(hex=account)
    )
    if "seed" in vector:  # the keys derive from the seed as §15.1 says
        keys = IdentityKeys(identity.account_id, bytes.fromhex(vector["seed"]))
        assert keys.bundle() == identity.bundle, "identity derivation differs"
    return {
        "account_id": identity.account_id.hex,
        "sign_key": identity.sign_key.hex(),
        "box_key": identity.box_key.hex(),
        "safety_number": identity.safety_number,
    }


def _contacts(vector: dict[str, Any]) -> Any:
    contacts = Contacts.read(vector["records"].get)
    return {
        c.account_id.hex: {
            "at": c.at,
            "email": c.email,
            "verified": c.verified,
            "sign_key": c.sign_key.hex(),
            "box_key": c.box_key.hex(),
        }
        for c in sorted(contacts.contacts.values(), key=lambda c: c.account_id.hex)
    }


def _team_state(state: Any) -> dict[str, Any]:
    return {
        "team": state.team_id,
        "name": state.name,
        "seq": str(state.seq),
        "head": state.head.hex(),
        "epoch": str(state.epoch),
        "key_check": state.key_check.hex(),
        "left": sorted(state.left_since_rotation),
        "members": {
            a: {
                "email": m.email,
                "role": m.role,
                "verified": m.verified,
                "sign_key": m.sign_key.hex(),
                "box_key": m.box_key.hex(),
            }
            for a, m in sorted(state.members.items())
        },
    }


def _team_log(vector: dict[str, Any]) -> Any:
    return _team_state(replay([base64.b64decode(e) for e in vector["entries"]]))


def _member_keys(vector: dict[str, Any]) -> IdentityKeys:
    return IdentityKeys(uuid.UUID(hex=vector["account_id"]), bytes.fromhex(vector["seed"]))


def _team_key_box(vector: dict[str, Any]) -> Any:
    key = open_team_key(
        base64.b64decode(vector["box"]),
        _member_keys(vector),
        uuid.UUID(hex=vector["team_id"]),
        int(vector["epoch"]),
        bytes.fromhex(vector["key_check"]),
    )
    return key.hex()


def _team_vault(vector: dict[str, Any]) -> Any:
    blob = base64.b64decode(vector["blob"])
    memory = vector["memory"]
    session = TeamSession.open(
        _member_keys(vector),
        [base64.b64decode(e) for e in vector["entries"]],
        blob,
        None
        if memory is None
        else TeamMemory.parse(json.dumps(memory, sort_keys=True, separators=(",", ":"))),
    )
    items = []
    for info in session.items():
        entry = json.loads(session.vault.get(info.id).to_json())
        entry["id"] = info.id.hex
        entry["revision"] = str(info.revision)
        items.append(entry)
    vault = session.vault
    header = {
        "revision": str(vault.revision),
        "epoch": str(vault.epoch),
        "log_seq": str(vault.log_seq),
        "writer": vault.writer.hex if vault.writer else "",
    }
    anchor = vault.audit_anchor
    vault.lock()
    return {
        "audit": None if anchor is None else {"head": anchor.head, "seq": str(anchor.seq)},
        "header": header,
        "items": sorted(items, key=lambda d: d["id"]),
    }


def _team_grant(vector: dict[str, Any]) -> Any:
    keypair = RunnerKeyPair(bytes.fromhex(vector["runner_seed"]))
    try:
        grant = open_team_grant(
            base64.b64decode(vector["blob"]),
            keypair=keypair,
            account_id=uuid.UUID(hex=vector["account_id"]),
            runner_id=uuid.UUID(hex=vector["runner_id"]),
            team_id=uuid.UUID(hex=vector["team_id"]),
            owner_verify_key=bytes.fromhex(vector["owner_verify_key"]),
            min_revision=vector["min_revision"],
        )
    finally:
        keypair.wipe()
    check_team_grant_log(grant, replay_states([base64.b64decode(e) for e in vector["entries"]]))
    items = []
    for granted in grant.items:
        entry = json.loads(granted.item.to_json())
        entry["id"] = granted.id.hex
        items.append(entry)
    return {
        "revision": grant.revision,
        "epoch": str(grant.epoch),
        "log_seq": str(grant.log_seq),
        "log_head": grant.log_head.hex(),
        "grantor_sign_key": grant.grantor_sign_key.hex(),
        "items": items,
    }


_RECORDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "team_grant": _team_grant,
    "identity": _identity,
    "contacts": _contacts,
    "team_log": _team_log,
    "team_key_box": _team_key_box,
    "team_vault": _team_vault,
    "lineage": _lineage,
    "lineage_next": _lineage_next,
    "descent": _descent,
    "revoked": _revoked,
    "pins": _pins,
    "pin_add": _pin_add,
    "grant_list": _grant_list,
    "fingerprint": _fingerprint,
    "fingerprint_input": _fingerprint_input,
    "item_name": _item_name,
    "local_state": _local_state,
}


def _check_record(vector: dict[str, Any]) -> None:
    name = vector["name"]
    try:
        value = _RECORDS[vector["kind"]](vector)
    except VaultError as error:
        code = getattr(error, "refused", error.code)
        assert code == vector["expect"], f"{name}: expected {vector['expect']}, got {code}"
        return
    assert vector["expect"] == "ok", f"{name}: expected {vector['expect']}, but it was accepted"
    assert value == vector.get("value"), f"{name}: value differs"


def check_vector(vector: dict[str, Any]) -> None:
    """Raise AssertionError when vault_core does not do what the vector says."""
    name = vector["name"]
    if vector["kind"] in _RECORDS:
        _check_record(vector)
        return
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
