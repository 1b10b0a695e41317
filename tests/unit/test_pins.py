"""Key fingerprints and runner pins (format.md, "Key fingerprints and pins")."""

from __future__ import annotations

import base64
import hashlib
import uuid

import pytest

from vault_core import fingerprint
from vault_core.errors import (
    FingerprintFormatError,
    IdTakenError,
    KeyLengthError,
    KeyMismatchError,
    KeyNotPinnedError,
    PinError,
)
from vault_core.pins import RunnerPin, RunnerPins, normalise_fingerprint


def _spec_fingerprint(key_type: str, key: bytes) -> str:
    """Written from the spec text, independently of vault_core."""
    label = key_type.encode()
    data = b"zkvault-fingerprint-v1\x00" + bytes([len(label)]) + label + key
    text = base64.b32encode(hashlib.sha256(data).digest()[:15]).decode()
    return "-".join(text[i : i + 4] for i in range(0, 24, 4))


def test_fingerprint_follows_the_spec_and_separates_key_types() -> None:
    key = bytes(range(32))
    shown = {t: fingerprint(t, key) for t in ("machine", "runner", "owner-grant")}
    for key_type, fp in shown.items():
        assert fp == _spec_fingerprint(key_type, key)
        assert len(fp) == 29 and fp.count("-") == 5
    assert len(set(shown.values())) == 3  # the same bytes as another type: another fingerprint
    assert fingerprint("runner", bytes(32)) != fingerprint("runner", key)


def test_fingerprint_rejects_bad_input() -> None:
    for key_type, key in (("runner", bytes(31)), ("ssh", bytes(32))):
        with pytest.raises(KeyLengthError) as exc:
            fingerprint(key_type, key)
        assert exc.value.code == "bad_key"


def test_normalise_fingerprint() -> None:
    fp = fingerprint("owner-grant", bytes(32))
    assert normalise_fingerprint(fp.lower().replace("-", " ")) == fp
    for bad in ("", "ABCD", fp + "A", fp.replace(fp[0], "1")):
        with pytest.raises(FingerprintFormatError) as exc:
            normalise_fingerprint(bad)
        assert exc.value.code == "bad_fingerprint"


def test_pins_round_trip_and_seal_only_to_the_pinned_key() -> None:
    runner, other = str(uuid.uuid4()), str(uuid.uuid4())
    pinned, swapped = bytes([1]) * 32, bytes([2]) * 32
    pins = RunnerPins()
    pins.pin(runner, pinned, "ci-1")
    again = RunnerPins.parse(pins.dumps())
    assert again.key_to_seal_to(runner, pinned) == pinned
    assert again.runners[uuid.UUID(runner)].name == "ci-1"
    with pytest.raises(KeyMismatchError) as exc:
        again.key_to_seal_to(runner, swapped)
    assert exc.value.code == "key_mismatch"
    assert exc.value.pinned == fingerprint("runner", pinned)
    assert exc.value.offered == fingerprint("runner", swapped)
    with pytest.raises(KeyNotPinnedError):
        again.key_to_seal_to(other, pinned)


@pytest.mark.parametrize("secret", ["", "[]", '{"v": 2, "runners": {}}', '{"v": 1}'])
def test_damaged_pins_are_refused(secret: str) -> None:
    with pytest.raises(PinError):
        RunnerPins.parse(secret)


def test_a_pin_is_never_replaced() -> None:
    """The id a pin is filed under comes from the server: pinning a second key under an
    id already pinned is refused, and the first pin stays; another spelling of the id is
    not its one form, and refused as such."""
    runner = uuid.uuid4()
    production, other = bytes([1]) * 32, bytes([2]) * 32
    pins = RunnerPins()
    pins.pin(str(runner), production, "production")
    before = pins.dumps()
    for spelling in (str(runner), runner):
        for key in (other, production):  # the same key again is no exception
            with pytest.raises(IdTakenError) as exc:
                pins.pin(spelling, key, "pull requests")
            assert exc.value.code == "id_taken"
    for spelling in (str(runner).upper(), runner.hex, "{" + str(runner) + "}"):
        with pytest.raises(PinError) as damaged:  # not the one text form: never pinned
            pins.pin(spelling, other, "pull requests")
        assert damaged.value.code == "pin"
    assert pins.dumps() == before
    assert pins.key_to_seal_to(runner, None) == production
    pins.pin(uuid.uuid4(), other, "pull requests")  # under its own id: pinned
    assert len(pins.runners) == 2


def test_a_rename_keeps_the_key() -> None:
    runner = uuid.uuid4()
    pins = RunnerPins()
    pins.pin(runner, bytes([1]) * 32, "production")
    pins.rename(str(runner), "production eu")
    again = RunnerPins.parse(pins.dumps())
    assert again.runners[runner] == RunnerPin(bytes([1]) * 32, "production eu")
    with pytest.raises(KeyNotPinnedError):
        pins.rename(uuid.uuid4(), "x")
    with pytest.raises(PinError):
        pins.rename(runner, "")
