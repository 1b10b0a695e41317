"""The worker's package (vault_web: session and strength) under CPython with the native
backend: the same code the browser runs, checked quickly and in detail (merge rules, error
texts, the strength estimator). The browser-level behaviour is in tests/e2e.
"""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from vault_core import KdfParams
from vault_core.b64url import b64url_decode

PASS = "orbit velvet crater mango lantern"
NEW_PASS = "tulip harbor quartz violin ember"


@pytest.fixture
def glue(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, ModuleType]]:
    # The floor KDF keeps this fast; the parameters do not change the logic under test.
    monkeypatch.setattr(KdfParams, "default", classmethod(lambda cls: cls.floor()))
    # A fresh module per test: the worker keeps one session in module state.
    session = importlib.reload(importlib.import_module("vault_web.worker_vault"))
    yield session, importlib.import_module("vault_web.strength")


def call(session: ModuleType, op: str, **args: Any) -> dict[str, Any]:
    reply = json.loads(session.dispatch(op, json.dumps(args)))
    return dict(reply)


def ok(session: ModuleType, op: str, **args: Any) -> Any:
    reply = call(session, op, **args)
    assert reply["ok"], reply
    return reply["result"]


@pytest.mark.parametrize(
    ("passphrase", "why"),
    [
        ("password1234", "most common passwords"),
        ("correct horse battery staple", "most common passwords"),
        ("Summer2024!Summer2024!", "repeats the same text"),
        ("asdfghjkl;", "keyboard pattern"),
        ("abcdefghijklmnop", "sequence"),
        ("P@ssw0rd", "shorter than 10 characters"),
        ("xkqzvbnmwp", "too short for its mix"),
    ],
)
def test_weak_passphrases_are_refused_with_the_pattern(
    glue: Any, passphrase: str, why: str
) -> None:
    _, strength = glue
    verdict = strength.estimate(passphrase)
    assert not verdict.acceptable
    assert why in verdict.reason and "guesses" in verdict.reason
    assert passphrase not in verdict.reason  # never echoed


@pytest.mark.parametrize(
    "passphrase", [PASS, NEW_PASS, "Gx7#kP2!vQ9@mZ4$wL", "blue ocean 1987 tiger lamp"]
)
def test_strong_passphrases_pass(glue: Any, passphrase: str) -> None:
    _, strength = glue
    assert strength.estimate(passphrase).acceptable


def test_stronger_kdf_lowers_the_bar(glue: Any) -> None:
    _, strength = glue
    weak = strength.estimate("quiet lamp 42 zebra")
    assert (
        strength.estimate("quiet lamp 42 zebra", kdf_ops=16, kdf_mem_kib=1_048_576).seconds
        > weak.seconds * 50
    )


def test_merge_replays_pending_edits_on_the_newer_vault(glue: Any) -> None:
    session, _ = glue
    account = str(uuid.uuid4())
    created = ok(session, "create", account_id=account, passphrase=PASS, confirm=PASS)
    ok(session, "committed", revision=created["revision"])
    base = ok(
        session,
        "add",
        fields={"name": "shared", "kind": "git", "url": "https://git.example.test"},
        secret="s1",
    )
    ok(session, "committed", revision=base["revision"])
    shared_id = base["items"][0]["id"]

    # Another device: removes "shared" and adds "dup" (a second session on the same blob).
    other = session.Session()
    other.op_unlock(account, base["blob"], PASS)
    other.op_remove(shared_id)
    remote = other.op_add(
        {"name": "dup", "kind": "git", "url": "https://git.example.test"}, "remote"
    )

    # Here, concurrently: edit "shared", add "dup" too.
    ok(
        session,
        "update",
        item_id=shared_id,
        fields={
            "name": "shared",
            "kind": "git",
            "url": "https://git.example.test",
            "username": "me",
        },
        secret="",
    )
    ok(
        session,
        "add",
        fields={"name": "dup", "kind": "git", "url": "https://git.example.test"},
        secret="local",
    )
    merged = ok(session, "rebase", blob=remote["blob"])
    names = sorted(i["name"] for i in merged["items"])
    assert names == ["dup", "dup (2)", "shared"]
    assert merged["base_revision"] == remote["revision"]
    assert any("removed elsewhere" in n for n in merged["notes"])
    assert any("dup (2)" in n for n in merged["notes"])
    by_name = {i["name"]: i for i in merged["items"]}
    assert ok(session, "reveal", item_id=by_name["shared"]["id"])["secret"] == "s1"
    assert ok(session, "reveal", item_id=by_name["dup (2)"]["id"])["secret"] == "local"


