"""The known-answer vectors: vault_core, an independent spec reader and argon2-cffi agree."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import pytest
from argon2.low_level import Type, hash_secret_raw

from tests.support.report import record
from tests.unit import spec_reader, spec_reader_teamgrants, spec_reader_teams
from tests.vectors import checker, generate

VECTORS = checker.load_vectors()
IDS = [v["name"] for v in VECTORS]


def test_the_vector_set_covers_every_decoding_error() -> None:
    expected = {
        "ok",
        "malformed",
        "non_canonical",
        "unsupported_version",
        "limit_exceeded",
        "weak_kdf",
        "invalid_item",
        "wrong_account",
        "wrong_vault",
        "wrong_passphrase",
        "header_auth",
        "body_auth",
        "item_duplicated",
        "item_replayed",
        "item_missing",
        "rollback",
        "downgrade",
        "fork",
        "lineage",
        "key_revoked",
        "grant_auth",
        "grant_binding",
        "pin",
        "grant_list",
        "bad_key",
        "bad_fingerprint",
        "id_taken",
        "reserved_name",
        "state_auth",
        "identity_auth",
        "identity_binding",
        "team_log",
        "team_log_gap",
        "team_log_fork",
        "team_log_rollback",
        "team_log_signature",
        "team_permission",
        "team_key",
        "team_key_check",
        "stale_epoch",
        "team_vault_signature",
    }
    assert {v["expect"] for v in VECTORS} == expected


def _read_record(vector: dict[str, Any]) -> Any:
    """The independent reader on a vector of §6.6's names, §12 or §13."""
    kind = vector["kind"]
    if kind == "pins":
        return spec_reader.read_pins(vector["secret"])
    if kind == "pin_add":
        pin = (vector["runner_id"], bytes.fromhex(vector["key"]), vector["pin_name"])
        return spec_reader.add_pin(vector["secret"], *pin)
    if kind == "grant_list":
        return spec_reader.read_grant_list(vector["secret"])
    if kind == "fingerprint":
        return spec_reader.fingerprint(vector["key_type"], bytes.fromhex(vector["key"]))
    if kind == "fingerprint_input":
        return spec_reader.normalise_typed(vector["text"])
    if kind == "item_name":
        return spec_reader.check_item_name(vector["item_name"])
    if kind == "lineage":
        return spec_reader.read_lineage(vector["secret"], vector["revision"])
    if kind == "lineage_next":
        parent = vector["parent"]
        return spec_reader.next_lineage(
            vector["previous"],
            parent,
            vector["device"],
            vector["at"],
            vector["audit"],
        )
    if kind == "descent":
        lineage = vector["lineage"]
        return spec_reader.check_descent(
            vector["memory"],
            vector["version"],
            vector["revision"],
            vector["digest"],
            None if lineage is None else spec_reader.read_lineage(lineage, vector["revision"]),
            vector["device_id"],
        )
    if kind == "revoked":
        check = None
        if "check_id" in vector:
            key = vector["check_key"]
            check = (vector["check_id"], None if key is None else bytes.fromhex(key))
        return spec_reader.read_revoked(vector["secret"], check)
    if kind == "identity":
        value = spec_reader_teams.read_identity(
            bytes.fromhex(vector["bundle"]), vector["account_id"]
        )
        if "seed" in vector:
            derived = spec_reader_teams.derive_identity(
                vector["account_id"], bytes.fromhex(vector["seed"])
            )
            assert derived.hex() == vector["bundle"], "identity derivation differs"
        return value
    if kind == "team_log":
        entries = [base64.b64decode(e) for e in vector["entries"]]
        return spec_reader_teams.state_value(spec_reader_teams.replay(entries)[-1])
    if kind == "team_key_box":
        return spec_reader_teams.open_box(
            base64.b64decode(vector["box"]),
            vector["account_id"],
            bytes.fromhex(vector["seed"]),
            vector["team_id"],
            int(vector["epoch"]),
            bytes.fromhex(vector["key_check"]),
        ).hex()
    if kind == "team_grant":
        return spec_reader_teamgrants.read_team_grant(
            base64.b64decode(vector["blob"]),
            bytes.fromhex(vector["runner_seed"]),
            vector["account_id"],
            vector["runner_id"],
            vector["team_id"],
            bytes.fromhex(vector["owner_verify_key"]),
            vector["min_revision"],
            [base64.b64decode(e) for e in vector["entries"]],
        )
    if kind == "team_vault":
        return spec_reader_teams.read_team_vault(
            base64.b64decode(vector["blob"]),
            [base64.b64decode(e) for e in vector["entries"]],
            vector["account_id"],
            bytes.fromhex(vector["seed"]),
            vector["memory"],
        )
    assert kind == "local_state"
    return spec_reader.open_local_state(
        base64.b64decode(vector["blob"]),
        bytes.fromhex(vector["key"]),
        bytes.fromhex(vector["machine_id"]),
        vector["min_generation"],
    )


