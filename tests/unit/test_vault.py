"""The Vault API: the operations a client performs, and what must never leak from them."""

from __future__ import annotations

import uuid

import pytest

from tests.unit.conftest import FAST, PASSPHRASE, SECRET
from vault_core import Item, KdfParams, Vault, errors, peek_header
from vault_core import container as layout


def reopen(blob: bytes, account: uuid.UUID, passphrase: str = PASSPHRASE, **kw: object) -> Vault:
    return Vault.open(blob, passphrase, account_id=account, **kw)  # type: ignore[arg-type]


def test_round_trip_keeps_every_field(vault: Vault, account: uuid.UUID) -> None:
    full = Item(
        name="gl",
        kind="gitlab",
        url="https://gitlab.example.com",
        username="u",
        secret="glpat-1\nline two",
        scopes=("api", "read_repository"),
        expires="2030-02-28",
        note="ünïcode note",
    )
    item_id = vault.add(full)
    opened = reopen(vault.save(), account)
    assert opened.get(item_id) == full
    assert [i.name for i in opened.items()] == ["gh", "gl"]
    assert opened.revision == 1


def test_each_save_increments_the_revision(vault: Vault, account: uuid.UUID) -> None:
    assert [peek_header(vault.save()).revision for _ in range(3)] == [1, 2, 3]
    assert reopen(vault.save(), account).revision == 4


def test_update_and_remove(vault: Vault, account: uuid.UUID, github_item: Item) -> None:
    item_id = vault.lookup("gh").id
    vault.update(
        item_id, Item(name="gh", kind="github", url="https://github.com", secret="new-secret")
    )
    other = vault.add(Item(name="other", kind="generic", url="", secret="x"))
    vault.remove(other)
    opened = reopen(vault.save(), account)
    assert opened.get(item_id).secret == "new-secret"
    assert [i.name for i in opened.items()] == ["gh"]
    with pytest.raises(errors.NotFoundError):
        opened.get(other)
    with pytest.raises(errors.NotFoundError):
        opened.remove(other)


def test_several_credentials_per_host_but_unique_names(vault: Vault) -> None:
    vault.add(Item(name="gh-2", kind="github", url="https://github.com", secret="b"))
    with pytest.raises(errors.InvalidItemError):
        vault.add(Item(name="gh", kind="github", url="https://github.com", secret="c"))


def test_unchanged_items_keep_their_record_bytes(vault: Vault, account: uuid.UUID) -> None:
    first = layout.parse(vault.save())
    vault.add(Item(name="second", kind="git", url="https://git.example", secret="s"))
    second = layout.parse(vault.save())
    kept = {r.item_id: r for r in first.records}
    lineage = {i.id for i in vault.items(reserved=True) if i.name == ".zkvault-lineage"}
    unchanged = [r for r in second.records if r.item_id in kept and r.item_id not in lineage]
    assert len(unchanged) == 1  # the item; the lineage record is new at every save (§6.2)
    assert all(r == kept[r.item_id] for r in unchanged)


def test_changing_the_passphrase_rewraps_only(vault: Vault, account: uuid.UUID) -> None:
    before = layout.parse(vault.save())
    vault.change_passphrase("a completely different passphrase")
    after = layout.parse(vault.save())
    lineage = {i.id for i in vault.items(reserved=True) if i.name == ".zkvault-lineage"}
    assert [r for r in after.records if r.item_id not in lineage] == [
        r for r in before.records if r.item_id not in lineage
    ]  # every item kept byte for byte; only the lineage record is new (§6.2)
    assert after.slot.salt != before.slot.salt
    blob = after.encode()
    with pytest.raises(errors.WrongPassphraseError):
        reopen(blob, account)
    assert (
        reopen(blob, account, "a completely different passphrase").get(vault.lookup("gh").id).secret
        == SECRET
    )


def test_check_passphrase_follows_the_current_slot(vault: Vault, account: uuid.UUID) -> None:
    assert vault.check_passphrase(PASSPHRASE)
    elsewhere = reopen(vault.save(), account)
    elsewhere.change_passphrase("a completely different passphrase")
    vault.reload(elsewhere.save())  # another device's passphrase change, adopted
    assert not vault.check_passphrase(PASSPHRASE)
    assert vault.check_passphrase("a completely different passphrase")
    vault.lock()
    with pytest.raises(errors.LockedError):
        vault.check_passphrase(PASSPHRASE)


def test_an_old_revision_is_refused_as_rollback_before_its_passphrase(
    vault: Vault, account: uuid.UUID
) -> None:
    """format.md §6.1 step 9: an old revision wrapped under an old passphrase is a rollback,
    not a wrong passphrase."""
    old = vault.save()
    vault.change_passphrase("a completely different passphrase")
    new = vault.save()
    seen = reopen(new, account, "a completely different passphrase").revision
    with pytest.raises(errors.RollbackError):
        reopen(old, account, "a completely different passphrase", min_revision=seen)


def test_kdf_parameters_are_raised_on_the_next_save(vault: Vault, account: uuid.UUID) -> None:
    stronger = KdfParams(ops=3, mem_kib=FAST.mem_kib * 2)
    opened = reopen(vault.save(), account, upgrade_kdf=stronger)
    assert layout.parse(opened.save()).slot.kdf == stronger
    # never lowered: opening a stronger vault with a weaker upgrade target keeps it
    again = reopen(opened.save(), account, upgrade_kdf=FAST)
    assert again.kdf == stronger


