"""The team vault's audit anchor (format.md §15, "Audit anchors"): the record's grammar, its
round trip through a signed save, its place among the items (hidden, not editable), the
rule that it never moves back, and a kept revision opened to read it."""

from __future__ import annotations

import uuid

import pytest

from tests.vectors.common import Stream
from tests.vectors.teams import ADMIN, ITEMS, READER, WRITER, _Log
from vault_core.audit_chain import AuditAnchor
from vault_core.bookkeeping import AUDIT_ANCHOR_ITEM, dump_anchor, parse_anchor
from vault_core.errors import (
    BodyAuthError,
    LimitExceededError,
    MalformedError,
    NotFoundError,
    ReservedNameError,
    StaleEpochError,
    TeamPermissionError,
)
from vault_core.items import MAX_ITEMS, Item
from vault_core.teams import TeamVault
from vault_core.teams.ops import remove_entry

HEAD = "ab" * 32


def test_the_record_round_trips_in_its_one_spelling() -> None:
    text = dump_anchor(AuditAnchor(12, HEAD))
    assert text == '{"head":"' + HEAD + '","seq":"12","v":"1"}'
    assert parse_anchor(text) == AuditAnchor(12, HEAD)


@pytest.mark.parametrize(
    "secret",
    [
        '{"head":"' + HEAD + '","seq":12,"v":"1"}',  # a number, not a decimal string
        '{"head":"' + HEAD + '","seq":"012","v":"1"}',  # a leading zero
        '{"head":"' + HEAD + '","seq":"0","v":"1"}',  # seq 0: no event anchored
        '{"head":"' + HEAD + '","seq":"9223372036854775808","v":"1"}',  # 2**63
        '{"head":"' + HEAD.upper() + '","seq":"12","v":"1"}',
        '{"head":"' + HEAD[:-2] + '","seq":"12","v":"1"}',
        '{"head":"' + HEAD + '","seq":"12","v":"2"}',
        '{"head":"' + HEAD + '","seq":"12"}',
        '{"head":"' + HEAD + '","seq":"12","v":"1","x":""}',
        '{"seq":"12","head":"' + HEAD + '","v":"1"}',  # not canonical: keys out of order
        '{"head": "' + HEAD + '","seq":"12","v":"1"}',  # not canonical: a space
        "[]",
        "",
    ],
)
def test_a_malformed_record_is_refused_typed(secret: str) -> None:
    with pytest.raises(MalformedError):
        parse_anchor(secret)


@pytest.mark.parametrize("anchor", [AuditAnchor(0, HEAD), AuditAnchor(1, "not hex")])
def test_a_malformed_anchor_is_never_written(anchor: AuditAnchor) -> None:
    with pytest.raises(MalformedError):
        dump_anchor(anchor)
    log = _Log(Stream(b"anchor unit"))
    vault = TeamVault(uuid.UUID(hex=log.state.team_id), log.key, 1)
    with pytest.raises(MalformedError):
        vault.set_audit_anchor(anchor)
    assert vault.audit_anchor is None


def _saved(anchors: list[AuditAnchor]) -> tuple[_Log, Stream, TeamVault, bytes]:
    stream = Stream(b"anchor unit")
    log = _Log(stream)
    vault = TeamVault(uuid.UUID(hex=log.state.team_id), log.key, 1)
    vault.add(ITEMS[0], random_bytes=stream)
    for anchor in anchors:
        vault.set_audit_anchor(anchor, random_bytes=stream)
    return log, stream, vault, vault.save(WRITER, log.state, random_bytes=stream)


def test_a_save_seals_the_anchor_and_any_member_reads_it_back() -> None:
    log, _, _, blob = _saved([AuditAnchor(3, HEAD)])
    opened = TeamVault.open(blob, states=log.states, team_key=log.key)
    assert opened.audit_anchor == AuditAnchor(3, HEAD)
    # A bookkeeping item: not listed, not found by name, not editable or removable.
    assert [i.name for i in opened.items()] == [ITEMS[0].name]
    with pytest.raises(NotFoundError):
        opened.lookup(AUDIT_ANCHOR_ITEM)
    with pytest.raises(ReservedNameError):
        opened.add(Item(name=AUDIT_ANCHOR_ITEM, kind="generic", url="", secret="x"))
    hidden = next(i for i, s in opened._items.items() if s.item.name == AUDIT_ANCHOR_ITEM)
    with pytest.raises(ReservedNameError):
        opened.remove(hidden)
    with pytest.raises(ReservedNameError):
        opened.update(hidden, Item(name="mine", kind="generic", url="", secret="x"))
    # Kept across a save that does not set it (as the web app's saves do).
    opened.add(ITEMS[1])
    again = opened.save(WRITER, log.state)
    assert TeamVault.open(again, states=log.states, team_key=log.key).audit_anchor == AuditAnchor(
        3, HEAD
    )


def test_a_vault_without_an_anchor_reads_none() -> None:
    log, _, _, blob = _saved([])
    assert TeamVault.open(blob, states=log.states, team_key=log.key).audit_anchor is None


def test_the_anchor_never_moves_back() -> None:
    # An older head, or another hash at the same seq, leaves the anchor a save committed to.
    later = AuditAnchor(9, "cd" * 32)
    _, _, vault, _ = _saved([AuditAnchor(3, HEAD), later, AuditAnchor(5, HEAD)])
    assert vault.audit_anchor == later
    vault.set_audit_anchor(AuditAnchor(9, HEAD))
    assert vault.audit_anchor == later
    vault.set_audit_anchor(AuditAnchor(10, HEAD))
    assert vault.audit_anchor == AuditAnchor(10, HEAD)


def test_a_kept_revision_opens_against_the_log_at_its_entry() -> None:
    """After the writer's removal (epoch 2) the epoch-1 revision no longer opens as the
    current vault, but a member who held the epoch-1 key reads its anchor from it; a kept
    revision whose signature does not hold is refused."""
    log, stream, _, blob = _saved([AuditAnchor(3, HEAD)])
    removal, _ = remove_entry(ADMIN, log.state, WRITER.account_id.hex, random_bytes=stream)
    log.append(removal)
    with pytest.raises(StaleEpochError):
        TeamVault.open(blob, states=log.states, team_key=log.key)
    kept = TeamVault.open_kept(blob, states=log.states, keys=READER)
    assert (kept.revision, kept.audit_anchor) == (1, AuditAnchor(3, HEAD))
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])  # the last record's last byte
    with pytest.raises(BodyAuthError):
        TeamVault.open_kept(flipped, states=log.states, keys=READER)
    other_writer = blob[:46] + READER.account_id.bytes + blob[62:]
    with pytest.raises(TeamPermissionError):
        TeamVault.open_kept(other_writer, states=log.states, keys=READER)


def test_a_full_team_vault_keeps_a_place_for_the_anchor() -> None:
    log = _Log(Stream(b"anchor unit"))
    vault = TeamVault(uuid.UUID(hex=log.state.team_id), log.key, 1)
    for n in range(MAX_ITEMS - 1):
        vault.add(Item(name=f"item-{n}", kind="generic", url="", secret="x"))
    with pytest.raises(LimitExceededError):
        vault.add(Item(name="one-too-many", kind="generic", url="", secret="x"))
    vault.set_audit_anchor(AuditAnchor(3, HEAD))
    assert vault.audit_anchor == AuditAnchor(3, HEAD)
    assert len(vault.items()) == MAX_ITEMS - 1
