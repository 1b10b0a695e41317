"""Local state: private, atomic, encrypted, bound to this machine, rollback-proof."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from native import state as state_mod
from native.errors import CliError
from native.machinekey import KeyringKeyStore
from native.state import LocalState, StateStore
from tests.native.support import Env, VaultFile

REFRESH = "zkv_rt_" + "s3cr3tRefreshToken" * 2


@pytest.fixture
def store(env: Env, monkeypatch: pytest.MonkeyPatch) -> StateStore:
    for key in ("ZKVAULT_HOME", "ZKVAULT_KEY_DIR", "ZKVAULT_KEYRING"):
        monkeypatch.setenv(key, env.vars[key])
    return StateStore()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_round_trip_private_files_and_no_plaintext(env: Env, store: StateStore) -> None:
    with store.locked():
        store.save(LocalState(account_id="a", refresh_token=REFRESH, max_revision=4))
    loaded = store.load()
    assert loaded.refresh_token == REFRESH and loaded.max_revision == 4
    state_file = env.home / "state.bin"
    assert _mode(env.home) == 0o700 and _mode(state_file) == 0o600
    (key_file,) = env.key_dir.iterdir()
    assert _mode(env.key_dir) == 0o700 and _mode(key_file) == 0o600
    assert env.key_dir not in state_file.parents  # the key lives apart from the state
    raw = state_file.read_bytes()
    assert REFRESH.encode() not in raw and b"refresh_token" not in raw
    assert [p.name for p in env.home.iterdir() if ".tmp" in p.name] == []


def test_loose_directory_permissions_are_tightened(env: Env, store: StateStore) -> None:
    env.home.mkdir(mode=0o755)
    os.chmod(env.home, 0o755)
    store.save(LocalState())
    assert _mode(env.home) == 0o700


def test_tampered_byte_is_refused(env: Env, store: StateStore) -> None:
    store.save(LocalState(account_id="a"))
    path = env.home / "state.bin"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CliError) as caught:
        store.load()
    assert caught.value.code == "state_auth"


def test_header_generation_cannot_be_bumped(env: Env, store: StateStore) -> None:
    store.save(LocalState(account_id="a"))
    path = env.home / "state.bin"
    data = bytearray(path.read_bytes())
    data[14] ^= 0x01  # a byte of the generation counter, covered as associated data
    path.write_bytes(bytes(data))
    with pytest.raises(CliError) as caught:
        store.load()
    assert caught.value.code == "state_auth"


def test_rolled_back_state_is_refused(env: Env, store: StateStore) -> None:
    store.save(LocalState(account_id="a", max_revision=1))
    old = (env.home / "state.bin").read_bytes()
    store.save(LocalState(account_id="a", max_revision=7))
    (env.home / "state.bin").write_bytes(old)
    with pytest.raises(CliError) as caught:
        store.load()
    assert caught.value.code == "state_rollback"
    assert "rolled back" in caught.value.message


def test_state_from_another_machine_is_refused(
    env: Env, store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save(LocalState(account_id="a"))
    monkeypatch.setattr(state_mod, "machine_id", lambda: b"some-other-machine")
    with pytest.raises(CliError) as caught:
        store.load()
    assert caught.value.code == "state_auth"


def test_missing_key_is_reported(env: Env, store: StateStore) -> None:
    store.save(LocalState(account_id="a"))
    for key_file in env.key_dir.iterdir():
        key_file.unlink()
    with pytest.raises(CliError) as caught:
        store.load()
    assert caught.value.code == "machine_key"


def test_cli_reports_corrupt_state_in_one_line(env: Env, imported: VaultFile) -> None:
    path = env.home / "state.bin"
    data = bytearray(path.read_bytes())
    data[60] ^= 0xFF
    path.write_bytes(bytes(data))
    done = env.unlock()
    assert done.returncode == 5
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("zkvault: local state failed authentication")
    assert "zkvault connect --clean" in done.stderr


def test_cli_reports_rolled_back_state(env: Env, vault_file: VaultFile) -> None:
    env.zk("adopt", str(vault_file.path), "--account-id", str(vault_file.account_id), check=True)
    old = (env.home / "state.bin").read_bytes()
    env.zk("adopt", str(vault_file.path), "--account-id", str(vault_file.account_id), check=True)
    (env.home / "state.bin").write_bytes(old)
    done = env.unlock()
    assert done.returncode == 5 and "rolled back" in done.stderr
    assert "Traceback" not in done.stderr


def test_import_refuses_older_vault_revision(env: Env) -> None:
    from tests.native.support import make_vault

    vf = make_vault(env.root, revisions=3)
    newest, oldest = env.root / "new.zkv", env.root / "old.zkv"
    newest.write_bytes(vf.blobs[-1])
    oldest.write_bytes(vf.blobs[0])
    env.zk("adopt", str(newest), "--account-id", str(vf.account_id), check=True)
    done = env.zk("adopt", str(oldest), "--account-id", str(vf.account_id))
    assert done.returncode == 5 and "rollback" in done.stderr


def test_not_set_up_yet(env: Env) -> None:
    done = env.unlock()
    assert done.returncode == 5
    assert "zkvault connect" in done.stderr


def test_state_written_before_base64url_keeps_its_vault_copy() -> None:
    """A state file from before base64url was the one encoding kept the vault copy as
    standard base64 under ``vault_b64``: it still loads, with the same bytes."""
    blob = bytes(range(256)) * 3  # every byte value: '+', '/' and padding all occur
    legacy = json.dumps({"vault_b64": base64.b64encode(blob).decode(), "max_revision": 7})
    loaded = LocalState.from_json(legacy.encode())
    assert loaded.vault_blob == blob and loaded.max_revision == 7
    assert b"vault_b64url" in loaded.to_json()  # written back in the one encoding


def test_keyring_entry_written_before_base64url_still_opens() -> None:
    """The same for the machine key kept in an OS keyring (standard base64, padded)."""
    key, generation = bytes(range(200, 232)), 3
    record = key + generation.to_bytes(8, "big")

    class Keyring:  # the keyring API's two calls, holding what an older zkvault saved
        def __init__(self) -> None:
            self.saved = {("zkvault", "entry"): base64.b64encode(record).decode()}

        def get_password(self, service: str, name: str) -> str | None:
            return self.saved.get((service, name))

        def set_password(self, service: str, name: str, value: str) -> None:
            self.saved[(service, name)] = value

    keyring = Keyring()
    store = KeyringKeyStore("/nonexistent", keyring)
    store._name = "entry"  # the entry an older zkvault wrote
    assert store.load() == (key, generation)
    store.save(key, generation + 1)
    assert "=" not in keyring.saved[("zkvault", "entry")]
    assert store.load() == (key, generation + 1)


def test_state_written_before_the_vault_memory_is_not_a_new_machine() -> None:
    """A state from before format 2 kept only the highest revision accepted: migrated, it
    is a machine that has seen the vault (no confirmation asked), with that floor kept."""
    legacy = LocalState.from_json(json.dumps({"account_id": "a", "max_revision": 7}).encode())
    assert legacy.seen_before and legacy.revision_floor == 7 and legacy.memory() is None
    written = LocalState.from_json(legacy.to_json())  # written again: still migrating
    assert written.seen_before
    new = LocalState.from_json(json.dumps({"account_id": "a"}).encode())
    assert not new.seen_before


def test_unlock_keeps_the_vault_memory_and_a_device_id(
    env: Env, store: StateStore, imported: VaultFile
) -> None:
    """An imported file is a vault this machine has not seen: unlock shows its last save,
    and afterwards the state holds the memory (head = the revision opened, no secret) and
    this machine's device id."""
    done = env.unlock()
    assert done.returncode == 0, done.stderr
    assert "This machine has not seen this vault before: last saved " in done.stderr
    assert "by zkvault client" in done.stderr  # vault_core's name for a client with none
    state = store.load()
    memory = state.memory()
    assert memory is not None and memory.head.revision == 1 and not memory.confirmed
    assert state.device_id is not None and len(state.device_id) == 32
    for secret in imported.secrets.values():
        assert secret not in json.dumps(state.vault_memory)
    status = json.loads(env.zk("status", "--json").stdout)
    assert status["confirmed"] is False and status["fork"] is None
    env.zk("lock", check=True)
    again = env.unlock("--confirm")
    assert "This machine has not confirmed this vault yet" in again.stderr
    stored = store.load().memory()
    assert stored is not None and stored.confirmed
    assert json.loads(env.zk("status", "--json").stdout)["confirmed"] is True