def test_errors_are_typed_and_never_echo_secrets(glue: Any) -> None:
    session, _ = glue
    account = str(uuid.uuid4())
    created = ok(session, "create", account_id=account, passphrase=PASS, confirm=PASS)
    wrong = call(
        session,
        "unlock",
        account_id=account,
        blob=created["blob"],
        passphrase="not it at all, sorry",
    )
    assert (wrong["code"], wrong["message"]) == ("wrong_passphrase", "Wrong passphrase.")
    assert "not it" not in json.dumps(wrong)
    other = call(
        session, "unlock", account_id=str(uuid.uuid4()), blob=created["blob"], passphrase=PASS
    )
    assert other["code"] == "wrong_account"
    weak = call(
        session, "create", account_id=account, passphrase="hunter2hunter2", confirm="hunter2hunter2"
    )
    assert weak["code"] == "weak_passphrase" and "hunter2" not in weak["message"]
    assert call(session, "no_such_op")["code"] == "unknown_op"
    ok(session, "lock")
    assert call(session, "list")["code"] == "locked"


def _holds(root: object, secret: str) -> bool:
    """Whether ``secret`` (as text or UTF-8 bytes) is anywhere in ``root``'s object graph."""
    needle, seen, pending = secret.encode(), set(), [root]
    while pending:
        obj = pending.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, str) and secret in obj:
            return True
        if isinstance(obj, bytes | bytearray) and needle in obj:
            return True
        if isinstance(obj, dict):
            pending.extend([*obj.keys(), *obj.values()])
        elif isinstance(obj, list | tuple | set | frozenset):
            pending.extend(obj)
        elif hasattr(obj, "__dict__") and not isinstance(obj, type | ModuleType):
            pending.extend(vars(obj).values())
    return False


def test_the_session_keeps_the_keys_never_the_passphrase(glue: Any) -> None:
    session, _ = glue
    account = str(uuid.uuid4())
    created = ok(session, "create", account_id=account, passphrase=PASS, confirm=PASS)
    assert not _holds(session.SESSION, PASS)
    ok(session, "committed", revision=1)
    bad = call(session, "change_passphrase", current="nope", new=NEW_PASS, confirm=NEW_PASS)
    assert bad["code"] == "wrong_passphrase"
    changed = ok(session, "change_passphrase", current=PASS, new=NEW_PASS, confirm=NEW_PASS)
    # The pending change keeps the slot it wrapped, not the new passphrase.
    assert not _holds(session.SESSION, PASS) and not _holds(session.SESSION, NEW_PASS)
    assert session.SESSION.pending[-1].slot is not None
    ok(session, "committed", revision=changed["revision"])
    ok(session, "lock")
    assert (
        call(session, "unlock", account_id=account, blob=changed["blob"], passphrase=PASS)["code"]
        == "wrong_passphrase"
    )
    ok(session, "unlock", account_id=account, blob=changed["blob"], passphrase=NEW_PASS)
    assert not _holds(session.SESSION, NEW_PASS)
    # Changing it again still asks for the current one, checked against the key slot.
    assert (
        call(session, "change_passphrase", current=PASS, new=PASS, confirm=PASS)["code"]
        == "wrong_passphrase"
    )
    assert created["revision"] == 1


def test_an_edit_after_an_unsent_save_names_the_lost_blob(glue: Any) -> None:
    """An upload that failed leaves its edit pending; the next edit's upload must name the
    blob it really builds on, so the server refuses it if another device wrote meanwhile."""
    import hashlib

    session, _ = glue
    account = str(uuid.uuid4())
    created = ok(session, "create", account_id=account, passphrase=PASS, confirm=PASS)
    assert created["base_sha256"] is None
    ok(session, "committed", revision=created["revision"])
    lost = ok(
        session,
        "add",
        fields={"name": "a", "kind": "git", "url": "https://git.example.test"},
        secret="s1",
    )  # never sent
    stacked = ok(
        session,
        "add",
        fields={"name": "b", "kind": "git", "url": "https://git.example.test"},
        secret="s2",
    )
    lost_blob = b64url_decode(lost["blob"])
    assert stacked["base_revision"] == lost["base_revision"] + 1
    assert stacked["base_sha256"] == hashlib.sha256(lost_blob).hexdigest()