RECORDS = [v for v in VECTORS if v["kind"] not in ("vault", "grant", "argon2id")]


@pytest.mark.parametrize("vector", RECORDS, ids=[v["name"] for v in RECORDS])
def test_an_independent_reader_agrees_on_names_fingerprints_records_and_state(
    vector: dict[str, Any],
) -> None:
    try:
        value = _read_record(vector)
    except spec_reader.Refused as refused:
        assert refused.code == vector["expect"]
        return
    assert vector["expect"] == "ok"
    assert value == vector.get("value")


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_vault_core_meets_the_vector(vector: dict[str, Any]) -> None:
    met = False
    try:
        checker.check_vector(vector)
        met = True
    finally:  # what was observed, met or not, before the failure propagates
        if vector["expect"] != "ok":
            record(
                "tampering", "failure vectors (one or two faults each)", tried=1, detected=int(met)
            )
        else:  # a control: its own category, never summed into the tampering tried
            record("controls", "genuine vectors open", checked=1, lost=int(not met))


@pytest.mark.parametrize(
    "vector",
    [v for v in VECTORS if v["kind"] in ("vault", "grant")],
    ids=[v["name"] for v in VECTORS if v["kind"] in ("vault", "grant")],
)
def test_an_independent_reader_of_the_spec_agrees(vector: dict[str, Any]) -> None:
    blob = base64.b64decode(vector["blob"]) + bytes(vector.get("append_zeros", 0))
    try:
        if vector["kind"] == "vault":
            version, revision, items = spec_reader.read_vault(
                blob,
                vector["passphrase"],
                uuid.UUID(vector["account_id"]),
                uuid.UUID(vector["vault_id"]) if vector["vault_id"] else None,
                vector["min_revision"],
                vector["memory"],
                vector["device_id"],
            )
            assert vector["expect"] != "ok" or version == vector["format"]
        else:
            revision, items = spec_reader.read_grant(
                blob,
                bytes.fromhex(vector["runner_seed"]),
                uuid.UUID(vector["account_id"]),
                uuid.UUID(vector["runner_id"]),
                bytes.fromhex(vector["owner_verify_key"]),
                vector["min_revision"],
            )
    except spec_reader.Refused as refused:
        assert refused.code == vector["expect"]
        return
    assert vector["expect"] == "ok"
    assert revision == vector["revision"]
    assert sorted(items, key=lambda d: d["id"]) == vector["items"]


def _argon2_cffi(passphrase: str, salt_hex: str, ops: int, mem_kib: int) -> str:
    import unicodedata

    return hash_secret_raw(
        unicodedata.normalize("NFC", passphrase).encode(),
        bytes.fromhex(salt_hex),
        time_cost=ops,
        memory_cost=mem_kib,
        parallelism=1,
        hash_len=32,
        type=Type.ID,
    ).hex()


def test_argon2_cffi_reproduces_every_argon2id_output() -> None:
    checked = 0
    for vector in VECTORS:
        if vector["kind"] == "argon2id":
            assert (
                _argon2_cffi(vector["passphrase"], vector["salt"], vector["ops"], vector["mem_kib"])
                == vector["output"]
            )
            checked += 1
        elif "kek" in vector:
            kdf = vector["kdf"]
            assert (
                _argon2_cffi(vector["passphrase"], kdf["salt"], kdf["ops"], kdf["mem_kib"])
                == vector["kek"]
            )
            checked += 1
    assert checked >= 8


def test_the_design_briefs_argon2id_check_value() -> None:
    design = next(v for v in VECTORS if v["name"] == "argon2id-design-check")
    assert design["output"].startswith("7305faeb") and design["output"].endswith("fb96")


def test_regenerating_gives_identical_files(tmp_path: Path) -> None:
    written = generate.generate(tmp_path)
    committed = sorted(checker.VECTOR_DIR.glob("*.json"))
    assert [p.name for p in sorted(written)] == [p.name for p in committed]
    for path in committed:
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name
