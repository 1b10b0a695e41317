"""vault_core: the zkvault format and every cryptographic operation on it.

One pure-Python source for CPython (PyNaCl) and Pyodide (libsodium.js); the
format is specified in docs/format.md.

Importing the package loads only ``errors`` and ``header`` (standard library, no crypto), so
the server can read public headers without loading any code that decrypts; everything else
is imported on first use (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import errors
from .header import PublicHeader, peek_header

if TYPE_CHECKING:
    from .bookkeeping import GRANTS_ITEM, RunnerGrants
    from .container import KeySlot
    from .fingerprints import fingerprint, normalise_fingerprint
    from .grants import Grant, GrantedItem, RunnerKeyPair, open_grant, seal_grant
    from .items import KINDS, RESERVED_PREFIX, SSH_KEY, Item, ItemInfo, is_reserved
    from .kdf import KdfParams, time_kdf
    from .pins import PINS_ITEM, RunnerPins
    from .teamgrants import TeamGrant, check_team_grant_log, open_team_grant, seal_team_grant
    from .vault import Upload, Vault

_LAZY = {
    "GRANTS_ITEM": "bookkeeping",
    "RunnerGrants": "bookkeeping",
    "KeySlot": "container",
    "Grant": "grants",
    "GrantedItem": "grants",
    "RunnerKeyPair": "grants",
    "open_grant": "grants",
    "seal_grant": "grants",
    "KINDS": "items",
    "Item": "items",
    "ItemInfo": "items",
    "RESERVED_PREFIX": "items",
    "SSH_KEY": "items",
    "is_reserved": "items",
    "KdfParams": "kdf",
    "time_kdf": "kdf",
    "TeamGrant": "teamgrants",
    "check_team_grant_log": "teamgrants",
    "open_team_grant": "teamgrants",
    "seal_team_grant": "teamgrants",
    "PINS_ITEM": "pins",
    "RunnerPins": "pins",
    "fingerprint": "fingerprints",
    "normalise_fingerprint": "fingerprints",
    "Upload": "vault",
    "Vault": "vault",
}

__all__ = [
    "GRANTS_ITEM",
    "KINDS",
    "PINS_ITEM",
    "RESERVED_PREFIX",
    "SSH_KEY",
    "Grant",
    "GrantedItem",
    "Item",
    "ItemInfo",
    "KdfParams",
    "KeySlot",
    "PublicHeader",
    "RunnerGrants",
    "RunnerKeyPair",
    "RunnerPins",
    "TeamGrant",
    "Upload",
    "Vault",
    "check_team_grant_log",
    "errors",
    "fingerprint",
    "is_reserved",
    "normalise_fingerprint",
    "open_grant",
    "open_team_grant",
    "peek_header",
    "seal_grant",
    "seal_team_grant",
    "time_kdf",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value
