"""The vault's bookkeeping (format.md §6.6 reserved names, §12.1 records): typed parts of
Vault that no generic edit can write, strictly read, and a damaged record that is reported
by its own error while everything else keeps working. The grammar itself is pinned by the
vectors (tests/vectors/records.py); these are the behaviours around it."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.unit.conftest import FAST, PASSPHRASE
from vault_core import GRANTS_ITEM, PINS_ITEM, Item, RunnerGrants, RunnerPins, Vault, errors
from vault_core.bookkeeping import bookkeeping_item

RUNNER = uuid.UUID("0d5e8a80-9f0e-4a0b-9c7e-3c1f5e2b7d44")


def _names(vault: Vault, *, reserved: bool = False) -> list[str]:
    return [i.name for i in vault.items(reserved=reserved)]


@pytest.mark.parametrize(
    "name", [".zkvault-pins", ".zkvault-grants", ".zkvault-x", " .zkvault-x", "\uff0ezkvault-x"]
)
def test_reserved_names_are_refused_on_add_and_rename_and_nothing_changes(
    vault: Vault, name: str
) -> None:
    (existing,) = vault.items()
    before = vault.get(existing.id)
    with pytest.raises(errors.ReservedNameError) as add:
        vault.add(Item(name=name, kind="generic", url="", secret="s"))
    with pytest.raises(errors.ReservedNameError) as rename:
        vault.update(existing.id, Item(name=name, kind="generic", url="", secret="s"))
    assert add.value.code == rename.value.code == "reserved_name"
    assert isinstance(add.value, errors.InvalidItemError)  # a kind of invalid item
    assert _names(vault, reserved=True) == [existing.name]
    assert vault.get(existing.id) == before


def test_bookkeeping_items_are_written_only_through_their_setters(vault: Vault) -> None:
    (item,) = vault.items()
    vault.set_runner_grants(RunnerGrants({RUNNER: [item.id]}))
    vault.set_runner_pins(_pins())
    assert _names(vault) == [item.name]  # hidden from the listing and from lookup
    assert sorted(_names(vault, reserved=True)) == sorted([item.name, PINS_ITEM, GRANTS_ITEM])
    with pytest.raises(errors.NotFoundError):
        vault.lookup(PINS_ITEM)
    for info in vault.items(reserved=True):
        if info.name != item.name:
            with pytest.raises(errors.ReservedNameError):
                vault.update(info.id, Item(name="mine now", kind="generic", url="", secret="s"))
            with pytest.raises(errors.ReservedNameError):
                vault.remove(info.id)
    reopened = Vault.open(vault.save(), PASSPHRASE, account_id=vault.account_id)
    assert reopened.runner_grants().items_of(RUNNER) == (item.id,)
    assert reopened.runner_pins().key_to_seal_to(str(RUNNER), bytes([7]) * 32) == bytes([7]) * 32


def _pins() -> RunnerPins:
    pins = RunnerPins()
    pins.pin(RUNNER, bytes([7]) * 32, "ci-1")
    return pins


def _with_record(vault: Vault, name: str, secret: str) -> Vault:
    """A vault whose bookkeeping item holds ``secret``: written as a client that knew no
    better would have (the vault key holder), then saved and opened again."""
    vault._put_bookkeeping(name, secret)
    return Vault.open(vault.save(), PASSPHRASE, account_id=vault.account_id)


@pytest.mark.parametrize(
    ("name", "secret", "error"),
    [
        (PINS_ITEM, "junk", errors.PinError),
        (PINS_ITEM, '{"v": 1, "runners": {}}', errors.PinError),  # the old, loose form
        (GRANTS_ITEM, "[1,2]", errors.GrantListError),
        (GRANTS_ITEM, json.dumps({str(RUNNER): ["0" * 32]}), errors.GrantListError),
    ],
)
def test_a_damaged_record_is_its_own_typed_error_and_everything_else_works(
    vault: Vault, name: str, secret: str, error: type[errors.VaultError]
) -> None:
    damaged = _with_record(vault, name, secret)
    read = damaged.runner_pins if name == PINS_ITEM else damaged.runner_grants
    with pytest.raises(error):
        read()
    assert _names(damaged) == ["gh"]  # the listing still works
    other = damaged.runner_grants if name == PINS_ITEM else damaged.runner_pins
    other()  # and so does the other record
    # Writing a fresh record replaces the damaged one.
    if name == PINS_ITEM:
        damaged.set_runner_pins(_pins())
        assert list(damaged.runner_pins().runners) == [RUNNER]
    else:
        damaged.set_runner_grants(RunnerGrants())
        assert damaged.runner_grants().runners == {}


def test_an_earlier_revision_opens_with_the_vault_key_whatever_its_passphrase(
    vault: Vault,
) -> None:
    first = vault.save()
    vault.change_passphrase("a different passphrase altogether")
    vault.add(Item(name="later", kind="generic", url="", secret="s"))
    vault.save()
    old = vault.open_revision(first)
    assert (old.revision, _names(old)) == (1, ["gh"])
    old.lock()
    assert not vault.locked and _names(vault) == ["gh", "later"]  # nothing here changed
    stranger = Vault.create(vault.account_id, PASSPHRASE, kdf=FAST)
    with pytest.raises(errors.WrongVaultError):
        vault.open_revision(stranger.save())


def test_a_kept_key_slot_replays_a_passphrase_change(vault: Vault) -> None:
    vault.save()
    vault.change_passphrase("the new passphrase here")
    slot = vault.key_slot
    elsewhere = Vault.open(vault.save(), "the new passphrase here", account_id=vault.account_id)
    elsewhere.use_key_slot(slot)
    Vault.open(elsewhere.save(), "the new passphrase here", account_id=vault.account_id)


def test_record_writers_refuse_what_the_grammar_cannot_hold() -> None:
    with pytest.raises(errors.PinError):
        RunnerPins().pin(RUNNER, bytes(32), "")
    with pytest.raises(errors.PinError):
        RunnerPins().pin(RUNNER, bytes(32), "x" * 129)
    with pytest.raises(errors.KeyLengthError):
        RunnerPins().pin(RUNNER, bytes(31), "ci")
    grants = RunnerGrants({RUNNER: [uuid.UUID(int=2), uuid.UUID(int=1), uuid.UUID(int=2)]})
    assert grants.items_of(RUNNER) == (uuid.UUID(int=1), uuid.UUID(int=2))
    assert RunnerGrants.parse(grants.dumps()).runners == grants.runners
    assert bookkeeping_item(GRANTS_ITEM, grants.dumps()).kind == "generic"
