"""Replaying a log against a remembered head (state.known_prefix): the signatures of the
entries up to the head this client accepted are not checked again, and the outcome, state
or error, is always the full replay's. Real keys; the lies are built as a server could."""

from __future__ import annotations

import json

import pytest

from tests.unit.test_teams_log import Team
from vault_core import errors
from vault_core.b64url import b64url_decode, b64url_encode
from vault_core.encoding import canonical_json
from vault_core.teams import replay_states, role_entry
from vault_core.teams.state import known_prefix


@pytest.fixture
def team() -> Team:
    return Team()


def flip_signature(raw: bytes) -> bytes:
    outer = json.loads(raw)
    sig = bytearray(b64url_decode(outer["sig"]))
    sig[0] ^= 1
    outer["sig"] = b64url_encode(bytes(sig))
    return canonical_json(outer)


def flip_identity(raw: bytes) -> bytes:
    """The member's identity bundle with its self-signature damaged: the entry itself is
    re-signed by nobody, so its own signature fails too (after the identity's, §15.3)."""
    outer = json.loads(raw)
    member = outer["body"]["member"]
    bundle = bytearray(b64url_decode(member["identity"]))
    bundle[-1] ^= 1
    member["identity"] = b64url_encode(bytes(bundle))
    return canonical_json(outer)


def remembered(team: Team, seq: int) -> tuple[int, bytes]:
    return seq, replay_states(team.log)[seq - 1].head


def test_the_remembered_head_pins_the_prefix_and_the_states_are_the_full_replays(
    team: Team,
) -> None:
    full = replay_states(team.log)
    for seq in range(1, len(team.log) + 1):
        assert known_prefix(team.log, *remembered(team, seq)) == seq
        assert replay_states(team.log, remembered(team, seq)) == full


def test_no_prefix_is_trusted_without_its_head(team: Team) -> None:
    seq, head = remembered(team, 3)
    assert known_prefix(team.log, seq, bytes(32)) == 0
    assert known_prefix(team.log[:2], seq, head) == 0  # shorter than the memory
    assert known_prefix(team.log, 0, head) == 0
    assert known_prefix(team.log, seq + 1, head) == 0  # another entry at that seq


def test_a_forged_signature_after_the_remembered_head_is_refused(team: Team) -> None:
    raw = role_entry(team.owner, team.state, team.reader.account_id.hex, "admin", at=5)
    with pytest.raises(errors.TeamLogSignatureError):
        replay_states([*team.log, flip_signature(raw)], remembered(team, len(team.log)))


@pytest.mark.parametrize(
    ("damage", "error"),
    [(flip_signature, errors.TeamLogSignatureError), (flip_identity, errors.IdentityAuthError)],
)
def test_a_lie_before_the_remembered_head_meets_the_full_replays_error(
    team: Team, damage: object, error: type[Exception]
) -> None:
    # Entry 2 damaged, entry 4 (the head remembered) as it was: the prev chain breaks at
    # entry 3, but the error is the one the full replay meets first, at entry 2.
    log = list(team.log)
    log[1] = damage(log[1])  # type: ignore[operator]
    with pytest.raises(error):
        replay_states(log)
    with pytest.raises(error):
        replay_states(log, remembered(team, 4))


def test_a_log_forked_before_the_remembered_head_is_not_trusted(team: Team) -> None:
    # Another honest-looking history of the same length: its head is not the one
    # remembered, so every signature in it is checked (and the forgery found).
    log = list(team.log)
    log[3] = flip_signature(log[3])
    assert known_prefix(log, *remembered(team, 4)) == 0
    with pytest.raises(errors.TeamLogSignatureError):
        replay_states(log, remembered(team, 4))
