"""The vault lies, as a table both clients are run against: what the server serves instead
of the genuine vault, and the error code the client must answer with (docs/format.md §6.1,
native/vaulterrors.py, vault_web/worker_vault.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tests.hostile import forge


@dataclass(frozen=True)
class VaultLie:
    name: str
    # (the genuine current blob, another account's blob, an older revision) -> the lie
    forge: Callable[[bytes, bytes, bytes], bytes]
    expect: str  # the client's documented error code


# The genuine vaults are made at t=4 so that "lowered but above the floor" (t=3) exists
# even at the floor's memory.
GENUINE_OPS = 4

VAULT_LIES = [
    VaultLie("KDF lowered below the floor", lambda b, o, r: forge.kdf(b, ops=1), "weak_kdf"),
    VaultLie(
        "KDF lowered, above the floor, not what the MAC covers",
        lambda b, o, r: forge.lowered_kdf(b),
        # The slot's associated data binds the parameters: no key opens, the client says
        # so, and nothing is re-wrapped at the lowered cost.
        "wrong_passphrase",
    ),
    VaultLie("another account's vault", lambda b, o, r: o, "wrong_account"),
    VaultLie("an item dropped", lambda b, o, r: forge.drop_record(b), "item_missing"),
    VaultLie("an item duplicated", lambda b, o, r: forge.duplicate_record(b), "item_duplicated"),
    VaultLie("an older revision (rollback)", lambda b, o, r: r, "rollback"),
    VaultLie("a bumped format version", lambda b, o, r: forge.version(b, 3), "unsupported_version"),
    VaultLie("an unknown KDF algorithm", lambda b, o, r: forge.kdf_id(b, 2), "unsupported_version"),
]