def test_parameters_below_the_floor_are_refused(account: uuid.UUID) -> None:
    with pytest.raises(errors.WeakKdfError):
        Vault.create(account, PASSPHRASE, kdf=KdfParams(ops=1, mem_kib=FAST.mem_kib))
    with pytest.raises(errors.WeakKdfError):
        Vault.create(account, PASSPHRASE, kdf=KdfParams(ops=2, mem_kib=8192))
    with pytest.raises(errors.LimitExceededError):
        Vault.create(account, PASSPHRASE, kdf=KdfParams(ops=17, mem_kib=FAST.mem_kib))


def test_rollback_and_binding(vault: Vault, account: uuid.UUID) -> None:
    old = vault.save()
    new = vault.save()
    opened = reopen(new, account, min_revision=1)
    with pytest.raises(errors.RollbackError):
        reopen(old, account, min_revision=opened.revision)
    with pytest.raises(errors.WrongAccountError):
        reopen(new, uuid.uuid4())
    with pytest.raises(errors.WrongVaultError):
        reopen(new, account, vault_id=uuid.uuid4())


def test_lock_wipes_keys(vault: Vault) -> None:
    keys = vault._keys()
    item_id = vault.lookup("gh").id
    vault.lock()
    assert all(not any(k) for k in keys)
    assert vault.locked
    for call in (vault.items, vault.save, lambda: vault.get(item_id)):
        with pytest.raises(errors.LockedError):
            call()


def test_no_secret_in_repr_or_errors(vault: Vault, account: uuid.UUID, github_item: Item) -> None:
    blob = vault.save()
    shown = [repr(vault), repr(github_item), repr(vault.items()), str(vault.items()[0])]
    try:
        reopen(blob, account, "not " + PASSPHRASE)
    except errors.VaultError as error:
        shown += [str(error), repr(error)]
    assert not any(SECRET in text or PASSPHRASE in text for text in shown)


@pytest.mark.parametrize(
    "field,value",
    [
        ("name", ""),
        ("name", "a\nb"),
        ("kind", "svn"),
        ("secret", ""),
        ("url", "x" * 2049),
        ("expires", "2021-W01-1"),
        ("expires", "2021-02-30"),
        ("scopes", ("",)),
        ("username", "\x7f"),
        ("secret", "\ud800"),
    ],
)
def test_invalid_items_are_refused(field: str, value: object) -> None:
    fields: dict[str, object] = {"name": "n", "kind": "git", "url": "u", "secret": "s"}
    fields[field] = value
    with pytest.raises(errors.InvalidItemError):
        Item(**fields)  # type: ignore[arg-type]


def test_item_size_limit(vault: Vault) -> None:
    # Every field within its own limit, but escaping (6 bytes per control character) makes
    # the JSON larger than an item may be.
    big = Item(name="big", kind="generic", url="", secret="\x01" * 16_000)
    with pytest.raises(errors.LimitExceededError):
        vault.add(big)


def test_empty_or_huge_passphrases_are_refused(account: uuid.UUID) -> None:
    for passphrase in ("", "x" * 4097):
        with pytest.raises(errors.LimitExceededError):
            Vault.create(account, passphrase, kdf=FAST)


def test_peek_header_reads_only_public_fields(vault: Vault, account: uuid.UUID) -> None:
    header = peek_header(vault.save())
    assert (header.account_id, header.vault_id, header.revision) == (account, vault.vault_id, 1)
    with pytest.raises(errors.MalformedError):
        peek_header(b"ZKVT\x00\x01short")
    with pytest.raises(errors.UnsupportedVersionError):
        peek_header(b"ZKVT\x00\x09" + bytes(60))


def test_reload_adopts_a_newer_revision_without_the_passphrase(
    vault: Vault, account: uuid.UUID
) -> None:
    first = vault.save()
    other_device = reopen(first, account)
    other_device.add(Item(name="from-elsewhere", kind="git", url="https://x", secret="s"))
    other_device.change_passphrase("changed on the other device")
    newer = other_device.save()

    vault.add(Item(name="local-unsaved", kind="git", url="https://y", secret="t"))
    vault.reload(newer)
    assert vault.revision == 2
    assert [i.name for i in vault.items()] == ["from-elsewhere", "gh"]
    vault.add(Item(name="local-unsaved", kind="git", url="https://y", secret="t"))
    merged = vault.save()
    opened = reopen(merged, account, "changed on the other device")
    assert [i.name for i in opened.items()] == ["from-elsewhere", "gh", "local-unsaved"]


def test_reload_refuses_rollback_tampering_and_other_vaults(
    vault: Vault, account: uuid.UUID
) -> None:
    old = vault.save()
    current = vault.save()
    opened = reopen(current, account)
    before = opened.items()
    with pytest.raises(errors.RollbackError):
        opened.reload(old)
    tampered = bytearray(current)
    tampered[-1] ^= 1
    with pytest.raises(errors.BodyAuthError):
        opened.reload(bytes(tampered))
    stranger = Vault.create(account, PASSPHRASE, kdf=FAST)
    with pytest.raises(errors.WrongVaultError):
        opened.reload(stranger.save())
    assert opened.items() == before and opened.revision == 2


def test_an_upload_names_the_blob_it_replaces(vault: Vault, account: uuid.UUID) -> None:
    import hashlib

    first = vault.save_for_upload()
    assert (first.base_revision, first.base_sha256) == (0, None)
    opened = reopen(first.blob, account)
    assert opened.head_sha256 == hashlib.sha256(first.blob).hexdigest()
    lost = opened.save_for_upload()
    stacked = opened.save_for_upload()
    assert (
        stacked.base_revision == 2 and stacked.base_sha256 == hashlib.sha256(lost.blob).hexdigest()
    )
    assert "blob" not in repr(stacked).replace("base_", "")
