"""Every known-answer vector, checked inside Pyodide by the native suite's own checker, and
vaults and grants carried between the two runtimes in both directions."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pyodide import cross_runtime
from tests.pyodide.pyodide_harness import ROOT, PyodideError, PyodideSession

VECTOR_DIR = ROOT / "tests" / "vectors"
VECTORS = sorted(VECTOR_DIR.glob("*.json"))
ACCOUNT = "6f1d1c52-3d6e-4c55-9a55-0b8f1f0f4a11"
RUNNER = "0d5e8a80-9f0e-4a0b-9c7e-3c1f5e2b7d44"
PASSPHRASE = "correct horse battery staple, café ✓"


@pytest.fixture(scope="module")
def py(pyodide: PyodideSession) -> Iterator[PyodideSession]:
    pyodide.put_support_file(VECTOR_DIR / "checker.py")
    pyodide.put_support_file(Path(__file__).with_name("cross_runtime.py"))
    yield pyodide


def test_vectors_exist() -> None:
    assert len(VECTORS) >= 40, "tests/vectors went missing"


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_vector_inside_pyodide(py: PyodideSession, path: Path) -> None:
    vector = json.loads(path.read_text(encoding="utf-8"))
    assert py.call("checker", "check_vector", vector) is None


def test_pyodide_vault_opens_natively_and_back(py: PyodideSession) -> None:
    made: dict[str, Any] = py.call("cross_runtime", "create", ACCOUNT, PASSPHRASE, RUNNER)
    assert made["revision"] == 1 and len(made["items"]) == len(cross_runtime.ITEMS)
    # Native opens what Pyodide wrote, edits it and saves revision 2 ...
    native = cross_runtime.open_and_edit(made["blob"], PASSPHRASE, ACCOUNT, made["vault_id"], 1)
    assert native["before"] == {"revision": 1, "items": made["items"]}
    assert native["after"]["revision"] == 2 and len(native["after"]["items"]) == 3
    # ... which Pyodide opens, and edits again.
    back = py.call(
        "cross_runtime", "open_and_edit", native["blob"], PASSPHRASE, ACCOUNT, made["vault_id"], 2
    )
    assert back["before"] == native["after"]
    assert back["after"]["revision"] == 3
    # Both runtimes refuse the same bad inputs with the same typed errors.
    for args, code in [
        ((PASSPHRASE, ACCOUNT, 0), None),
        (("wrong passphrase", ACCOUNT, 0), "wrong_passphrase"),
        ((PASSPHRASE, str(uuid.UUID(int=1)), 0), "wrong_account"),
        ((PASSPHRASE, ACCOUNT, 3), "rollback"),
    ]:
        assert cross_runtime.open_error(native["blob"], *args) == code
        assert py.call("cross_runtime", "open_error", native["blob"], *args) == code


def test_native_vault_and_grant_open_in_pyodide(py: PyodideSession) -> None:
    made = cross_runtime.create(ACCOUNT, PASSPHRASE, RUNNER)
    inside = py.call(
        "cross_runtime", "open_and_edit", made["blob"], PASSPHRASE, ACCOUNT, made["vault_id"], 1
    )
    assert inside["before"] == {"revision": 1, "items": made["items"]}
    again = cross_runtime.open_and_edit(inside["blob"], PASSPHRASE, ACCOUNT, made["vault_id"], 2)
    assert again["before"] == inside["after"]
    # Grants: sealed natively, opened in Pyodide, and the other way round.
    native_grant = cross_runtime.read_grant(
        made["grant"], ACCOUNT, RUNNER, made["owner_verify_key"]
    )
    assert (
        py.call(
            "cross_runtime", "read_grant", made["grant"], ACCOUNT, RUNNER, made["owner_verify_key"]
        )
        == native_grant
    )
    assert sorted(g["secret"] for g in native_grant) == sorted(
        i["secret"] for i in cross_runtime.ITEMS
    )
    made_inside = py.call("cross_runtime", "create", ACCOUNT, PASSPHRASE, RUNNER)
    assert (
        cross_runtime.read_grant(
            made_inside["grant"], ACCOUNT, RUNNER, made_inside["owner_verify_key"]
        )
        == native_grant
    )


def test_checker_inside_pyodide_can_fail(py: PyodideSession) -> None:
    # Guard against a vacuous run: a vector with the wrong expectation must be refused.
    vector = json.loads((VECTOR_DIR / "ok-empty.json").read_text(encoding="utf-8"))
    vector["expect"] = "wrong_passphrase"
    with pytest.raises(PyodideError) as caught:
        py.call("checker", "check_vector", vector)
    assert caught.value.error == "builtins.AssertionError"
