"""A person's identity keys and the public bundle that carries them (format.md §15.1).

The 32-byte identity seed lives in the personal vault; both key pairs derive from it, so
the seed is all a client keeps. The bundle is self-signed: it binds the X25519 key that
team keys are sealed to, and the account id, to the Ed25519 key that signs the
membership log. A server can still hand out a bundle of its own making, which is why the
safety number (its fingerprint) is compared between people and pinned (contacts).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from ..backend import PrimitiveAuthError, get_backend
from ..backend.base import BOX_PUBLIC_KEY_BYTES, SIGN_PUBLIC_KEY_BYTES, SIGNATURE_BYTES
from ..encoding import Reader, u16
from ..errors import (
    IdentityAuthError,
    IdentityBindingError,
    MalformedError,
    UnsupportedVersionError,
)
from ..fingerprints import fingerprint
from ..keys import KEY_BYTES, RandomBytes, wipe

IDENTITY_MAGIC = b"ZKID"
IDENTITY_VERSION = 1
IDENTITY_SEED_BYTES = 32
IDENTITY_BYTES = 4 + 2 + 16 + SIGN_PUBLIC_KEY_BYTES + BOX_PUBLIC_KEY_BYTES + SIGNATURE_BYTES  # 150
LABEL_IDENTITY_SIGN = b"zkvault/1 identity-sign"
LABEL_IDENTITY_BOX = b"zkvault/1 identity-box"
LABEL_IDENTITY = b"zkvault/1 identity"


@dataclass(frozen=True)
class Identity:
    """A verified public identity: whose it is and its two public keys."""

    account_id: uuid.UUID
    sign_key: bytes
    box_key: bytes
    bundle: bytes  # the 150 bytes it was read from (or made as)

    @property
    def safety_number(self) -> str:
        return identity_fingerprint(self.account_id, self.sign_key, self.box_key)


def identity_fingerprint(account_id: uuid.UUID, sign_key: bytes, box_key: bytes) -> str:
    """The safety number two people compare: fingerprint type "identity" (§12) over
    account_id || sign_key || box_key."""
    return fingerprint("identity", account_id.bytes + sign_key + box_key)


class IdentityKeys:
    """A person's identity key pairs, derived from the seed kept in their vault. Secrets
    never appear in repr()."""

    def __init__(self, account_id: uuid.UUID, seed: bytes | bytearray) -> None:
        if len(seed) != IDENTITY_SEED_BYTES:
            raise MalformedError(f"an identity seed is {IDENTITY_SEED_BYTES} bytes")
        backend = get_backend()
        self.account_id = account_id
        self._seed = bytearray(seed)
        sign_seed = bytearray(backend.blake2b(KEY_BYTES, LABEL_IDENTITY_SIGN, bytes(seed)))
        box_seed = bytearray(backend.blake2b(KEY_BYTES, LABEL_IDENTITY_BOX, bytes(seed)))
        try:
            self.sign_key, self._sign_secret = backend.sign_seed_keypair(bytes(sign_seed))
            self.box_key, self._box_secret = backend.box_seed_keypair(bytes(box_seed))
        finally:
            wipe(sign_seed)
            wipe(box_seed)

    @classmethod
    def generate(
        cls, account_id: uuid.UUID, random_bytes: RandomBytes | None = None
    ) -> IdentityKeys:
        return cls(account_id, (random_bytes or get_backend().random_bytes)(IDENTITY_SEED_BYTES))

    def seed_bytes(self) -> bytes:
        return bytes(self._seed)

    def box_secret_bytes(self) -> bytes:
        return bytes(self._box_secret)

    def sign(self, message: bytes) -> bytes:
        return get_backend().sign_detached(message, bytes(self._sign_secret))

    def bundle(self) -> bytes:
        """The public IDENTITY bundle (§15.1), 150 bytes."""
        signed = (
            IDENTITY_MAGIC
            + u16(IDENTITY_VERSION)
            + self.account_id.bytes
            + self.sign_key
            + self.box_key
        )
        return signed + self.sign(LABEL_IDENTITY + signed)

    def identity(self) -> Identity:
        return Identity(self.account_id, self.sign_key, self.box_key, self.bundle())

    @property
    def safety_number(self) -> str:
        return identity_fingerprint(self.account_id, self.sign_key, self.box_key)

    def wipe(self) -> None:
        wipe(self._seed)
        wipe(self._sign_secret)
        wipe(self._box_secret)

    def __repr__(self) -> str:
        return f"<IdentityKeys account={self.account_id} {self.safety_number}>"


def parse_identity(
    bundle: bytes, account_id: uuid.UUID | None = None, *, verify: bool = True
) -> Identity:
    """Read and verify an IDENTITY bundle (§15.1), steps and errors in that order; with
    ``account_id``, also that it is that account's. ``verify=False`` only for a bundle this
    client verified before (a membership-log entry it accepted: ``state.known_prefix``)."""
    bundle = bytes(bundle)
    if len(bundle) < 6 or bundle[:4] != IDENTITY_MAGIC:
        raise MalformedError("not a zkvault identity")
    reader = Reader(bundle, 4)
    version = reader.uint(2)
    if version != IDENTITY_VERSION:
        raise UnsupportedVersionError(f"identity format version {version} is not supported")
    if len(bundle) != IDENTITY_BYTES:
        raise MalformedError(f"an identity is {IDENTITY_BYTES} bytes")
    # The length is exact: each field is a slice at its fixed place (magic, version,
    # owner, the two keys, the signature).
    keys_at = reader.offset + 16
    box_at = keys_at + SIGN_PUBLIC_KEY_BYTES
    signed_end = box_at + BOX_PUBLIC_KEY_BYTES
    owner_bytes = bundle[reader.offset : keys_at]
    sign_key = bundle[keys_at:box_at]
    box_key = bundle[box_at:signed_end]
    signature = bundle[signed_end:]
    if verify:
        try:
            get_backend().sign_verify_detached(
                signature, LABEL_IDENTITY + bundle[:signed_end], sign_key
            )
        except PrimitiveAuthError:
            raise IdentityAuthError from None
    if account_id is not None and owner_bytes != account_id.bytes:
        raise IdentityBindingError
    # The account's own UUID when it is the owner: the same value, not made again.
    owner = account_id if account_id is not None else uuid.UUID(bytes=owner_bytes)
    return Identity(owner, sign_key, box_key, bundle)
