"""Key fingerprints and the runner keys an owner pinned (format.md, "Key fingerprints and pins").

A fingerprint is what two people (or two programs) compare to agree on a public key
without trusting the server that carried it. A pin is the owner's record, inside the
vault and so authenticated by the vault key, of which X25519 key each runner was
approved with: grants are sealed to the pinned key only, never to the key the server
lists at the time.

Standard library only: runs unchanged natively and under Pyodide.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass

from .errors import FingerprintFormatError, KeyMismatchError, KeyNotPinnedError, PinError
from .items import RESERVED_PREFIX

FINGERPRINT_DOMAIN = b"zkvault-fingerprint-v1"
FINGERPRINT_BYTES = 15  # 120 bits: 24 base32 characters, six groups of four
KEY_TYPES = {"machine": 32, "runner": 32, "owner-grant": 32}
PINS_ITEM = RESERVED_PREFIX + "pins"
PINS_VERSION = 1
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def fingerprint(key_type: str, key: bytes) -> str:
    """SHA-256 over domain, key type and key; first 15 bytes, base32, groups of four."""
    size = KEY_TYPES.get(key_type)
    if size is None:
        raise ValueError(f"unknown key type {key_type!r}")
    if len(key) != size:
        raise PinError(f"a {key_type} key is {size} bytes")
    label = key_type.encode("ascii")
    digest = hashlib.sha256(
        FINGERPRINT_DOMAIN + b"\x00" + bytes([len(label)]) + label + bytes(key)
    ).digest()
    text = base64.b32encode(digest[:FINGERPRINT_BYTES]).decode("ascii")
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def normalise_fingerprint(text: str) -> str:
    """The canonical form of a fingerprint a person typed or pasted (case, spaces and
    dashes ignored); FingerprintFormatError if it cannot be one."""
    cleaned = "".join(ch for ch in text.upper() if ch not in " -\t")
    if len(cleaned) != 24 or any(ch not in _B32 for ch in cleaned):
        raise FingerprintFormatError
    return "-".join(cleaned[i : i + 4] for i in range(0, 24, 4))


@dataclass(frozen=True)
class RunnerPin:
    key: bytes
    name: str

    @property
    def fingerprint(self) -> str:
        return fingerprint("runner", self.key)


class RunnerPins:
    """The pinned runner keys, as stored in the reserved ``.zkvault-pins`` item's secret."""

    def __init__(self, runners: dict[str, RunnerPin] | None = None) -> None:
        self.runners: dict[str, RunnerPin] = dict(runners or {})

    @classmethod
    def parse(cls, secret: str) -> RunnerPins:
        try:
            data = json.loads(secret)
            if data.get("v") != PINS_VERSION:
                raise PinError("unsupported pins version")
            runners = {
                str(uuid.UUID(rid)): RunnerPin(_b64d(pin["key"]), str(pin["name"]))
                for rid, pin in data["runners"].items()
            }
        except (ValueError, KeyError, TypeError, AttributeError):
            raise PinError("the pinned keys are damaged") from None
        for pin in runners.values():
            if len(pin.key) != KEY_TYPES["runner"]:
                raise PinError("the pinned keys are damaged")
        return cls(runners)

    def dumps(self) -> str:
        runners = {
            rid: {"key": _b64e(pin.key), "name": pin.name}
            for rid, pin in sorted(self.runners.items())
        }
        return json.dumps({"v": PINS_VERSION, "runners": runners}, separators=(",", ":"))

    def pin(self, runner_id: str, key: bytes, name: str) -> RunnerPin:
        fingerprint("runner", key)  # checks the length
        pin = RunnerPin(bytes(key), name)
        self.runners[str(uuid.UUID(runner_id))] = pin
        return pin

    def key_to_seal_to(self, runner_id: str, offered: bytes | None) -> bytes:
        """The pinned key of this runner. ``offered`` (what the server lists now) must be
        exactly that key: a server-supplied key is compared, never used."""
        pin = self.runners.get(str(uuid.UUID(runner_id)))
        if pin is None:
            raise KeyNotPinnedError
        if offered is not None and bytes(offered) != pin.key:
            shown = _safe_fingerprint(offered)
            raise KeyMismatchError(pin.fingerprint, shown)
        return pin.key


def _safe_fingerprint(key: bytes) -> str:
    try:
        return fingerprint("runner", key)
    except PinError:
        return f"(not a key: {len(key)} bytes)"


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
