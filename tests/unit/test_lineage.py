"""Format 2 (format.md §14): the upgrade from a real format-1 vault, forks shown to devices
that share one server, lost answers and stacked saves that must not read as forks, and the
bounds of the lineage and revoked records."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from pathlib import Path

import pytest

from tests.unit.conftest import FAST, PASSPHRASE
from vault_core import Item, Vault, errors
from vault_core import container as layout
from vault_core.items import MAX_ITEMS, SECRET_MAX_BYTES
from vault_core.lineage import MAX_DEVICES, Device, VaultMemory, Write
from vault_core.revocations import MAX_REVOKED, Revocations, Revoked

FORMAT_1 = json.loads(
    (Path(__file__).parent / "data" / "format-1-three-items.json").read_text(encoding="utf-8")
)
LAPTOP, PHONE, DESKTOP = (
    Device(c * 32, n) for c, n in [("a", "laptop"), ("b", "phone"), ("c", "desk")]
)


class Server:
    """The server's compare-and-swap (docs/server.md), and what a hostile one can do: keep
    the blobs it was sent, and show any device any of them."""

    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        self.history = [blob]

    def upload(self, vault: Vault) -> bytes:
        upload = vault.save_for_upload()
        current = layout.parse(self.blob)
        if (upload.base_revision, upload.base_sha256) != (
            current.revision,
            hashlib.sha256(self.blob).hexdigest(),
        ):
            raise RuntimeError("409")
        self.blob = upload.blob
        self.history.append(upload.blob)
        return upload.blob


def _device(
    server: Server, device: Device, account: uuid.UUID, memory: VaultMemory | None = None
) -> Vault:
    return Vault.open(server.blob, PASSPHRASE, account_id=account, memory=memory, device=device)


def _started(account: uuid.UUID) -> tuple[Server, Vault]:
    vault = Vault.create(account, PASSPHRASE, kdf=FAST, device=LAPTOP)
    vault.add(Item(name="gh", kind="github", url="", secret="s1"))
    server = Server(vault.save())
    vault.accepted()
    return server, vault


def _edit(vault: Vault, secret: str) -> None:
    info = vault.lookup("gh")
    vault.update(info.id, Item(name="gh", kind="github", url="", secret=secret))


# -- the upgrade ---------------------------------------------------------------------------


def test_a_real_format_1_vault_upgrades_at_its_next_save() -> None:
    blob = base64.b64decode(FORMAT_1["blob"])
    account = uuid.UUID(FORMAT_1["account_id"])
    assert layout.parse(blob).version == 1
    phone = Vault.open(blob, PASSPHRASE_1, account_id=account, device=PHONE)
    assert phone.memory is not None and phone.memory.format == 1
    laptop = Vault.open(blob, PASSPHRASE_1, account_id=account, device=LAPTOP)
    before = {i.name: laptop.get(i.id) for i in laptop.items(reserved=True)}
    assert len(before) == 3
    upgraded = laptop.save()
    parsed = layout.parse(upgraded)
    assert parsed.version == 2 and parsed.revision == 2
    assert all(r.item_rev == 2 for r in parsed.records)  # every record resealed
    again = Vault.open(upgraded, PASSPHRASE_1, account_id=account)
    after = {i.name: again.get(i.id) for i in again.items()}
    assert after == before
    assert again.lineage is not None
    assert again.lineage.parent == Write(1, hashlib.sha256(blob).hexdigest())
    # A device that saw format 1 accepts the upgrade, and refuses format 1 from then on.
    phone.reload(upgraded)
    assert phone.memory is not None and phone.memory.format == 2
    with pytest.raises(errors.DowngradeError):
        phone.reload(blob)
    with pytest.raises(errors.DowngradeError):
        Vault.open(blob, PASSPHRASE_1, account_id=account, memory=phone.memory, device=PHONE)
    with pytest.raises(errors.DowngradeError):  # before the KDF: any passphrase
        Vault.open(blob, "wrong", account_id=account, memory=phone.memory, device=PHONE)


PASSPHRASE_1 = "correct horse battery staple, café ✓"  # the format-1 vector's passphrase


def test_the_format_1_fixture_is_what_the_vector_generator_writes_as_format_1() -> None:
    from tests.vectors.common import build_vault

    _, blob = build_vault(b"main", version=1)
    assert blob == base64.b64decode(FORMAT_1["blob"])


# -- forks between devices sharing one server ----------------------------------------------


def test_two_devices_shown_two_histories_each_refuse_the_other(account: uuid.UUID) -> None:
    server, laptop = _started(account)
    phone = _device(server, PHONE, account)
    phone.confirm_current()
    fork_point = server.blob
    _edit(laptop, "laptop's")
    laptop_r2 = server.upload(laptop)
    laptop.accepted()
    server.blob = fork_point  # the server shows the phone the older history ...
    _edit(phone, "phone's")
    phone_r2 = server.upload(phone)  # ... and takes its revision 2 on the side
    phone.accepted()
    with pytest.raises(errors.ForkError):  # same number, other content
        laptop.reload(phone_r2)
    with pytest.raises(errors.ForkError):
        phone.reload(laptop_r2)
    _edit(phone, "phone's again")
    phone_r3 = server.upload(phone)
    with pytest.raises(errors.ForkError):  # revision 3, not based on the laptop's 2
        laptop.reload(phone_r3)
    _edit(phone, "and again")
    phone_r4 = server.upload(phone)
    with pytest.raises(errors.ForkError):  # the laptop's own write is missing
        laptop.reload(phone_r4)
    with pytest.raises(errors.ForkError):  # the same from a fresh open with its memory
        Vault.open(phone_r4, PASSPHRASE, account_id=account, memory=laptop.memory, device=LAPTOP)
    assert laptop.get(laptop.lookup("gh").id).secret == "laptop's"  # nothing changed


def test_a_third_device_regressed_is_a_fork(account: uuid.UUID) -> None:
    server, laptop = _started(account)
    desk = _device(server, DESKTOP, account)
    _edit(desk, "desk's")
    server.upload(desk)
    desk.accepted()
    branch = server.blob
    laptop.reload(server.blob)
    _edit(laptop, "laptop's")
    server.upload(laptop)
    laptop.accepted()
    phone = _device(server, PHONE, account)  # saw the desk's write at revision 2
    server.blob = server.history[0]  # a history where the desk never wrote
    stranger = _device(server, Device("e" * 32, "stranger"), account)
    for n in range(3):
        _edit(stranger, f"s{n}")
        server.upload(stranger)
    assert layout.parse(server.blob).revision == 4
    with pytest.raises(errors.ForkError):
        phone.reload(server.blob)
    assert branch != server.blob


def test_a_lost_answer_is_not_a_fork(account: uuid.UUID) -> None:
    server, laptop = _started(account)
    phone = _device(server, PHONE, account)
    _edit(laptop, "sent, answer lost")
    sent = server.upload(laptop)  # the server took it; the laptop never heard (no accepted())
    phone.reload(server.blob)
    _edit(phone, "phone's")
    server.upload(phone)
    phone.accepted()
    laptop.reload(server.blob)  # its own write is in the history as its pending one
    assert laptop.memory is not None
    assert laptop.memory.own == Write(2, hashlib.sha256(sent).hexdigest())
    assert laptop.memory.pending is None


def test_stacked_saves_the_server_partly_took_are_not_a_fork(account: uuid.UUID) -> None:
    """The laptop saves revision 2 (taken, answer lost) and stacks revision 3 on it; the
    phone's revision 3 wins. The laptop's memory has only the second as pending; the
    history holds the first. Not a fork (the lead's rule refused it)."""
    server, laptop = _started(account)
    phone = _device(server, PHONE, account)
    _edit(laptop, "first")
    server.upload(laptop)  # taken, answer lost
    _edit(laptop, "second, stacked")
    laptop.save_for_upload()  # never arrives before the phone's
    phone.reload(server.blob)
    _edit(phone, "phone's")
    server.upload(phone)
    laptop.reload(server.blob)
    assert laptop.memory is not None and laptop.memory.own is not None
    assert laptop.memory.own.revision == 2 and laptop.memory.pending is None
    _edit(phone, "phone's again")
    server.upload(phone)
    laptop.reload(server.blob)


def test_a_fresh_device_seals_nothing_until_confirmed_or_a_later_revision(
    account: uuid.UUID,
) -> None:
    server, laptop = _started(account)
    phone = _device(server, PHONE, account)
    assert phone.needs_confirmation
    with pytest.raises(errors.UnconfirmedError):
        phone.check_sealable(uuid.uuid4(), bytes(32))
    _edit(phone, "its own write")
    server.upload(phone)
    phone.accepted()
    assert phone.needs_confirmation  # its own write proves nothing
    laptop.reload(server.blob)
    _edit(laptop, "a later one")
    server.upload(laptop)
    phone.reload(server.blob)
    assert not phone.needs_confirmation
    phone.check_sealable(uuid.uuid4(), bytes(32))
    assert not laptop.needs_confirmation  # it created the vault


# -- bounds --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["d", "界" * 128])
def test_the_vector_keeps_at_most_64_devices_and_fits_its_record(
    account: uuid.UUID, name: str
) -> None:
    vault = Vault.create(account, PASSPHRASE, kdf=FAST)
    vault.add(Item(name="gh", kind="github", url="", secret="s"))
    for n in range(MAX_DEVICES + 6):
        vault.device = Device(f"{n:032x}", name)
        blob = vault.save()
    assert vault.lineage is not None
    assert len(vault.lineage.devices) <= MAX_DEVICES
    assert len(vault.lineage.dumps().encode()) <= SECRET_MAX_BYTES
    if name == "d":
        assert len(vault.lineage.devices) == MAX_DEVICES
        assert vault.lineage.floor == 5  # writes 1-5's devices made way
    else:
        assert len(vault.lineage.devices) < MAX_DEVICES and vault.lineage.floor > 5
    reopened = Vault.open(blob, PASSPHRASE, account_id=account)
    assert reopened.lineage == vault.lineage


def test_a_device_pruned_below_the_floor_is_not_a_fork(account: uuid.UUID) -> None:
    server, laptop = _started(account)
    phone = _device(server, PHONE, account)
    for n in range(MAX_DEVICES + 2):  # 66 other devices write, one after another
        other = _device(server, Device(f"{n + 1:032x}", "other"), account)
        _edit(other, f"w{n}")
        server.upload(other)
    phone.reload(server.blob)
    laptop.reload(server.blob)
    assert laptop.lineage is not None and LAPTOP.id not in laptop.lineage.devices


def test_the_revoked_record_stays_writable_with_64_long_names() -> None:
    revoked = Revocations()
    for n in range(MAX_REVOKED + 3):
        revoked.add(
            uuid.UUID(int=n + 1, version=4),
            Revoked(
                "runner", bytes([n]) * 32, "界" * 128, f"2026-12-01T10:{n // 60:02}:{n % 60:02}Z"
            ),
        )
    text = revoked.dumps()
    assert len(text.encode()) <= SECRET_MAX_BYTES
    assert Revocations.parse(text).devices == revoked.devices
    assert uuid.UUID(int=1, version=4) not in revoked.devices  # the oldest made way


def test_the_last_place_is_kept_for_the_lineage_record(account: uuid.UUID) -> None:
    vault = Vault.create(account, PASSPHRASE, kdf=FAST)
    for n in range(MAX_ITEMS - 1):
        vault.add(Item(name=f"i{n}", kind="generic", url="", secret="s"))
    with pytest.raises(errors.LimitExceededError):
        vault.add(Item(name="one too many", kind="generic", url="", secret="s"))
    blob = vault.save()
    assert len(Vault.open(blob, PASSPHRASE, account_id=account).items(reserved=True)) == MAX_ITEMS


def test_a_restore_over_an_unreadable_head_credits_no_device_with_it() -> None:
    """Garbage saved over the vault (a stolen token) and then restored over by a device:
    the lineage names the garbage as parent, but credits the earlier saver only with the
    write it made, so a device that saw that write still accepts the restore."""
    account = uuid.uuid4()
    alice, bob = Device("a" * 32, "Alice's laptop"), Device("b" * 32, "Bob's browser")
    writer = Vault.create(account, "pw", kdf=FAST, device=alice)
    writer.add(Item(name="t", kind="generic", url="", secret="s"))
    first = writer.save()
    writer.accepted()
    reader = Vault.open(first, "pw", account_id=account, device=bob)
    garbage = hashlib.sha256(b"garbage").hexdigest()
    restorer = Vault.open(first, "pw", account_id=account, device=bob, memory=reader.memory)
    restorer.supersede_unread(2, garbage)
    restored = restorer.save()
    assert restorer.lineage is not None
    assert restorer.lineage.parent == Write(2, garbage)
    assert restorer.lineage.devices[alice.id].write.revision == 1
    writer.reload(restored)  # Alice's own write is in its history: no fork
    with pytest.raises(errors.RollbackError):
        restorer.supersede_unread(1, garbage)