def test_rebase_after_a_passphrase_change_elsewhere_keeps_the_edit(glue: Any) -> None:
    """Another device changed the passphrase (same vault key, rewrapped): our pending edit
    merges with the keys held, and the new passphrase is the one that counts."""

    from vault_core import Vault

    session, _ = glue
    account = str(uuid.uuid4())
    created = ok(session, "create", account_id=account, passphrase=PASS, confirm=PASS)
    ok(session, "committed", revision=created["revision"])
    other = session.Session()
    other.op_unlock(account, created["blob"], PASS)
    elsewhere = other.op_change_passphrase(current=PASS, new=NEW_PASS, confirm=NEW_PASS)

    ok(
        session,
        "add",
        fields={"name": "mine", "kind": "git", "url": "https://git.example.test"},
        secret="s1",
    )
    merged = ok(session, "rebase", blob=elsewhere["blob"])
    assert [i["name"] for i in merged["items"]] == ["mine"]
    assert merged["base_revision"] == elsewhere["revision"]
    assert any("changed on another device" in n for n in merged["notes"])
    blob = b64url_decode(merged["blob"])
    reopened = Vault.open(blob, NEW_PASS, account_id=uuid.UUID(account))
    assert reopened.get(reopened.lookup("mine").id).secret == "s1"
    ok(session, "committed", revision=merged["base_revision"] + 1)
    assert (
        call(session, "change_passphrase", current=PASS, new="x" * 30, confirm="x" * 30)["code"]
        == "wrong_passphrase"
    )
    third = "harbor quartz tulip ember violin"
    ok(session, "change_passphrase", current=NEW_PASS, new=third, confirm=third)


def test_reserved_names_and_damaged_records_are_typed_errors_in_the_worker(glue: Any) -> None:
    from vault_core import GRANTS_ITEM, PINS_ITEM, Vault

    session, _ = glue
    account = str(uuid.uuid4())
    ok(session, "create", account_id=account, passphrase=PASS, confirm=PASS)
    added = ok(
        session, "add", fields={"name": "ci", "kind": "git", "url": "https://x.test"}, secret="s"
    )
    refused = call(session, "add", fields={"name": " .zkvault-pins", "kind": "generic"}, secret="s")
    assert refused["code"] == "reserved_name" and ".zkvault-" in refused["message"]
    item_id = added["items"][0]["id"]
    renamed = call(
        session,
        "update",
        item_id=item_id,
        fields={"name": ".zkvault-grants", "kind": "generic"},
        secret="",
    )
    assert renamed["code"] == "reserved_name"
    # A vault whose records were written with junk by some other client holding the key.
    vault: Vault = session.SESSION.vault
    vault._put_bookkeeping(GRANTS_ITEM, "[1,2]")
    vault._put_bookkeeping(PINS_ITEM, "junk")
    blob = vault.save()
    ok(session, "lock")
    from vault_core.b64url import b64url_encode

    listing = ok(session, "unlock", account_id=account, blob=b64url_encode(blob), passphrase=PASS)
    assert [i["name"] for i in listing["items"]] == ["ci"]
    assert {d["code"] for d in listing["damaged"]} == {"grant_list", "pin"}
    assert listing["grants"] == {} and listing["pins"] == {}
    # Unlocked with no memory of the vault: nothing is sealed before the person confirms.
    assert listing["needs_confirmation"]
    ok(session, "confirm")
    runner = str(uuid.uuid4())
    from vault_core import RunnerKeyPair

    key = b64url_encode(RunnerKeyPair.generate().public_key)
    sealed = call(session, "seal_grant", runner_id=runner, public_key=key, revision=1)
    assert sealed["code"] == "pin"  # typed, not "internal"
    # Approving and granting again write fresh records in place of the damaged ones.
    ok(session, "pin_runner", runner_id=runner, public_key=key, name="ci-1")
    granted = ok(session, "set_grants", runner_id=runner, item_ids=[item_id])
    assert granted["damaged"] == [] and granted["grants"] == {runner: [item_id]}
    assert ok(session, "seal_grant", runner_id=runner, public_key=key, revision=1)["items"] == 1


