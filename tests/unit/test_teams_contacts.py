"""The identity seed and the pinned contacts live in the personal vault (format.md §15.5):
they survive a save and reopen, a damaged record is refused rather than replaced, and a
key the server swaps for a pinned one is refused until the person accepts it."""

from __future__ import annotations

import uuid

import pytest

from tests.unit.conftest import PASSPHRASE
from vault_core import Vault, errors
from vault_core.teams import IdentityKeys
from vault_core.teams.records import CONTACTS_ITEM, IDENTITY_ITEM


def reopen(vault: Vault) -> Vault:
    return Vault.open(vault.save(), PASSPHRASE, account_id=vault.account_id)


def test_the_identity_is_made_once_and_kept(vault: Vault) -> None:
    assert vault.identity_keys() is None
    keys = vault.ensure_identity()
    assert vault.ensure_identity().bundle() == keys.bundle()
    again = reopen(vault)
    kept = again.identity_keys()
    assert kept is not None and kept.bundle() == keys.bundle()
    assert kept.account_id == vault.account_id
    assert IDENTITY_ITEM not in [i.name for i in again.items()]  # bookkeeping is hidden


def test_a_damaged_identity_record_is_refused_not_replaced(vault: Vault) -> None:
    vault._put_bookkeeping(IDENTITY_ITEM, '{"seed":"AAAA","v":"1"}')
    with pytest.raises(errors.IdentityError):
        vault.ensure_identity()


def test_tofu_then_fingerprint_pins_are_recorded(vault: Vault) -> None:
    bob = IdentityKeys.generate(uuid.uuid4())
    contact = vault.pin_contact(bob.bundle(), bob.account_id, "bob@example.com")
    assert contact.verified == "tofu"
    typed = bob.safety_number.lower().replace("-", " ")
    contact = vault.pin_contact(
        bob.bundle(), bob.account_id, "bob@example.com", safety_number=typed
    )
    assert contact.verified == "fingerprint"
    again = reopen(vault).contacts().contacts[bob.account_id]
    assert again == contact and again.at.endswith("Z")
    # A later TOFU pin of the same key does not forget that it was compared.
    assert vault.pin_contact(bob.bundle(), bob.account_id, "b@x.org").verified == "fingerprint"


def test_a_safety_number_that_does_not_match_is_refused(vault: Vault) -> None:
    bob, server = IdentityKeys.generate(uuid.uuid4()), IdentityKeys.generate(uuid.uuid4())
    with pytest.raises(errors.IdentityChangedError):
        vault.pin_contact(
            bob.bundle(), bob.account_id, "bob@example.com", safety_number=server.safety_number
        )
    assert vault.contacts().contacts == {}


def test_a_substituted_identity_is_refused_until_accepted(vault: Vault) -> None:
    bob = IdentityKeys.generate(uuid.uuid4())
    vault.pin_contact(bob.bundle(), bob.account_id, "bob@example.com")
    server = IdentityKeys(bob.account_id, bytes(range(32)))  # bob's id, the server's keys
    with pytest.raises(errors.IdentityChangedError) as caught:
        vault.pinned_identity(server.bundle(), bob.account_id)
    assert caught.value.pinned == bob.safety_number
    assert caught.value.offered == server.safety_number
    with pytest.raises(errors.IdentityChangedError):
        vault.pin_contact(server.bundle(), bob.account_id, "bob@example.com")
    vault.accept_contact(
        server.bundle(), bob.account_id, "bob@example.com", safety_number=server.safety_number
    )
    assert vault.pinned_identity(server.bundle(), bob.account_id).box_key == server.box_key


def test_an_unpinned_or_misfiled_identity_is_refused(vault: Vault) -> None:
    bob = IdentityKeys.generate(uuid.uuid4())
    with pytest.raises(errors.IdentityNotPinnedError):
        vault.pinned_identity(bob.bundle(), bob.account_id)
    with pytest.raises(errors.IdentityBindingError):
        vault.pin_contact(bob.bundle(), uuid.uuid4(), "carol@example.com")


@pytest.mark.parametrize(
    "secret",
    [
        "not json",
        '{"contacts":{},"v":1}',
        '{"contacts":{},"v":"2"}',
        '{"contacts":[],"v":"1"}',
        '{"contacts":{"AB":{}},"v":"1"}',
        '{"contacts":{},"extra":"x","v":"1"}',
    ],
)
def test_a_damaged_contacts_record_is_refused(vault: Vault, secret: str) -> None:
    vault._put_bookkeeping(CONTACTS_ITEM, secret)
    with pytest.raises(errors.IdentityError):
        vault.contacts()
    bob = IdentityKeys.generate(uuid.uuid4())
    with pytest.raises(errors.IdentityError):
        vault.pinned_identity(bob.bundle(), bob.account_id)
