"""Clients' bookkeeping items (reserved names) never reach `list`, `get`, `run` or git."""

from __future__ import annotations

import uuid

import pytest

from native.answers import answer
from native.errors import CliError
from vault_core import Item, KdfParams, RunnerGrants, Vault


def test_reserved_items_are_hidden_from_every_consumer() -> None:
    vault = Vault.create(uuid.uuid4(), "a passphrase for this test", kdf=KdfParams.floor())
    vault.add(Item(name="github", kind="github", url="https://github.com", secret="tok"))
    vault.set_runner_grants(RunnerGrants({uuid.uuid4(): [vault.lookup("github").id]}))
    assert [i["name"] for i in answer(vault, "list", {})["items"]] == ["github"]
    assert list(answer(vault, "env", {})["values"]) == ["github"]
    with pytest.raises(CliError):
        answer(vault, "get", {"name": ".zkvault-grants"})
    found = answer(vault, "credential", {"protocol": "https", "host": "github.com"})
    assert found["item"] == "github"
