"""Contacts beyond one item (format.md §15.5, "Contacts"): a thousand pins survive a save
and reopen, a single record an earlier client wrote still reads and is kept as it is while
it fits, a damaged or missing shard is ``identity`` while the vault still lists, and the
shards stay bookkeeping: hidden, refused as names, and never a silent re-pin."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit import spec_reader, spec_reader_teams
from tests.unit.conftest import FAST, PASSPHRASE
from tests.unit.test_spec_agreement import _mutate
from tests.vectors.contacts import SHARDED
from vault_core import Item, Vault, errors
from vault_core.items import MAX_ITEMS, SECRET_MAX_BYTES
from vault_core.teams import IdentityKeys
from vault_core.teams.contacts import CONTACTS_ITEM, MAX_SHARDS, Contacts, shard_name
from vault_core.teams.identity import parse_identity

AT = "2026-12-07T12:00:00Z"
OWNER = uuid.UUID(int=7)


def reopen(vault: Vault) -> Vault:
    return opened(vault.save(), vault.account_id)


def opened(blob: bytes, account_id: uuid.UUID = OWNER) -> Vault:
    vault = Vault.open(blob, PASSPHRASE, account_id=account_id)
    vault.confirm_current()  # this test's device is the one that saved it
    return vault


def people(count: int) -> list[IdentityKeys]:
    return [
        IdentityKeys(uuid.UUID(int=n + 1), bytes([n % 256, n // 256]) * 16) for n in range(count)
    ]


def shards_of(vault: Vault) -> dict[str, str]:
    return {
        info.name: vault.get(info.id).secret
        for info in vault.items(reserved=True)
        if info.name.startswith(CONTACTS_ITEM)
    }


@pytest.fixture(scope="module")
def thousand() -> tuple[list[IdentityKeys], bytes]:
    """A vault with 1,000 contacts pinned one by one, as a person would, and saved."""
    vault = Vault.create(OWNER, PASSPHRASE, kdf=FAST)
    vault.add(Item(name="gh", kind="github", url="", secret="ghp_x"))
    everyone = people(1000)
    for n, person in enumerate(everyone):
        number = person.safety_number if n % 2 else None
        vault.pin_contact(
            person.bundle(), person.account_id, f"p{n}@example.com", safety_number=number
        )
    return everyone, vault.save()


def test_a_thousand_pins_round_trip(thousand: tuple[list[IdentityKeys], bytes]) -> None:
    everyone, blob = thousand
    vault = opened(blob)
    contacts = vault.contacts().contacts
    assert len(contacts) == 1000
    for n, person in enumerate(everyone):
        pinned = contacts[person.account_id]
        assert (pinned.sign_key, pinned.box_key) == (person.sign_key, person.box_key)
        assert pinned.email == f"p{n}@example.com"
        assert pinned.verified == ("fingerprint" if n % 2 else "tofu")
        assert vault.pinned_identity(person.bundle(), person.account_id).box_key == person.box_key
    shards = shards_of(vault)
    assert 2 <= len(shards) <= MAX_SHARDS
    assert set(shards) == {shard_name(k) for k in range(1, len(shards) + 1)}
    assert all(len(text.encode()) <= SECRET_MAX_BYTES for text in shards.values())
    assert f'"shards":"{len(shards)}","v":"2"' in shards[CONTACTS_ITEM]
    # Bookkeeping: not listed, not counted, not found by name.
    assert [i.name for i in vault.items()] == ["gh"]
    with pytest.raises(errors.NotFoundError):
        vault.lookup(shard_name(2))


def test_a_pin_in_any_shard_is_never_replaced_silently(
    thousand: tuple[list[IdentityKeys], bytes],
) -> None:
    everyone, blob = thousand
    vault = opened(blob)
    last = everyone[-1]  # pinned late: in a later shard
    assert last.account_id.hex not in shards_of(vault)[CONTACTS_ITEM]
    server = IdentityKeys(last.account_id, bytes(range(32)))
    with pytest.raises(errors.IdentityChangedError):
        vault.pinned_identity(server.bundle(), last.account_id)
    with pytest.raises(errors.IdentityChangedError):
        vault.pin_contact(server.bundle(), last.account_id, "x@example.com")
    vault.accept_contact(server.bundle(), last.account_id, "x" * 300 + "@example.com")
    again = reopen(vault).contacts().contacts
    assert again[last.account_id].box_key == server.box_key
    assert len(again) == 1000


def test_an_earlier_single_record_still_reads_and_stays_single(vault: Vault) -> None:
    bob = people(1)[0]
    # Byte for byte what a client before shards wrote (canonical JSON, "v":"1").
    keys = _b64(bob.sign_key + bob.box_key)
    earlier = (
        f'{{"contacts":{{"{bob.account_id.hex}":{{"at":"{AT}","email":"bob@example.com",'
        f'"keys":"{keys}","verified":"fingerprint"}}}},"v":"1"}}'
    )
    vault._put_bookkeeping(CONTACTS_ITEM, earlier)
    vault = reopen(vault)
    assert vault.contacts().contacts[bob.account_id].verified == "fingerprint"
    carol = people(2)[1]
    vault.pin_contact(carol.bundle(), carol.account_id, "carol@example.com")
    shards = shards_of(reopen(vault))
    assert list(shards) == [CONTACTS_ITEM]  # still readable by an earlier client
    assert shards[CONTACTS_ITEM].endswith('},"v":"1"}')
    assert len(Contacts.parse(shards[CONTACTS_ITEM]).contacts) == 2


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "damage",
    [
        ("2", "not json"),
        ("2", '{"contacts":{},"v":"1"}'),  # a later shard in the single form
        ("2", '{"contacts":{},"shards":"2","v":"2"}'),  # a count only shard 1 has
        ("2", None),  # a counted shard missing
        ("1", "count 1"),
        ("1", "count 33"),
        ("1", "count 02"),
        ("2", "duplicate"),
    ],
)
def test_a_damaged_shard_is_identity_and_the_vault_still_lists(
    thousand: tuple[list[IdentityKeys], bytes], damage: tuple[str, str | None]
) -> None:
    _, blob = thousand
    vault = opened(blob)
    shards = shards_of(vault)
    which, text = damage
    name = shard_name(int(which))
    if text is None:
        vault._items = {i: s for i, s in vault._items.items() if s.info.name != name}
    elif text.startswith("count"):
        first = shards[CONTACTS_ITEM]
        text = first.replace(f'"shards":"{len(shards)}"', f'"shards":"{text[6:]}"')
        vault._put_bookkeeping(name, text)
    elif text == "duplicate":  # the last shard also pins an account of shard 1, as it is
        name = shard_name(len(shards))  # the one with room for it
        one, two = shards[CONTACTS_ITEM], shards[name]
        entry = one[len('{"contacts":{') : one.index("}", one.index("verified")) + 1]
        vault._put_bookkeeping(name, two.replace('{"contacts":{', '{"contacts":{' + entry + ",", 1))
    else:
        vault._put_bookkeeping(name, text)
    vault = reopen(vault)  # the damage saved and opened like any item
    assert [i.name for i in vault.items()] == ["gh"]
    with pytest.raises(errors.IdentityError):
        vault.contacts()
    someone = people(1)[0]
    with pytest.raises(errors.IdentityError):
        vault.pinned_identity(someone.bundle(), someone.account_id)
    with pytest.raises(errors.IdentityError):  # never repaired by a new pin
        vault.pin_contact(someone.bundle(), someone.account_id, "a@example.com")


def test_the_shard_names_are_reserved(vault: Vault) -> None:
    for name in (
        shard_name(2),
        shard_name(MAX_SHARDS),
        "\uff0ezkvault-contacts-3",
        " .zkvault-contacts-9",
    ):
        with pytest.raises(errors.ReservedNameError):
            vault.add(Item(name=name, kind="generic", url="", secret="s"))


def _filled(count: int, email_bytes: int) -> Contacts:
    contacts = Contacts()
    for person in people(count):
        email = person.account_id.hex[-4:] + "@" + "e" * (email_bytes - 5)
        contacts.pin(parse_identity(person.bundle()), email, "fingerprint", AT, replace=False)
    return contacts


def test_a_thousand_contacts_fit_with_emails_up_to_254_bytes() -> None:
    records = _filled(1000, 254).records()
    assert len(records) <= MAX_SHARDS
    assert all(len(text.encode()) <= SECRET_MAX_BYTES for text in records.values())
    read = Contacts.read(records.get)
    assert len(read.contacts) == 1000


def test_beyond_the_shards_pinning_is_limit_exceeded() -> None:
    assert len(_filled(31 * MAX_SHARDS, 320).records()) == MAX_SHARDS  # 31 to a shard
    with pytest.raises(errors.LimitExceededError):
        _filled(32 * MAX_SHARDS, 320).records()


def test_a_full_vault_refuses_a_new_shard_and_keeps_the_old_set() -> None:
    vault = Vault.create(uuid.UUID(int=9), PASSPHRASE, kdf=FAST)
    everyone = people(120)
    for n, person in enumerate(everyone[:40]):
        vault.pin_contact(person.bundle(), person.account_id, f"p{n}@example.com")
    assert list(shards_of(vault)) == [CONTACTS_ITEM]
    while len(vault.items(reserved=True)) < MAX_ITEMS - 1:  # the last place: the lineage's
        vault.add(Item(name=f"t{len(vault.items())}", kind="generic", url="", secret="s"))
    pinned = 40
    with pytest.raises(errors.LimitExceededError):
        for person in everyone[40:]:
            vault.pin_contact(person.bundle(), person.account_id, "q@example.com")
            pinned += 1
    assert len(vault.contacts().contacts) == pinned
    assert list(shards_of(vault)) == [CONTACTS_ITEM]


def _read_ours(records: dict[str, str]) -> tuple[str, object]:
    try:
        contacts = Contacts.read(records.get)
    except errors.VaultError as error:
        return error.code, None
    return "ok", sorted(c.account_id.hex for c in contacts.contacts.values())


def _read_theirs(records: dict[str, str]) -> tuple[str, object]:
    try:
        return "ok", sorted(spec_reader_teams.read_contacts(records))
    except spec_reader.Refused as refused:
        return refused.code, None


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_the_spec_reader_agrees_on_mutated_shards(data: st.DataObject) -> None:
    """Every shard of a three-shard set, its bytes mutated: vault_core and the reader
    written from format.md take or refuse the same sets."""
    records = dict(SHARDED)
    name = data.draw(st.sampled_from(sorted(records)))
    records[name] = _mutate(records[name], data)
    assert _read_ours(records) == _read_theirs(records), records[name]