def test_restore_lands_on_the_servers_head_even_one_that_does_not_open(glue: Any) -> None:
    """Issue 17: garbage saved over the vault with a stolen token (valid header, nothing
    the key opens). Restoring an earlier revision re-seals its items on top of that head,
    unread; a newer head that does open is adopted first, as a rebase would."""
    import hashlib
    import secrets

    from vault_core import Vault
    from vault_core.b64url import b64url_encode
    from vault_core.header import encode_public_header

    session, _ = glue
    account = str(uuid.uuid4())
    created = ok(session, "create", account_id=account, passphrase=PASS, confirm=PASS)
    ok(session, "committed", revision=created["revision"])
    fields = {"kind": "git", "url": "https://git.example.test"}
    first = ok(session, "add", fields={"name": "kept", **fields}, secret="s1")
    ok(session, "committed", revision=first["revision"])
    second = ok(session, "add", fields={"name": "later", **fields}, secret="s2")
    ok(session, "committed", revision=second["revision"])
    vault_id = Vault.open(b64url_decode(first["blob"]), PASS, account_id=uuid.UUID(account))
    garbage = encode_public_header(
        uuid.UUID(account), vault_id.vault_id, second["revision"] + 5
    ) + secrets.token_bytes(300)
    head = {
        "revision": second["revision"] + 5,
        "sha256": hashlib.sha256(garbage).hexdigest(),
        "blob": b64url_encode(garbage),
    }
    restored = ok(session, "restore", blob=first["blob"], head=head)
    assert (restored["base_revision"], restored["base_sha256"]) == (
        head["revision"],
        head["sha256"],
    )
    assert [i["name"] for i in restored["items"]] == ["kept"]
    reopened = Vault.open(b64url_decode(restored["blob"]), PASS, account_id=uuid.UUID(account))
    assert reopened.revision == head["revision"] + 1
    assert reopened.get(reopened.lookup("kept").id).secret == "s1"
    ok(session, "committed", revision=head["revision"] + 1)

    # A head that opens (another device's save) is adopted, not replaced unread.
    other = session.Session()
    other.op_unlock(account, restored["blob"], PASS)
    newer = other.op_add({"name": "elsewhere", **fields}, "s3")
    head = {"revision": newer["revision"], "sha256": "0" * 64, "blob": newer["blob"]}
    again = ok(session, "restore", blob=first["blob"], head=head)
    assert again["base_revision"] == newer["revision"]
    assert again["base_sha256"] == hashlib.sha256(b64url_decode(newer["blob"])).hexdigest()
    assert [i["name"] for i in again["items"]] == ["kept"]


def test_recover_unlocks_an_earlier_revision_re_sealed_on_the_current_one(glue: Any) -> None:
    """The current revision does not open: unlock from an earlier one, whose items the next
    upload re-seals on top of the current revision; never from one that is not older."""
    import hashlib

    session, _ = glue
    account = str(uuid.uuid4())
    created = ok(session, "create", account_id=account, passphrase=PASS, confirm=PASS)
    ok(session, "committed", revision=created["revision"])
    fields = {"kind": "git", "url": "https://git.example.test"}
    kept = ok(session, "add", fields={"name": "kept", **fields}, secret="s1")
    ok(session, "committed", revision=kept["revision"])
    head = {"revision": kept["revision"] + 7, "sha256": "ab" * 32, "blob": "AAAA"}

    fresh = importlib.reload(session)  # a new page: nothing unlocked
    got = ok(fresh, "recover", account_id=account, blob=kept["blob"], head=head, passphrase=PASS)
    assert got["restored_from"] == kept["revision"]
    assert (got["base_revision"], got["base_sha256"]) == (head["revision"], head["sha256"])
    assert [i["name"] for i in got["items"]] == ["kept"]
    ok(fresh, "committed", revision=head["revision"] + 1)
    assert ok(fresh, "reveal", item_id=got["items"][0]["id"])["secret"] == "s1"

    newer = {"revision": kept["revision"], "sha256": hashlib.sha256(b"x").hexdigest()}
    args = {"account_id": account, "blob": kept["blob"], "passphrase": PASS}
    assert call(fresh, "recover", head={**newer, "blob": "AAAA"}, **args)["code"] == "not_older"
    assert call(fresh, "recover", head=head, **{**args, "passphrase": NEW_PASS})["code"] == (
        "wrong_passphrase"
    )


def test_pinning_under_a_taken_id_is_refused(glue: Any) -> None:
    """The pairing id comes from the server: an id already pinned, named by the grants
    record, or naming a runner or machine the page lists, is refused with id_taken; the
    vault is not changed."""
    from vault_core import RunnerKeyPair
    from vault_core.b64url import b64url_encode

    session, _ = glue
    account = str(uuid.uuid4())
    created = ok(session, "create", account_id=account, passphrase=PASS, confirm=PASS)
    ok(session, "committed", revision=created["revision"])
    production, machine = str(uuid.uuid4()), str(uuid.uuid4())
    first = b64url_encode(RunnerKeyPair.generate().public_key)
    pinned = ok(session, "pin_runner", runner_id=production, public_key=first, name="prod")
    ok(session, "committed", revision=pinned["revision"])
    # A runner enrolled before pins existed: granted items, no pin.
    item = ok(session, "add", fields={"name": "deploy", "kind": "generic"}, secret="s")
    ok(session, "committed", revision=item["revision"])
    unpinned = str(uuid.uuid4())
    granted = ok(session, "set_grants", runner_id=unpinned, item_ids=[item["items"][0]["id"]])
    ok(session, "committed", revision=granted["revision"])
    second = b64url_encode(RunnerKeyPair.generate().public_key)
    taken: tuple[tuple[str, list[str]], ...] = (
        (production, []),
        (unpinned, []),
        (machine, ["not an id", machine.upper()]),
    )
    for runner_id, known in taken:
        refused = call(
            session,
            "pin_runner",
            runner_id=runner_id,
            public_key=second,
            name="pr",
            known_ids=known,
        )
        assert refused["code"] == "id_taken", refused
        assert "Nothing was pinned or approved" in refused["message"]
    listing = ok(session, "list")
    assert listing["revision"] == granted["revision"] and list(listing["pins"]) == [production]
    assert listing["pins"][production] == pinned["pins"][production]


