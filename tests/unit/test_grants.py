"""Runner grants: libsodium-compatible sealing, binding, signatures, rollback."""

from __future__ import annotations

import uuid

import pytest
from nacl.public import PrivateKey, SealedBox

from tests.unit.conftest import FAST, PASSPHRASE
from vault_core import Item, RunnerKeyPair, Vault, errors, open_grant, seal_grant


@pytest.fixture
def owner(account: uuid.UUID) -> Vault:
    vault = Vault.create(account, PASSPHRASE, kdf=FAST)
    for name in ("one", "two", "three"):
        vault.add(Item(name=name, kind="generic", url="", secret=f"secret-{name}"))
    return vault


def test_grant_is_a_standard_sealed_box(owner: Vault) -> None:
    runner = RunnerKeyPair.generate()
    grant = seal_grant(owner, uuid.uuid4(), runner.public_key, [], 1)
    payload = SealedBox(PrivateKey(runner.secret_key_bytes())).decrypt(grant)
    assert payload.startswith(b"ZKGT")


def test_runner_reads_exactly_its_granted_items(owner: Vault) -> None:
    runner, runner_id = RunnerKeyPair.generate(), uuid.uuid4()
    chosen = [owner.lookup("one").id, owner.lookup("three").id]
    grant = open_grant(
        seal_grant(owner, runner_id, runner.public_key, chosen, 3),
        runner,
        account_id=owner.account_id,
        runner_id=runner_id,
        owner_verify_key=owner.owner_verify_key,
        min_revision=3,
    )
    assert sorted(g.item.secret for g in grant.items) == ["secret-one", "secret-three"]
    assert "secret" not in repr(grant)


def test_a_grant_re_pointed_or_replayed_is_refused(owner: Vault) -> None:
    runner, other = RunnerKeyPair.generate(), RunnerKeyPair.generate()
    runner_id = uuid.uuid4()
    kwargs = {
        "account_id": owner.account_id,
        "runner_id": runner_id,
        "owner_verify_key": owner.owner_verify_key,
    }
    to_other = seal_grant(owner, uuid.uuid4(), other.public_key, [], 1)
    with pytest.raises(errors.GrantAuthError):
        open_grant(to_other, runner, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(errors.GrantBindingError):
        open_grant(to_other, other, **kwargs)  # type: ignore[arg-type]
    old = seal_grant(owner, runner_id, runner.public_key, [], 1)
    with pytest.raises(errors.RollbackError):
        open_grant(old, runner, **kwargs, min_revision=2)  # type: ignore[arg-type]


def test_a_grant_signed_by_another_vault_is_refused(owner: Vault, account: uuid.UUID) -> None:
    impostor = Vault.create(account, PASSPHRASE, kdf=FAST)
    runner, runner_id = RunnerKeyPair.generate(), uuid.uuid4()
    forged = seal_grant(impostor, runner_id, runner.public_key, [], 1)
    with pytest.raises(errors.GrantAuthError):
        open_grant(
            forged,
            runner,
            account_id=account,
            runner_id=runner_id,
            owner_verify_key=owner.owner_verify_key,
        )


def test_runner_key_repr_hides_the_secret() -> None:
    runner = RunnerKeyPair.generate()
    assert runner.secret_key_bytes().hex() not in repr(runner)
    assert runner.seed_bytes().hex() not in repr(runner)


def test_an_unusable_runner_key_is_a_typed_error(owner: Vault) -> None:
    with pytest.raises(errors.MalformedError):
        seal_grant(owner, uuid.uuid4(), bytes(32), [], 1)  # a low-order point
    runner = RunnerKeyPair.generate()
    with pytest.raises(errors.GrantAuthError):
        open_grant(
            bytes(132),
            runner,
            account_id=owner.account_id,
            runner_id=uuid.uuid4(),
            owner_verify_key=owner.owner_verify_key,
        )
