"""The membership log refuses what a lying server (or a member without the role) makes
(format.md §15): every lie below is built with real keys and real signatures."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from vault_core import errors
from vault_core.b64url import b64url_decode, b64url_encode
from vault_core.encoding import canonical_json
from vault_core.teams import (
    IdentityKeys,
    TeamState,
    add_entry,
    apply,
    create_entry,
    identity_fingerprint,
    leave_entry,
    open_team_key,
    parse_entry,
    parse_identity,
    remove_entry,
    replay,
    role_entry,
    rotate_entry,
    seal_team_key,
    sign_entry,
)


def person() -> IdentityKeys:
    return IdentityKeys.generate(uuid.uuid4())


class Team:
    """A log grown by real clients: owner, then admin, writer and reader added."""

    def __init__(self) -> None:
        self.owner, self.admin, self.writer, self.reader = person(), person(), person(), person()
        raw, self.key = create_entry(self.owner, "owner@example.com", "Platform", at=1)
        self.log = [raw]
        self.state = replay(self.log)
        for keys, role in ((self.admin, "admin"), (self.writer, "writer"), (self.reader, "reader")):
            self.append(
                add_entry(
                    self.owner,
                    self.state,
                    keys.identity(),
                    f"{role}@example.com",
                    role,
                    "fingerprint",
                    self.key,
                    at=2,
                )
            )

    def append(self, raw: bytes) -> TeamState:
        self.state = apply(self.state, parse_entry(raw))
        self.log.append(raw)
        return self.state

    def team_uuid(self) -> uuid.UUID:
        return uuid.UUID(hex=self.state.team_id)


@pytest.fixture
def team() -> Team:
    return Team()


def resign(keys: IdentityKeys, raw: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    body = json.loads(raw)["body"]
    change(body)
    return sign_entry(keys, body)


# --- identities -------------------------------------------------------------------------


def test_an_identity_round_trips_and_its_safety_number_covers_account_and_keys() -> None:
    keys = person()
    identity = parse_identity(keys.bundle(), keys.account_id)
    assert (identity.sign_key, identity.box_key) == (keys.sign_key, keys.box_key)
    assert len(keys.bundle()) == 150
    other = identity_fingerprint(uuid.uuid4(), keys.sign_key, keys.box_key)
    assert identity.safety_number != other
    assert "seed" not in repr(keys) and keys.seed_bytes().hex() not in repr(keys)


def test_a_forged_identity_is_refused() -> None:
    keys, server = person(), person()
    bundle = bytearray(keys.bundle())
    bundle[54:86] = server.box_key  # the server's own box key under the person's signature
    with pytest.raises(errors.IdentityAuthError):
        parse_identity(bytes(bundle))


def test_another_accounts_identity_is_refused() -> None:
    keys = person()
    with pytest.raises(errors.IdentityBindingError):
        parse_identity(keys.bundle(), uuid.uuid4())


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda b: b[:149], errors.MalformedError),
        (lambda b: b + b"\0", errors.MalformedError),
        (lambda b: b"ZKIE" + b[4:], errors.MalformedError),
        (lambda b: b[:4] + b"\0\2" + b[6:], errors.UnsupportedVersionError),
    ],
)
def test_a_damaged_identity_is_refused(mutate: Callable[[bytes], bytes], error: type) -> None:
    with pytest.raises(error):
        parse_identity(mutate(person().bundle()))


# --- the log: honest use ----------------------------------------------------------------


def test_an_honest_log_replays_to_the_same_state(team: Team) -> None:
    state = replay(team.log)
    assert state == team.state
    assert {m.role for m in state.members.values()} == {"owner", "admin", "writer", "reader"}
    assert state.seq == 4 and state.epoch == 1


def test_removal_begins_an_epoch_sealed_to_the_rest_only(team: Team) -> None:
    raw, new_key = remove_entry(team.admin, team.state, team.writer.account_id.hex, at=5)
    state = team.append(raw)
    assert state.epoch == 2 and team.writer.account_id.hex not in state.members
    assert set(state.boxes) == set(state.members)
    opened = open_team_key(
        state.boxes[team.reader.account_id.hex], team.reader, team.team_uuid(), 2, state.key_check
    )
    assert opened == new_key != team.key


def test_leave_then_rotate(team: Team) -> None:
    state = team.append(leave_entry(team.writer, team.state, at=5))
    assert state.left_since_rotation == {team.writer.account_id.hex} and state.epoch == 1
    raw, _ = rotate_entry(team.admin, state, at=6)
    assert team.append(raw).left_since_rotation == frozenset()


# --- the log: lies ----------------------------------------------------------------------


def test_a_forged_signature_is_refused(team: Team) -> None:
    raw = role_entry(team.owner, team.state, team.reader.account_id.hex, "admin", at=5)
    outer = json.loads(raw)
    sig = bytearray(b64url_decode(outer["sig"]))
    sig[0] ^= 1
    outer["sig"] = b64url_encode(bytes(sig))
    with pytest.raises(errors.TeamLogSignatureError):
        apply(team.state, parse_entry(canonical_json(outer)))


def test_an_entry_signed_by_a_key_the_log_did_not_record_is_refused(team: Team) -> None:
    server = IdentityKeys(team.owner.account_id, bytes(32))  # the owner's id, the server's key
    raw = role_entry(server, team.state, team.reader.account_id.hex, "admin", at=5)
    with pytest.raises(errors.TeamLogSignatureError):
        apply(team.state, parse_entry(raw))


def test_a_dropped_entry_is_refused(team: Team) -> None:
    with pytest.raises(errors.TeamLogGapError):
        replay(team.log[:2] + team.log[3:])


def test_a_replayed_entry_is_refused(team: Team) -> None:
    with pytest.raises(errors.TeamLogGapError):
        replay([*team.log, team.log[-1]])


def test_a_forked_log_is_refused(team: Team) -> None:
    # Two histories from the same state: the server shows one member the second after the first.
    first = role_entry(team.owner, team.state, team.reader.account_id.hex, "writer", at=5)
    state = team.append(first)
    fork = resign(team.owner, first, lambda b: b.update(at="6"))
    fork = resign(team.owner, fork, lambda b: b.update(seq=str(state.seq + 1)))
    with pytest.raises(errors.TeamLogForkError):
        apply(state, parse_entry(fork))


def test_a_rolled_back_prev_is_refused(team: Team) -> None:
    raw = role_entry(team.owner, team.state, team.reader.account_id.hex, "writer", at=5)
    raw = resign(team.owner, raw, lambda b: b.update(prev=bytes(32).hex()))
    with pytest.raises(errors.TeamLogForkError):
        apply(team.state, parse_entry(raw))


@pytest.mark.parametrize("who", ["reader", "writer"])
def test_a_reader_or_writer_cannot_change_membership(team: Team, who: str) -> None:
    signer = getattr(team, who)
    with pytest.raises(errors.TeamPermissionError):
        apply(
            team.state, parse_entry(role_entry(signer, team.state, signer.account_id.hex, "admin"))
        )
    with pytest.raises(errors.TeamPermissionError):
        apply(
            team.state,
            parse_entry(
                add_entry(
                    signer,
                    team.state,
                    person().identity(),
                    "x@example.com",
                    "reader",
                    "tofu",
                    team.key,
                )
            ),
        )


def test_an_ex_admin_cannot_sign(team: Team) -> None:
    team.append(role_entry(team.owner, team.state, team.admin.account_id.hex, "reader"))
    raw = add_entry(
        team.admin, team.state, person().identity(), "x@example.com", "writer", "tofu", team.key
    )
    with pytest.raises(errors.TeamPermissionError):
        apply(team.state, parse_entry(raw))


def test_a_removed_admin_cannot_sign(team: Team) -> None:
    raw, _ = remove_entry(team.owner, team.state, team.admin.account_id.hex)
    team.append(raw)
    with pytest.raises(errors.TeamPermissionError):
        apply(
            team.state,
            parse_entry(role_entry(team.admin, team.state, team.reader.account_id.hex, "admin")),
        )


def test_an_admin_cannot_raise_anyone_to_owner(team: Team) -> None:
    for account in (team.admin.account_id.hex, team.writer.account_id.hex):
        with pytest.raises(errors.TeamPermissionError):
            apply(team.state, parse_entry(role_entry(team.admin, team.state, account, "owner")))


def test_an_admin_cannot_remove_or_demote_an_owner(team: Team) -> None:
    raw, _ = remove_entry(team.admin, team.state, team.owner.account_id.hex)
    with pytest.raises(errors.TeamPermissionError):
        apply(team.state, parse_entry(raw))
    with pytest.raises(errors.TeamPermissionError):
        apply(
            team.state,
            parse_entry(role_entry(team.admin, team.state, team.owner.account_id.hex, "admin")),
        )


def test_the_last_owner_cannot_leave_or_be_demoted(team: Team) -> None:
    with pytest.raises(errors.TeamPermissionError):
        apply(team.state, parse_entry(leave_entry(team.owner, team.state)))
    with pytest.raises(errors.TeamPermissionError):
        apply(
            team.state,
            parse_entry(role_entry(team.owner, team.state, team.owner.account_id.hex, "admin")),
        )


def test_a_removed_member_readded_without_a_valid_admin_entry_is_refused(team: Team) -> None:
    writer = team.writer
    raw, new_key = remove_entry(team.owner, team.state, writer.account_id.hex)
    team.append(raw)
    # The server re-adds the writer: signed by the writer itself (no longer a member) ...
    readd = add_entry(
        writer, team.state, writer.identity(), "w@example.com", "writer", "tofu", new_key
    )
    with pytest.raises(errors.TeamPermissionError):
        apply(team.state, parse_entry(readd))
    # ... or the owner's genuine add entry of it from before, replayed at the next seq:
    # the signature covers seq and prev, so moving it breaks the signature.
    outer = json.loads(team.log[3])
    outer["body"].update(seq=str(team.state.seq + 1), prev=team.state.head.hex())
    with pytest.raises(errors.TeamLogSignatureError):
        apply(team.state, parse_entry(canonical_json(outer)))
    # An owner's genuine add is accepted: being re-added is up to an admin.
    team.append(
        add_entry(
            team.owner,
            team.state,
            writer.identity(),
            "w@example.com",
            "reader",
            "fingerprint",
            new_key,
        )
    )
    assert team.state.members[writer.account_id.hex].role == "reader"


def test_an_add_carrying_a_substituted_identity_is_refused(team: Team) -> None:
    newcomer, server = person(), person()
    raw = add_entry(
        team.owner, team.state, newcomer.identity(), "n@example.com", "reader", "tofu", team.key
    )

    def substitute(body: dict[str, Any]) -> None:
        bundle = bytearray(b64url_decode(body["member"]["identity"]))
        bundle[54:86] = server.box_key
        body["member"]["identity"] = b64url_encode(bytes(bundle))

    with pytest.raises(errors.IdentityAuthError):
        parse_entry(resign(team.owner, raw, substitute))


def test_an_epoch_without_a_box_for_every_member_is_refused(team: Team) -> None:
    raw, _ = rotate_entry(team.owner, team.state)
    raw = resign(team.owner, raw, lambda b: b["boxes"].pop(team.reader.account_id.hex))
    with pytest.raises(errors.TeamLogError):
        apply(team.state, parse_entry(raw))


def test_a_skipped_epoch_is_refused(team: Team) -> None:
    raw, _ = rotate_entry(team.owner, team.state)
    raw = resign(team.owner, raw, lambda b: b.update(epoch="3"))
    with pytest.raises(errors.TeamLogError):
        apply(team.state, parse_entry(raw))


# --- key boxes --------------------------------------------------------------------------


def test_a_box_for_another_member_or_epoch_is_refused(team: Team) -> None:
    tid = team.team_uuid()
    box = team.state.boxes[team.writer.account_id.hex]
    with pytest.raises(errors.TeamKeyError):
        open_team_key(box, team.reader, tid, 1, team.state.key_check)
    # Sealed to the reader's key but naming the writer (a genuine box re-addressed):
    moved = seal_team_key(team.key, tid, 1, team.writer.account_id, team.reader.box_key)
    with pytest.raises(errors.TeamKeyError):
        open_team_key(moved, team.reader, tid, 1, team.state.key_check)
    other_epoch = seal_team_key(team.key, tid, 2, team.reader.account_id, team.reader.box_key)
    with pytest.raises(errors.TeamKeyError):
        open_team_key(other_epoch, team.reader, tid, 1, team.state.key_check)


def test_a_box_holding_another_key_fails_the_key_check(team: Team) -> None:
    server_key = bytes(range(32))
    box = seal_team_key(
        server_key, team.team_uuid(), 1, team.reader.account_id, team.reader.box_key
    )
    with pytest.raises(errors.TeamKeyCheckError):
        open_team_key(box, team.reader, team.team_uuid(), 1, team.state.key_check)


# --- grammar ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda b: b.update(seq=1), errors.NonCanonicalError),
        (lambda b: b.update(seq="05"), errors.MalformedError),
        (lambda b: b.update(v="2"), errors.UnsupportedVersionError),
        (lambda b: b.update(op="promote"), errors.MalformedError),
        (lambda b: b.update(extra="x"), errors.MalformedError),
        (lambda b: b.update(team=b["team"].upper()), errors.MalformedError),
        (lambda b: b.update(role="root"), errors.MalformedError),
    ],
)
def test_a_malformed_entry_is_refused(
    team: Team, change: Callable[[dict[str, Any]], None], error: type
) -> None:
    raw = role_entry(team.owner, team.state, team.reader.account_id.hex, "writer")
    body = json.loads(raw)["body"]
    change(body)
    raw = canonical_json({"body": body, "sig": json.loads(raw)["sig"]})
    with pytest.raises(error):
        parse_entry(raw)


def test_a_non_canonical_entry_is_refused(team: Team) -> None:
    with pytest.raises(errors.NonCanonicalError):
        parse_entry(team.log[1].replace(b'{"body"', b'{ "body"'))
