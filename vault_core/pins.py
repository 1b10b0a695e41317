"""The runner keys an owner pinned (format.md §12, "Runner pins").

A pin is the owner's record, inside the
vault and so authenticated by the vault key, of which X25519 key each runner was
approved with: grants are sealed to the pinned key only, never to the key the server
lists at the time.

Standard library only: runs unchanged natively and under Pyodide.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from .b64url import Base64UrlError, b64url_decode, b64url_encode
from .bookkeeping import (
    PINS_ITEM,
    RUNNER_ID,
    checked_name,
    dump_document,
    legacy_pins,
    parse_document,
)
from .errors import IdTakenError, KeyMismatchError, KeyNotPinnedError, PinError
from .fingerprints import KEY_TYPES, fingerprint, normalise_fingerprint

__all__ = ["PINS_ITEM", "RunnerPin", "RunnerPins", "fingerprint", "normalise_fingerprint"]


def _name(name: object) -> str:
    return checked_name(name, PinError, "a runner's")


@dataclass(frozen=True)
class RunnerPin:
    key: bytes
    name: str

    @property
    def fingerprint(self) -> str:
        return fingerprint("runner", self.key)


class RunnerPins:
    """The pinned runner keys, as stored in the reserved ``.zkvault-pins`` item's secret
    (format.md §12.1): runner id → key and name."""

    def __init__(self, runners: dict[uuid.UUID, RunnerPin] | None = None) -> None:
        self.runners: dict[uuid.UUID, RunnerPin] = dict(runners or {})

    @classmethod
    def parse(cls, secret: str) -> RunnerPins:
        runners: dict[uuid.UUID, RunnerPin] = {}
        for rid, pin in parse_document(secret, PinError, legacy_pins).items():
            if not isinstance(pin, dict) or sorted(pin) != ["key", "name"]:
                raise PinError('a pin is {"key":...,"name":...}')
            try:
                key = b64url_decode(pin["key"])
            except Base64UrlError:
                raise PinError("a pinned key is not base64url") from None
            if len(key) != KEY_TYPES["runner"]:
                raise PinError("a pinned key is not 32 bytes")
            runners[uuid.UUID(rid)] = RunnerPin(key, _name(pin["name"]))
        return cls(runners)

    def dumps(self) -> str:
        runners = {
            str(rid): {"key": b64url_encode(pin.key), "name": pin.name}
            for rid, pin in self.runners.items()
        }  # the document's keys: UUID text, put in order by the canonical encoding
        return dump_document(runners, PinError)

    def pin(self, runner_id: str | uuid.UUID, key: bytes, name: str) -> RunnerPin:
        """Pin a newly approved runner's key. An id already pinned is refused
        (``id_taken``), never replaced: the id comes from the server, and replacing a pin
        would hand that runner's later grants to whichever key was approved now."""
        if isinstance(runner_id, str) and not RUNNER_ID.fullmatch(runner_id):
            raise PinError("a runner id is pinned in its one text form (format.md §12.1)")
        rid = _runner_id(runner_id)
        fingerprint("runner", key)  # checks the length
        pin = RunnerPin(bytes(key), _name(name))
        if rid in self.runners:
            raise IdTakenError
        self.runners[rid] = pin
        return pin

    def rename(self, runner_id: str | uuid.UUID, name: str) -> RunnerPin:
        """The owner renamed this runner: its pin keeps its key, under its new name (the
        name the web app shows, whatever name the server lists)."""
        rid = _runner_id(runner_id)
        if rid not in self.runners:
            raise KeyNotPinnedError
        self.runners[rid] = RunnerPin(self.runners[rid].key, _name(name))
        return self.runners[rid]

    def key_to_seal_to(self, runner_id: str | uuid.UUID, offered: bytes | None) -> bytes:
        """The pinned key of this runner. ``offered`` (what the server lists now) must be
        exactly that key: a server-supplied key is compared, never used."""
        pin = self.runners.get(_runner_id(runner_id))
        if pin is None:
            raise KeyNotPinnedError
        if offered is not None and bytes(offered) != pin.key:
            shown = _safe_fingerprint(offered)
            raise KeyMismatchError(pin.fingerprint, shown)
        return pin.key


def _runner_id(runner_id: str | uuid.UUID) -> uuid.UUID:
    try:
        return runner_id if isinstance(runner_id, uuid.UUID) else uuid.UUID(runner_id)
    except ValueError:
        raise PinError("not a runner id") from None


def _safe_fingerprint(key: bytes) -> str:
    try:
        return fingerprint("runner", key)
    except PinError:
        return f"(not a key: {len(key)} bytes)"
