"""Every vault error code has one message (vault_core.errors), and the CLI and the web app
show that message: neither keeps a table of its own."""

from __future__ import annotations

import ast
import importlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from native import vaulterrors
from tests.unit.conftest import FAST, PASSPHRASE
from vault_core import Vault, errors

ROOT = Path(__file__).resolve().parents[2]
CODES = sorted(errors.ALL_ERRORS)


def test_every_code_has_one_plain_sentence() -> None:
    assert len(CODES) == 53
    for code in CODES:
        summary = errors.ALL_ERRORS[code].summary
        assert summary == errors.MESSAGES[code]
        assert summary[:1].isupper() and summary.endswith(".") and "\n" not in summary, code
    assert len(set(errors.MESSAGES.values())) == len(CODES), "two codes read alike"


@pytest.mark.parametrize("code", CODES)
def test_the_cli_shows_the_message_with_an_exit_code_and_a_next_step(code: str) -> None:
    exit_code, next_step = vaulterrors.NEXT_STEPS[code]
    error = vaulterrors.translate(errors.ALL_ERRORS[code]())
    summary = errors.MESSAGES[code]
    assert error.message == f"{summary[0].lower()}{summary[1:-1]}; {next_step}"
    assert (error.exit_code, error.code) == (exit_code, code)


def test_the_cli_lists_no_code_that_vault_core_lacks() -> None:
    assert sorted(vaulterrors.NEXT_STEPS) == CODES


@pytest.fixture
def web_session() -> Iterator[ModuleType]:
    """The worker's session module, fresh (it keeps one session in module state)."""
    yield importlib.reload(importlib.import_module("vault_web.worker_vault"))


def _dispatch(session: ModuleType, op: str, **args: object) -> dict[str, object]:
    answer: dict[str, object] = json.loads(session.dispatch(op, json.dumps(args)))
    return answer


def test_the_web_app_shows_the_same_messages(web_session: ModuleType) -> None:
    assert web_session.MESSAGES is errors.MESSAGES
    account = uuid.uuid4()
    blob = bytearray(Vault.create(account, PASSPHRASE, kdf=FAST).save())
    encoded = web_session.b64e(bytes(blob))
    wrong = _dispatch(
        web_session, "unlock", account_id=str(account), blob=encoded, passphrase="not it"
    )
    assert wrong == {"ok": False, "code": "wrong_passphrase", "message": "Wrong passphrase."}
    blob[150] ^= 1  # past the header: the header MAC fails
    tampered = _dispatch(
        web_session,
        "unlock",
        account_id=str(account),
        blob=web_session.b64e(bytes(blob)),
        passphrase=PASSPHRASE,
    )
    assert tampered["message"] == errors.MESSAGES["header_auth"]
    padded = _dispatch(
        web_session, "unlock", account_id=str(account), blob=encoded + "=", passphrase=PASSPHRASE
    )
    assert padded["code"] == "malformed"  # the strict decoder: padding is refused
    assert padded["message"] == errors.describe(errors.MalformedError("not base64url"))


def _error_tables(path: Path) -> list[int]:
    """Lines of dict literals keyed by three or more vault error codes: a copied table."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
            if len(keys & set(CODES)) >= 3:
                found.append(node.lineno)
    return found


def test_no_other_module_keeps_its_own_message_table() -> None:
    tables = {
        path.relative_to(ROOT).as_posix(): lines
        for folder in ("native", "web", "server", "vault_core")
        for path in sorted((ROOT / folder).glob("**/*.py"))
        if "dist" not in path.parts and (lines := _error_tables(path))
    }
    # The only one left is the CLI's, and it holds exit codes and next steps, not messages.
    assert set(tables) == {"native/vaulterrors.py"}, tables
