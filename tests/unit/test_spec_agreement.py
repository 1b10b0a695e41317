"""vault_core and the independent reader (spec_reader, written from docs/format.md) agree on
generated inputs too, not only on the vectors: reserved names, typed fingerprints, and the
bookkeeping records with their bytes mutated."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit import spec_reader
from vault_core import RunnerGrants, RunnerPins, errors, is_reserved, normalise_fingerprint

RID = "0d5e8a80-9f0e-4a0b-9c7e-3c1f5e2b7d44"
KEY = base64.urlsafe_b64encode(bytes(range(32))).rstrip(b"=").decode()
PINS = '{"runners":{"RID":{"key":"KEY","name":"ci-1"}},"v":"1"}'.replace("RID", RID)
PINS = PINS.replace("KEY", KEY)
GRANTS = '{"runners":{"RID":["ID1","ID2"]},"v":"1"}'.replace("RID", RID)
GRANTS = GRANTS.replace("ID1", "0" * 31 + "1").replace("ID2", "0" * 31 + "2")


def _ours(read: Callable[[], Any]) -> str:
    try:
        read()
    except errors.VaultError as error:
        return error.code
    return "ok"


def _theirs(read: Callable[[], Any]) -> str:
    try:
        read()
    except spec_reader.Refused as refused:
        return refused.code
    return "ok"


def _reserved_theirs(name: str) -> bool:
    return _theirs(lambda: spec_reader.check_item_name(name)) == "reserved_name"


# Names built near the prefix: white space, look-alikes, case, and noise around it.
near = st.lists(
    st.sampled_from([".", "\uff0e", "z", "Z", "\uff5a", "kvault", "-", "\u2011", " ", "\u3000"])
    | st.characters(blacklist_categories=["Cs"]),
    max_size=8,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(near, near.map(lambda s: s + ".zkvault-"), near.map(lambda s: ".zkvault-" + s)))
def test_reserved_names_agree(name: str) -> None:
    assert is_reserved(name) == _reserved_theirs(name)


typed = st.lists(
    st.sampled_from(["A", "a", "2", "7", "1", "-", " ", "\t", "\u00a0", "\u00df", "\u0131", "z"])
    | st.characters(blacklist_categories=["Cs"]),
    min_size=20,
    max_size=30,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(typed)
def test_typed_fingerprints_agree(text: str) -> None:
    ours = _ours(lambda: normalise_fingerprint(text))
    assert ours == _theirs(lambda: spec_reader.normalise_typed(text))
    if ours == "ok":
        assert normalise_fingerprint(text) == spec_reader.normalise_typed(text)


def _mutate(text: str, data: st.DataObject) -> str:
    chars = list(text)
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(chars)))
        what = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        ch = data.draw(st.sampled_from(list(' "{}[],:1aAvt-_+/=\\')) | st.characters())
        if what == "insert" or not chars:
            chars.insert(at, ch)
        elif what == "delete":
            del chars[min(at, len(chars) - 1)]
        else:
            chars[min(at, len(chars) - 1)] = ch
    return "".join(chars)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_mutated_records_agree(data: st.DataObject) -> None:
    pins = _mutate(PINS, data)
    assert _ours(lambda: RunnerPins.parse(pins)) == _theirs(lambda: spec_reader.read_pins(pins))
    grants = _mutate(GRANTS, data)
    assert _ours(lambda: RunnerGrants.parse(grants)) == _theirs(
        lambda: spec_reader.read_grant_list(grants)
    )


def _pin(record: str, runner_id: str, key: bytes, name: str) -> str:
    pins = RunnerPins.parse(record)
    pins.pin(runner_id, key, name)
    return pins.dumps()


@settings(max_examples=300, deadline=None)
@given(
    st.data(),
    st.sampled_from([RID, RID.upper(), "{" + RID + "}", "6f1d1c52-3d6e-4c55-9a55-0b8f1f0f4a11"])
    | st.uuids().map(str)
    | st.text(max_size=40),
    st.binary(min_size=30, max_size=33),
    st.text(max_size=130),
)
def test_pinning_agrees(data: st.DataObject, runner_id: str, key: bytes, name: str) -> None:
    """§12.1 "Pinning": the same code, or the same record written, whatever the record
    (mutated), the id's spelling, the key's length and the name."""
    record = data.draw(st.sampled_from([PINS, _mutate(PINS, data)]))
    ours, theirs = "ok", "ok"
    try:
        mine = _pin(record, runner_id, key, name)
    except errors.VaultError as error:
        ours = error.code
    try:
        other = spec_reader.add_pin(record, runner_id, key, name)
    except spec_reader.Refused as refused:
        theirs = refused.code
    assert ours == theirs, (record, runner_id, key.hex(), name)
    if ours == "ok":
        assert mine == other
