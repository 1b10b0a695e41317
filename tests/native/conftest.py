from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.native.serverproc import Server, start_server
from tests.native.support import Env, VaultFile, make_env, make_vault, stop_agent


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """The real server and OIDC provider as processes, one pair per test module."""
    srv = start_server()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def env() -> Iterator[Env]:
    environment = make_env()
    try:
        yield environment
    finally:
        stop_agent(environment)


@pytest.fixture
def vault_file(env: Env) -> VaultFile:
    return make_vault(env.root)


@pytest.fixture
def imported(env: Env, vault_file: VaultFile) -> VaultFile:
    env.zk("adopt", str(vault_file.path), "--account-id", str(vault_file.account_id), check=True)
    return vault_file


@pytest.fixture
def unlocked(env: Env, imported: VaultFile) -> VaultFile:
    done = env.unlock()
    assert done.returncode == 0, done.stderr
    return imported