def test_a_renamed_runner_keeps_its_pin_under_the_new_name(glue: Any) -> None:
    from vault_core import RunnerKeyPair
    from vault_core.b64url import b64url_encode

    session, _ = glue
    account = str(uuid.uuid4())
    created = ok(session, "create", account_id=account, passphrase=PASS, confirm=PASS)
    ok(session, "committed", revision=created["revision"])
    runner = str(uuid.uuid4())
    key = b64url_encode(RunnerKeyPair.generate().public_key)
    pinned = ok(session, "pin_runner", runner_id=runner, public_key=key, name="production")
    assert pinned["pin_names"] == {runner: "production"}
    renamed = ok(session, "rename_pin", runner_id=runner, name="production eu")
    assert renamed["pin_names"] == {runner: "production eu"}
    assert renamed["pins"] == pinned["pins"]  # the same key
    unknown = call(session, "rename_pin", runner_id=str(uuid.uuid4()), name="x")
    assert unknown["code"] == "key_not_pinned", unknown


# -- fork evidence, fresh profiles, revocations (docs/web.md) -----------------------------------

DEVICE_A = {"id": "a" * 32, "name": "Web browser (Chrome on Linux)"}


def _other_device_save(blob: str, account: str, edit: str) -> tuple[str, Any]:
    """Another device (vault_core directly, with its own id) opens ``blob``, adds an item and
    saves: the blob it uploads."""
    from vault_core import Item, Vault
    from vault_core.b64url import b64url_encode
    from vault_core.lineage import Device

    vault = Vault.open(
        b64url_decode(blob),
        PASS,
        account_id=uuid.UUID(account),
        device=Device("b" * 32, "laptop"),
    )
    vault.add(Item(name=edit, kind="generic", url="", secret="s-" + edit))
    return b64url_encode(vault.save()), vault


def test_memory_is_handed_back_and_a_vanished_write_is_a_fork(glue: Any) -> None:
    session, _ = glue
    account = str(uuid.uuid4())
    created = ok(
        session, "create", account_id=account, passphrase=PASS, confirm=PASS, device=DEVICE_A
    )
    assert not created["needs_confirmation"]  # made here: nothing to confirm
    committed = ok(session, "committed", revision=created["revision"])
    assert committed["memory"]["confirmed"] and committed["memory"]["own"]["rev"] == "1"
    base = created["blob"]
    # This profile writes revision 2; the memory handed back holds it as pending first.
    added = ok(session, "add", fields={"name": "ours", "kind": "generic"}, secret="x")
    assert added["memory"]["pending"]["rev"] == "2"
    memory = ok(session, "committed", revision=2)["memory"]
    assert memory["own"]["rev"] == "2" and memory["pending"] is None
    assert added["last_save"]["by"] == DEVICE_A["name"]
    ok(session, "lock")
    # The server shows another device's revision 2, made from revision 1 (ours vanished).
    theirs, _ = _other_device_save(base, account, "theirs")
    same_number = call(
        session,
        "unlock",
        account_id=account,
        blob=theirs,
        passphrase=PASS,
        memory=memory,
        device=DEVICE_A,
    )
    assert same_number["code"] == "fork", same_number
    # Its revision 3 on top of that: still a fork (our write is missing from its lineage).
    later, _ = _other_device_save(theirs, account, "more")
    refused = call(
        session,
        "unlock",
        account_id=account,
        blob=later,
        passphrase=PASS,
        memory=memory,
        device=DEVICE_A,
    )
    assert refused["code"] == "fork", refused
    damaged = call(session, "identify", device=DEVICE_A, memory={"head": 1})
    assert damaged["code"] == "memory_damaged"
    assert session.SESSION.vault is None or session.SESSION.vault.locked


