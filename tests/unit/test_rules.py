"""Write-side rules of docs/format.md that the vectors (which only read) cannot show."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from nacl.bindings import crypto_scalarmult_base

from tests.unit.conftest import FAST, PASSPHRASE
from vault_core import Item, RunnerKeyPair, Vault, errors, open_grant, seal_grant


@pytest.mark.parametrize("kind", ["git", "github-enterprise"])
def test_kinds_without_a_default_host_need_a_url(kind: str) -> None:
    with pytest.raises(errors.InvalidItemError, match="needs a url"):
        Item(name="x", kind=kind, url="", secret="s")


@pytest.mark.parametrize("kind", ["github", "gitlab", "bitbucket", "generic"])
def test_provider_kinds_and_generic_may_leave_the_url_empty(kind: str) -> None:
    assert Item(name="x", kind=kind, url="", secret="s").url == ""


@pytest.mark.parametrize("passphrase", ["", "x" * 4097, "é" * 2049])
def test_a_passphrase_outside_1_to_4096_bytes_is_refused_and_changes_nothing(
    vault: Vault, passphrase: str
) -> None:
    with pytest.raises(errors.LimitExceededError):
        Vault.create(uuid.uuid4(), passphrase, kdf=FAST)
    with pytest.raises(errors.LimitExceededError):
        vault.change_passphrase(passphrase)
    # Nothing changed: the next save still opens with the old passphrase.
    assert Vault.open(vault.save(), PASSPHRASE, account_id=vault.account_id).revision == 1


def test_a_runner_key_pair_is_derived_from_its_seed_as_the_spec_says() -> None:
    seed = bytes(range(32))
    pair = RunnerKeyPair(seed)
    secret = hashlib.sha512(seed).digest()[:32]
    assert pair.secret_key_bytes() == secret
    assert pair.public_key == crypto_scalarmult_base(secret)


def test_randomness_can_be_passed_in_and_is_not_global(vault: Vault) -> None:
    def zeros(n: int) -> bytes:
        return bytes(n)

    one = Vault.create(uuid.UUID(int=1), PASSPHRASE, kdf=FAST, random_bytes=zeros)
    two = Vault.create(uuid.UUID(int=1), PASSPHRASE, kdf=FAST, random_bytes=zeros)
    assert one.save() == two.save()
    third = Vault.create(uuid.UUID(int=1), PASSPHRASE, kdf=FAST)  # the CSPRNG again
    assert third.vault_id != one.vault_id
    runner = RunnerKeyPair.generate(zeros)
    assert runner.seed_bytes() == bytes(32)
    grants = [
        seal_grant(vault, uuid.UUID(int=2), runner.public_key, [], 1, random_bytes=zeros)
        for _ in range(2)
    ]
    assert grants[0] == grants[1]
    opened = open_grant(
        grants[0],
        runner,
        account_id=vault.account_id,
        runner_id=uuid.UUID(int=2),
        owner_verify_key=vault.owner_verify_key,
    )
    assert opened.items == ()
