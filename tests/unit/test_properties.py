"""Property tests: round trips, and that no change to a vault or grant goes unnoticed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.report import record
from tests.unit.conftest import FAST, PASSPHRASE
from vault_core import KINDS, Item, RunnerKeyPair, Vault, errors, open_grant, seal_grant
from vault_core import kdf as kdf_module
from vault_core import vault as vault_module
from vault_core.items import URL_OPTIONAL_KINDS, is_reserved
from vault_core.kdf import KdfParams

ACCOUNT = uuid.UUID(int=7)
RUNNER = uuid.UUID(int=8)

line = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40)
free_text = st.characters(blacklist_categories=["Cs"])
# ssh-key items hold an OpenSSH private key (format.md §6.6): tests/unit/test_sshkeys.py
TOKEN_KINDS = [kind for kind in KINDS if kind != "ssh-key"]
items = st.sampled_from(TOKEN_KINDS).flatmap(
    lambda kind: st.builds(
        Item,
        name=line.filter(lambda n: not is_reserved(n)),  # clients' own (format.md §6.6)
        kind=st.just(kind),
        # format.md §6.6: only these kinds may leave the url empty
        url=st.one_of(st.just(""), line) if kind in URL_OPTIONAL_KINDS else line,
        secret=st.text(free_text, min_size=1, max_size=200),
        username=st.one_of(st.just(""), line),
        scopes=st.lists(line, max_size=4).map(tuple),
        expires=st.one_of(st.none(), st.dates().map(lambda d: d.isoformat())),
        note=st.text(free_text, max_size=80),
    )
)
unique_items = st.lists(items, max_size=6, unique_by=lambda item: item.name)


def small_vault() -> tuple[Vault, bytes]:
    vault = Vault.create(ACCOUNT, PASSPHRASE, kdf=FAST)
    vault.add(Item(name="a", kind="github", url="https://github.com", secret="s1"))
    vault.add(Item(name="b", kind="git", url="https://git.example", secret="s2"))
    return vault, vault.save()


VAULT, BLOB = small_vault()


@pytest.fixture(autouse=True, scope="module")
def one_argon2_run_per_input() -> Iterator[None]:
    """Each mutated blob below is opened, and each open runs Argon2id (tens of ms at the
    floor), though its output changes only when a byte of the slot's salt or parameters
    does: the exhaustive tests spent most of their time deriving the same KEK hundreds of
    times. The real derivation, remembered by its inputs: each distinct (passphrase, salt,
    parameters) still runs Argon2id (and its bounds check) the first time, every open gets a
    fresh copy (vault_core wipes its KEK), so each open sees exactly the bytes it would."""
    derive = kdf_module.derive_kek
    seen: dict[tuple[str, bytes, KdfParams], bytes] = {}

    def remembered(passphrase: str, salt: bytes, params: KdfParams) -> bytearray:
        key = (passphrase, bytes(salt), params)
        if key not in seen:
            seen[key] = bytes(derive(passphrase, salt, params))
        return bytearray(seen[key])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(vault_module, "derive_kek", remembered)
        yield


def refused(blob: bytes) -> bool:
    """True when vault_core refuses the blob with one of its typed errors (anything else
    escapes and fails the test)."""
    try:
        Vault.open(blob, PASSPHRASE, account_id=ACCOUNT, vault_id=VAULT.vault_id)
    except errors.VaultError:
        return True
    return False


def refuses(blob: bytes) -> None:
    assert refused(blob)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(unique_items)
def test_random_vaults_round_trip(contents: list[Item]) -> None:
    vault = Vault.create(ACCOUNT, PASSPHRASE, kdf=FAST)
    ids = [vault.add(item) for item in contents]
    opened = Vault.open(vault.save(), PASSPHRASE, account_id=ACCOUNT)
    assert [opened.get(i) for i in ids] == contents


def test_every_single_byte_change_is_refused() -> None:
    detected = 0
    for offset in range(len(BLOB)):
        changed = bytearray(BLOB)
        changed[offset] ^= 0xFF
        detected += refused(bytes(changed))
    record("tampering", "every byte of a vault changed", tried=len(BLOB), detected=detected)
    assert detected == len(BLOB)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_random_bit_changes_are_refused(data: st.DataObject) -> None:
    offset = data.draw(st.integers(0, len(BLOB) - 1))
    mask = data.draw(st.integers(1, 255))
    changed = bytearray(BLOB)
    changed[offset] ^= mask
    refuses(bytes(changed))


def test_every_truncation_is_refused() -> None:
    detected = sum(refused(BLOB[:length]) for length in range(len(BLOB)))
    record("tampering", "every truncation of a vault", tried=len(BLOB), detected=detected)
    assert detected == len(BLOB)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=600), st.binary(max_size=600).map(lambda b: BLOB[:147] + b)))
def test_arbitrary_bytes_raise_only_vault_errors(data: bytes) -> None:
    refuses(data)


def test_every_single_byte_change_to_a_grant_is_refused() -> None:
    runner = RunnerKeyPair.generate()
    item_ids = [info.id for info in VAULT.items()]
    grant = seal_grant(VAULT, RUNNER, runner.public_key, item_ids, 1)
    kwargs = {
        "account_id": ACCOUNT,
        "runner_id": RUNNER,
        "owner_verify_key": VAULT.owner_verify_key,
    }
    assert len(open_grant(grant, runner, **kwargs).items) == 2  # type: ignore[arg-type]
    detected = 0
    for offset in range(len(grant)):
        changed = bytearray(grant)
        changed[offset] ^= 0x01
        try:
            open_grant(bytes(changed), runner, **kwargs)  # type: ignore[arg-type]
        except errors.GrantAuthError:
            detected += 1
    record("tampering", "every byte of a runner grant changed", tried=len(grant), detected=detected)
    assert detected == len(grant)