def test_a_fresh_profile_seals_nothing_until_it_confirms(glue: Any) -> None:
    from vault_core import RunnerKeyPair
    from vault_core.b64url import b64url_encode

    session, _ = glue
    account = str(uuid.uuid4())
    created = ok(session, "create", account_id=account, passphrase=PASS, confirm=PASS)
    ok(session, "committed", revision=1)
    ok(session, "lock")
    listing = ok(
        session,
        "unlock",
        account_id=account,
        blob=created["blob"],
        passphrase=PASS,
        device=DEVICE_A,
    )
    assert listing["needs_confirmation"] and listing["memory"]["confirmed"] is False
    assert listing["last_save"]["at"].endswith("Z") and listing["last_save"]["by"]
    key = b64url_encode(RunnerKeyPair.generate().public_key)
    runner = str(uuid.uuid4())
    pin = call(session, "pin_runner", runner_id=runner, public_key=key, name="ci")
    assert pin["code"] == "unconfirmed"
    machine = call(session, "check_sealable", device_id=str(uuid.uuid4()), public_key=key)
    assert machine["code"] == "unconfirmed"
    confirmed = ok(session, "confirm")
    assert not confirmed["needs_confirmation"] and confirmed["memory"]["confirmed"] is True
    ok(session, "pin_runner", runner_id=runner, public_key=key, name="ci")
    assert ok(session, "check_sealable", device_id=str(uuid.uuid4()), public_key=key)["sealable"]


def test_revoked_ids_and_keys_are_refused_and_listed(glue: Any) -> None:
    from vault_core import RunnerKeyPair
    from vault_core.b64url import b64url_encode

    session, _ = glue
    account = str(uuid.uuid4())
    created = ok(session, "create", account_id=account, passphrase=PASS, confirm=PASS)
    ok(session, "committed", revision=created["revision"])
    item = ok(session, "add", fields={"name": "deploy", "kind": "generic"}, secret="t")
    item_id = item["items"][0]["id"]
    pinned = RunnerKeyPair.generate().public_key
    runner = str(uuid.uuid4())
    ok(session, "pin_runner", runner_id=runner, public_key=b64url_encode(pinned), name="ci")
    ok(session, "set_grants", runner_id=runner, item_ids=[item_id])
    # Revoked with the pinned key, whatever the server lists now.
    other = b64url_encode(RunnerKeyPair.generate().public_key)
    revoked = ok(session, "revoke", kind="runner", device_id=runner, public_key=other, name="ci")
    assert revoked["revoked"][runner]["kind"] == "runner"
    assert revoked["pins"] == {} and revoked["grants"].get(runner, []) == []
    assert "blob" in revoked  # recorded in the vault and saved
    again = call(
        session,
        "pin_runner",
        runner_id=str(uuid.uuid4()),
        public_key=b64url_encode(pinned),
        name="x",
    )
    assert again["code"] == "key_revoked"
    same_id = call(session, "pin_runner", runner_id=runner, public_key=other, name="x")
    assert same_id["code"] == "key_revoked"
    sealed = call(
        session, "seal_grant", runner_id=runner, public_key=b64url_encode(pinned), revision=2
    )
    assert sealed["code"] in ("key_not_pinned", "key_revoked")
    laptop = RunnerKeyPair.generate().public_key
    machine = str(uuid.uuid4())
    ok(
        session,
        "revoke",
        kind="machine",
        device_id=machine,
        public_key=b64url_encode(laptop),
        name="\x07laptop",
    )
    refused = call(
        session, "check_sealable", device_id=str(uuid.uuid4()), public_key=b64url_encode(laptop)
    )
    assert refused["code"] == "key_revoked"
    bad = call(session, "revoke", kind="machine", device_id=machine, public_key="AAAA", name="x")
    assert bad["code"] == "bad_key"


@pytest.mark.parametrize(
    ("head", "anchored"),
    [
        ({"seq": 7, "hash": "ab" * 32}, True),
        ({"seq": "7", "hash": "ab" * 32}, True),
        ({"seq": 0, "hash": "ab" * 32}, False),
        ({"seq": 7, "hash": "AB" * 32}, False),
        ({"seq": True, "hash": "ab" * 32}, False),
        ("junk", False),
        (None, False),
    ],
)
def test_the_audit_head_is_anchored_only_when_well_formed(
    glue: Any, head: Any, anchored: bool
) -> None:
    session, _ = glue
    account = str(uuid.uuid4())
    created = ok(session, "create", account_id=account, passphrase=PASS, confirm=PASS)
    ok(session, "committed", revision=created["revision"])
    fields = head if isinstance(head, dict) else {"seq": head, "hash": head}
    seen = ok(session, "saw_audit_head", **fields)
    assert seen["anchored"] == anchored
    ok(session, "add", fields={"name": "x", "kind": "generic"}, secret="y")
    lineage = session.SESSION.vault.lineage
    assert (lineage.audit is not None) == anchored
    if anchored:
        assert lineage.audit.seq == 7 and lineage.audit.head == "ab" * 32


