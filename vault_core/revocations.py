"""Revocations recorded in the vault (format.md §12.1, ``.zkvault-revoked``).

Revoking a runner or a machine removes its pin and grants and adds it here, inside the
vault's authenticated data: from then on no client pins, approves or seals to that id or
that key, whatever the server lists (a server that "un-revokes" a device cannot undo this
record, and an older revision that predates it is a rollback or a fork, §14).

Standard library only: runs unchanged natively and under Pyodide.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from .b64url import Base64UrlError, b64url_decode, b64url_encode
from .bookkeeping import RUNNER_ID, checked_name
from .encoding import canonical_json, parse_canonical_json
from .errors import KeyRevokedError, LimitExceededError, PinError, VaultError
from .items import RESERVED_PREFIX, SECRET_MAX_BYTES
from .lineage import TIME

REVOKED_ITEM = RESERVED_PREFIX + "revoked"
REVOKED_VERSION = "1"
MAX_REVOKED = 64  # the oldest revocations make way (format.md §12.1)
KINDS = ("machine", "runner")
KEY_BYTES = 32


@dataclass(frozen=True)
class Revoked:
    kind: str  # machine | runner
    key: bytes
    name: str
    at: str  # UTC, YYYY-MM-DDTHH:MM:SSZ


class Revocations:
    """Device id → what was revoked; read strictly, as every bookkeeping record."""

    def __init__(self, devices: dict[uuid.UUID, Revoked] | None = None) -> None:
        self.devices: dict[uuid.UUID, Revoked] = dict(devices or {})

    @classmethod
    def parse(cls, secret: str) -> Revocations:
        try:
            data = parse_canonical_json(secret.encode("utf-8"))
        except (VaultError, UnicodeError):
            data = None
        if (
            not isinstance(data, dict)
            or sorted(data) != ["devices", "v"]
            or data["v"] != REVOKED_VERSION
            or not isinstance(data["devices"], dict)
            or len(data["devices"]) > MAX_REVOKED
        ):
            raise PinError('not {"devices":{...},"v":"1"} in canonical JSON')
        devices = {}
        for device_id, entry in data["devices"].items():
            if not RUNNER_ID.fullmatch(device_id):
                raise PinError("a revoked id is not a lowercase hyphenated UUID")
            if not isinstance(entry, dict) or sorted(entry) != ["at", "key", "kind", "name"]:
                raise PinError('a revocation is {"at","key","kind","name"}')
            try:
                key = b64url_decode(entry["key"])
            except (Base64UrlError, TypeError):
                raise PinError("a revoked key is not base64url") from None
            name = entry["name"]
            if (
                entry["kind"] not in KINDS
                or len(key) != KEY_BYTES
                or not isinstance(entry["at"], str)
                or not TIME.fullmatch(entry["at"])
            ):
                raise PinError("a revocation's kind, key, name or time is out of range")
            checked_name(name, PinError, "a revoked device's")
            devices[uuid.UUID(device_id)] = Revoked(entry["kind"], key, name, entry["at"])
        return cls(devices)

    def dumps(self) -> str:
        text = self._text()
        if len(text) > SECRET_MAX_BYTES:
            raise LimitExceededError(f"the revoked record is limited to {SECRET_MAX_BYTES} bytes")
        return text.decode("utf-8")

    def _text(self) -> bytes:
        doc = {
            "devices": {
                str(device_id): {
                    "at": r.at,
                    "key": b64url_encode(r.key),
                    "kind": r.kind,
                    "name": r.name,
                }
                for device_id, r in self.devices.items()
            },
            "v": REVOKED_VERSION,
        }
        return canonical_json(doc)

    def add(self, device_id: uuid.UUID, revoked: Revoked) -> None:
        """Record a revocation; beyond MAX_REVOKED entries, or 16,384 bytes (64 long names
        would not fit, and a record that cannot be written would stop every revocation),
        the oldest is forgotten (format.md §12.1)."""
        if revoked.kind not in KINDS or len(revoked.key) != KEY_BYTES:
            raise PinError("a revocation names a machine or runner and its 32-byte key")
        checked_name(revoked.name, PinError, "a revoked device's")
        if not TIME.fullmatch(revoked.at):
            raise PinError("a revocation's time is YYYY-MM-DDTHH:MM:SSZ")
        self.devices[device_id] = revoked
        while len(self.devices) > MAX_REVOKED or len(self._text()) > SECRET_MAX_BYTES:
            oldest = min(self.devices, key=lambda d: (self.devices[d].at, str(d)))
            del self.devices[oldest]

    def check_allowed(self, device_id: uuid.UUID | None, key: bytes | None) -> None:
        """``key_revoked`` if this id or key was revoked: nothing may be pinned, approved
        or sealed to it."""
        if device_id is not None and device_id in self.devices:
            raise KeyRevokedError(f"{self.devices[device_id].kind} id {device_id} was revoked")
        if key is not None and any(r.key == bytes(key) for r in self.devices.values()):
            raise KeyRevokedError("that key belongs to a revoked runner or machine")
