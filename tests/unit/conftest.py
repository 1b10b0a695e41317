from __future__ import annotations

import uuid

import pytest

from vault_core import Item, KdfParams, Vault

FAST = KdfParams.floor()
PASSPHRASE = "tr0ub4dor & a long tail of words"
SECRET = "ghp_SECRETSECRETSECRET0123456789abcdef"


@pytest.fixture
def account() -> uuid.UUID:
    return uuid.uuid4()


@pytest.fixture
def github_item() -> Item:
    return Item(name="gh", kind="github", url="https://github.com", username="me", secret=SECRET)


@pytest.fixture
def vault(account: uuid.UUID, github_item: Item) -> Vault:
    vault = Vault.create(account, PASSPHRASE, kdf=FAST)
    vault.add(github_item)
    return vault
