"""vault_core: the zkvault format and every cryptographic operation on it.

One pure-Python source for CPython (PyNaCl) and Pyodide (libsodium.js); the
format is specified in docs/format.md.
"""

from . import errors
from .container import PublicHeader, peek_header
from .grants import Grant, GrantedItem, RunnerKeyPair, open_grant, seal_grant
from .items import KINDS, Item, ItemInfo
from .kdf import KdfParams
from .pins import fingerprint
from .vault import Upload, Vault

__all__ = [
    "KINDS",
    "Grant",
    "GrantedItem",
    "Item",
    "ItemInfo",
    "KdfParams",
    "PublicHeader",
    "RunnerKeyPair",
    "Upload",
    "Vault",
    "errors",
    "fingerprint",
    "open_grant",
    "peek_header",
    "seal_grant",
]