def test_an_ssh_keys_public_half_is_shown_and_never_its_private_key(glue: Any) -> None:
    """The item details show an ssh-key's public line and fingerprint (public data); the
    answer never carries the private key, and another kind has no public key."""
    from vault_core import sshkeys

    session, _ = glue
    account = str(uuid.uuid4())
    ok(session, "create", account_id=account, passphrase=PASS, confirm=PASS)
    private = sshkeys.generate_ed25519("ada@laptop")
    key = sshkeys.parse_private(private)
    added = ok(
        session, "add", fields={"name": "deploy-key", "kind": "ssh-key", "url": ""}, secret=private
    )
    token = ok(session, "add", fields={"name": "pat", "kind": "github", "url": ""}, secret="ghp_x")
    ids = {i["name"]: i["id"] for i in token["items"]}
    assert added["items"][0]["name"] == "deploy-key"
    shown = ok(session, "ssh_public_key", item_id=ids["deploy-key"])
    assert shown == {
        "public_key": key.public_line("ada@laptop"),
        "fingerprint": key.fingerprint,
        "key_type": "ssh-ed25519",
    }
    assert shown["public_key"].startswith("ssh-ed25519 ") and "PRIVATE" not in json.dumps(shown)
    assert ok(session, "ssh_public_key", item_id=ids["pat"]) == {
        "public_key": "",
        "fingerprint": "",
        "key_type": "",
    }
    assert call(session, "ssh_public_key", item_id="00" * 16)["code"] == "not_found"


# -- ssh-key items made or pasted in the web app (docs/web.md, "SSH keys") ---------------------


def _keygen(tmp: Any, *args: str) -> tuple[str, str]:
    """A key from Debian's ssh-keygen: (private key file text, its ``ssh-keygen -lf``
    fingerprint)."""
    import subprocess

    path = tmp / f"key{len(list(tmp.iterdir()))}"
    subprocess.run(["ssh-keygen", "-q", "-C", "web@test", "-f", str(path), *args], check=True)
    listed = subprocess.run(
        ["ssh-keygen", "-lf", f"{path}.pub"], check=True, capture_output=True, text=True
    ).stdout.split()[1]
    return path.read_text(), listed


BEGIN_KEY, END_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----", "-----END OPENSSH PRIVATE KEY-----"


def _unlocked(session: ModuleType) -> None:
    ok(session, "create", account_id=str(uuid.uuid4()), passphrase=PASS, confirm=PASS)


def _item_id(answer: dict[str, Any], name: str) -> str:
    return str(next(i["id"] for i in answer["items"] if i["name"] == name))


def test_a_generated_ssh_key_is_made_in_the_worker_and_only_its_public_half_leaves(
    glue: Any, tmp_path: Any
) -> None:
    import subprocess

    session, _ = glue
    _unlocked(session)
    fields = {"name": "deploy", "kind": "ssh-key", "url": "github.com", "username": "git"}
    reply = session.dispatch("add", json.dumps({"fields": fields, "generate": True}))
    assert json.loads(reply)["ok"] and "PRIVATE" not in reply
    item_id = _item_id(json.loads(reply)["result"], "deploy")
    shown = ok(session, "ssh_public_key", item_id=item_id)
    assert shown["key_type"] == "ssh-ed25519"
    assert shown["public_key"].startswith("ssh-ed25519 ") and shown["public_key"].endswith(
        " deploy"
    )
    # Real ssh-keygen agrees with the fingerprint shown, and the stored key is one it reads.
    (tmp_path / "k.pub").write_text(shown["public_key"] + "\n")
    listed = subprocess.run(
        ["ssh-keygen", "-lf", str(tmp_path / "k.pub")], check=True, capture_output=True, text=True
    )
    assert listed.stdout.split()[1] == shown["fingerprint"]
    secret = ok(session, "reveal", item_id=item_id)["secret"]  # only on Show or Copy
    private = tmp_path / "k"
    private.write_text(secret)
    private.chmod(0o600)
    derived = subprocess.run(
        ["ssh-keygen", "-y", "-f", str(private)], check=True, capture_output=True, text=True
    )
    assert derived.stdout.split()[:2] == shown["public_key"].split()[:2]
    # Generating again on edit replaces the key; an edit without a key keeps it.
    kept = ok(session, "update", item_id=item_id, fields={**fields, "note": "n"}, secret="")
    assert ok(session, "reveal", item_id=item_id)["secret"] == secret and "PRIVATE" not in str(kept)
    ok(session, "update", item_id=item_id, fields=fields, generate=True)
    rotated = ok(session, "ssh_public_key", item_id=item_id)
    assert rotated["fingerprint"] != shown["fingerprint"]
    # Only an ssh-key is generated.
    refused = call(session, "add", fields={"name": "t", "kind": "github"}, generate=True)
    assert refused["code"] == "bad_request"


