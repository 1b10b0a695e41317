"""Passphrase → key-encryption key: Argon2id with enforced bounds (format.md §5)."""

from __future__ import annotations

import time
import unicodedata
from dataclasses import dataclass

from .backend import get_backend
from .errors import LimitExceededError, UnsupportedVersionError, WeakKdfError
from .keys import KEY_BYTES

KDF_ARGON2ID13 = 1
SALT_BYTES = 16
PASSPHRASE_MAX_BYTES = 4096

MIN_OPS, MIN_MEM_KIB = 2, 19_456
MAX_OPS, MAX_MEM_KIB = 16, 1_048_576
DEFAULT_OPS, DEFAULT_MEM_KIB = 3, 65_536


@dataclass(frozen=True)
class KdfParams:
    ops: int = DEFAULT_OPS
    mem_kib: int = DEFAULT_MEM_KIB
    kdf_id: int = KDF_ARGON2ID13

    @classmethod
    def default(cls) -> KdfParams:
        return cls()

    @classmethod
    def floor(cls) -> KdfParams:
        return cls(ops=MIN_OPS, mem_kib=MIN_MEM_KIB)

    def check(self) -> None:
        """Refuse parameters outside the format's bounds before any work is done."""
        if self.kdf_id != KDF_ARGON2ID13:
            raise UnsupportedVersionError(f"unknown KDF id {self.kdf_id}")
        if self.ops > MAX_OPS or self.mem_kib > MAX_MEM_KIB:
            raise LimitExceededError(
                f"KDF parameters above the ceiling (t<={MAX_OPS}, m<={MAX_MEM_KIB} KiB)"
            )
        if self.ops < MIN_OPS or self.mem_kib < MIN_MEM_KIB:
            raise WeakKdfError(
                f"KDF parameters below the floor (t>={MIN_OPS}, m>={MIN_MEM_KIB} KiB)"
            )

    def weaker_than(self, other: KdfParams) -> bool:
        return self.ops < other.ops or self.mem_kib < other.mem_kib


def encode_passphrase(passphrase: str) -> bytearray:
    encoded = bytearray(unicodedata.normalize("NFC", passphrase).encode("utf-8"))
    if not 1 <= len(encoded) <= PASSPHRASE_MAX_BYTES:
        raise LimitExceededError(f"the passphrase must be 1 to {PASSPHRASE_MAX_BYTES} bytes")
    return encoded


def time_kdf(params: KdfParams) -> float:
    """Milliseconds one Argon2id run at ``params`` takes here, on a throwaway input whose
    output is wiped (what the web app's benchmark measures)."""
    from .keys import wipe

    started = time.perf_counter()
    wipe(derive_kek("benchmark input", bytes(16), params))
    return (time.perf_counter() - started) * 1000


def derive_kek(passphrase: str, salt: bytes, params: KdfParams) -> bytearray:
    params.check()
    encoded = encode_passphrase(passphrase)
    try:
        return get_backend().argon2id(
            KEY_BYTES, bytes(encoded), salt, params.ops, params.mem_kib * 1024
        )
    finally:
        for i in range(len(encoded)):
            encoded[i] = 0