def test_a_pasted_openssh_key_is_stored_canonical_with_ssh_keygens_fingerprint(
    glue: Any, tmp_path: Any
) -> None:
    session, _ = glue
    _unlocked(session)
    text, listed = _keygen(tmp_path, "-t", "ed25519", "-N", "")
    pasted = "\n  " + text.replace("\n", "\r\n") + "\n\n"  # as a clipboard may carry it
    info = ok(session, "ssh_key_info", secret=pasted)
    assert info == {"key_type": "ssh-ed25519", "fingerprint": listed}
    fields = {"name": "imported", "kind": "ssh-key", "url": "gitlab.com bitbucket.org"}
    added = ok(session, "add", fields=fields, secret=pasted)
    item_id = _item_id(added, "imported")
    assert ok(session, "reveal", item_id=item_id)["secret"] == text  # OpenSSH's own text
    shown = ok(session, "ssh_public_key", item_id=item_id)
    assert shown["fingerprint"] == listed and shown["public_key"].endswith(" web@test")
    # Another writer's line length (64, as PEM tools wrap) is stored in OpenSSH's form.
    body = "".join(text.splitlines()[1:-1])
    rewrapped = "\n".join(
        [BEGIN_KEY, *(body[i : i + 64] for i in range(0, len(body), 64)), END_KEY]
    )
    replaced = ok(session, "update", item_id=item_id, fields=fields, secret=rewrapped)
    assert "PRIVATE" not in json.dumps(replaced)
    assert ok(session, "reveal", item_id=item_id)["secret"] == text
    # ECDSA P-256 and RSA 3072 read too (checked, not signed with, here).
    for args in (("-t", "ecdsa", "-b", "256"), ("-t", "rsa", "-b", "3072")):
        other, other_listed = _keygen(tmp_path, *args, "-N", "")
        assert ok(session, "ssh_key_info", secret=other)["fingerprint"] == other_listed


@pytest.mark.parametrize(
    ("make", "code", "says"),
    [
        (("-t", "ed25519", "-N", "a passphrase"), "ssh_key_encrypted", "--kind ssh-key --import"),
        (("-t", "ecdsa", "-b", "256", "-m", "PEM", "-N", ""), "ssh_key_pem", "--import FILE"),
        (("-t", "rsa", "-b", "2048", "-N", ""), "invalid_item", "3072"),
    ],
)
def test_a_key_the_worker_cannot_store_is_refused_with_what_to_do(
    glue: Any, tmp_path: Any, make: tuple[str, ...], code: str, says: str
) -> None:
    """A passphrase-protected or PEM key needs the CLI (pyca/cryptography); the message
    names the command, never a byte of the key, and nothing is stored."""
    session, _ = glue
    _unlocked(session)
    text, _ = _keygen(tmp_path, *make)
    for op, args in (
        ("ssh_key_info", {"secret": text}),
        ("add", {"fields": {"name": "k", "kind": "ssh-key"}, "secret": text}),
    ):
        reply = call(session, op, **args)
        assert reply["code"] == code and says in reply["message"], reply
        body = [line for line in text.splitlines() if not line.startswith("-----")]
        assert not any(line[:20] in reply["message"] for line in body if line)
    assert ok(session, "list")["items"] == []


def test_a_pasted_public_key_or_nothing_is_refused(glue: Any, tmp_path: Any) -> None:
    session, _ = glue
    _unlocked(session)
    _keygen(tmp_path, "-t", "ed25519", "-N", "")
    public = (tmp_path / "key0.pub").read_text()
    assert call(session, "ssh_key_info", secret=public)["code"] == "ssh_key_public"
    assert call(session, "ssh_key_info", secret="  \n")["code"] == "ssh_key_missing"
    assert call(session, "ssh_key_info", secret="hello")["code"] == "invalid_item"
