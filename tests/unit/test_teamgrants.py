"""Runner grants of team items (format.md §15.8): sealing, binding to the runner and the
team, rollback, and the grant ending when the log shows its grantor lost the role. Real
keys, real vaults and a real membership log; the "server" is lists the test alters."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.unit.test_teams_session import TOKEN, Person, Server, people, team
from vault_core import (
    Item,
    RunnerKeyPair,
    TeamGrant,
    check_team_grant_log,
    errors,
    open_team_grant,
    seal_team_grant,
)
from vault_core.teams import replay_states
from vault_core.teams.session import TeamSession

__all__ = ["people", "team"]  # fixtures shared with test_teams_session


class Runner:
    def __init__(self, owner: Person) -> None:
        self.owner = owner
        self.id = uuid.uuid4()
        self.keys = RunnerKeyPair.generate()

    def open(self, sealed: bytes, team_id: str, *, min_revision: int = 0) -> TeamGrant:
        return open_team_grant(
            sealed,
            keypair=self.keys,
            account_id=self.owner.vault.account_id,
            runner_id=self.id,
            team_id=uuid.UUID(hex=team_id),
            owner_verify_key=self.owner.vault.owner_verify_key,
            min_revision=min_revision,
        )


def grant(session: TeamSession, owner: Person, runner: Runner, revision: int = 1) -> bytes:
    item_id = session.vault.lookup("ci")
    return seal_team_grant(
        vault=owner.vault,
        state=session.state,
        runner_id=runner.id,
        runner_public_key=runner.keys.public_key,
        items={item_id: session.vault.get(item_id)},
        revision=revision,
    )


def test_the_runner_reads_the_granted_item_while_the_grantor_is_admin(
    people: tuple[Person, ...], team: tuple[Server, TeamSession]
) -> None:
    server, session = team
    runner = Runner(people[0])
    opened = runner.open(grant(session, people[0], runner, 4), session.state.team_id)
    assert [g.item.secret for g in opened.items] == [TOKEN]
    assert opened.revision == 4 and "ghp_" not in repr(opened)
    check_team_grant_log(opened, replay_states(server.log))


def test_only_an_admin_seals_a_team_grant(
    people: tuple[Person, ...], team: tuple[Server, TeamSession]
) -> None:
    server, _ = team
    bob = server.open(people[1])
    with pytest.raises(errors.TeamPermissionError):
        grant(bob, people[1], Runner(people[1]))


def test_a_grant_relabelled_to_another_team_or_runner_is_refused(
    people: tuple[Person, ...], team: tuple[Server, TeamSession]
) -> None:
    _, session = team
    runner = Runner(people[0])
    sealed = grant(session, people[0], runner)
    with pytest.raises(errors.GrantBindingError):
        runner.open(sealed, uuid.uuid4().hex)
    other = Runner(people[0])
    other.keys = runner.keys  # the same key, another runner id
    with pytest.raises(errors.GrantBindingError):
        other.open(sealed, session.state.team_id)


def test_a_grant_not_signed_with_the_pinned_owner_key_is_refused(
    people: tuple[Person, ...], team: tuple[Server, TeamSession]
) -> None:
    _, session = team
    runner = Runner(people[0])
    with pytest.raises(errors.GrantAuthError):
        open_team_grant(
            grant(session, people[0], runner),
            keypair=runner.keys,
            account_id=people[0].vault.account_id,
            runner_id=runner.id,
            team_id=uuid.UUID(hex=session.state.team_id),
            owner_verify_key=people[2].vault.owner_verify_key,
        )


def test_an_older_grant_is_rollback(
    people: tuple[Person, ...], team: tuple[Server, TeamSession]
) -> None:
    _, session = team
    runner = Runner(people[0])
    old = grant(session, people[0], runner, 2)
    runner.open(grant(session, people[0], runner, 3), session.state.team_id, min_revision=3)
    with pytest.raises(errors.RollbackError):
        runner.open(old, session.state.team_id, min_revision=3)


@pytest.mark.parametrize("change", ["remove", "demote"])
def test_the_grant_ends_when_the_log_shows_the_grantor_lost_the_role(
    people: tuple[Person, ...], team: tuple[Server, TeamSession], change: str
) -> None:
    server, session = team
    ann, bob, cy = people
    server.log.append(session.change_role(cy.id, "owner")[0])  # Cy, owner, acts against Ann
    runner = Runner(ann)
    opened = runner.open(grant(session, ann, runner), session.state.team_id)
    check_team_grant_log(opened, replay_states(server.log))
    cy_session = server.open(cy)
    if change == "remove":
        removal = cy_session.remove_member(ann.id)
        server.log.append(removal.entry)
    else:
        server.log.append(cy_session.change_role(ann.id, "writer")[0])
    with pytest.raises(errors.TeamPermissionError):
        check_team_grant_log(opened, replay_states(server.log))
    assert bob


def test_a_grant_against_another_or_shorter_log_is_refused(
    people: tuple[Person, ...], team: tuple[Server, TeamSession]
) -> None:
    server, session = team
    runner = Runner(people[0])
    opened = runner.open(grant(session, people[0], runner), session.state.team_id)
    with pytest.raises(errors.TeamLogGapError):
        check_team_grant_log(opened, replay_states(server.log[:-1]))
    other, _, _ = TeamSession.create(people[1].keys, people[1].email, "Other")
    with pytest.raises(errors.WrongVaultError):
        check_team_grant_log(opened, [other.state])
    # A grant naming a head this log does not hold at that seq: another history.
    forged = TeamGrant(**{**opened.__dict__, "log_head": bytes(32)})
    with pytest.raises(errors.TeamLogForkError):
        check_team_grant_log(forged, replay_states(server.log))
    wrong_epoch = TeamGrant(**{**opened.__dict__, "epoch": 2})
    with pytest.raises(errors.TeamLogError):
        check_team_grant_log(wrong_epoch, replay_states(server.log))
    other_key = TeamGrant(**{**opened.__dict__, "grantor_sign_key": bytes(32)})
    with pytest.raises(errors.TeamPermissionError):
        check_team_grant_log(other_key, replay_states(server.log))


def test_a_tampered_team_grant_is_refused(
    people: tuple[Person, ...], team: tuple[Server, TeamSession]
) -> None:
    _, session = team
    runner = Runner(people[0])
    sealed = bytearray(grant(session, people[0], runner))
    sealed[-1] ^= 1
    with pytest.raises(errors.GrantAuthError):
        runner.open(bytes(sealed), session.state.team_id)
    item = Item(name="x", kind="generic", url="", secret="s")
    with pytest.raises(errors.MalformedError):
        seal_team_grant(
            vault=people[0].vault,
            state=session.state,
            runner_id=runner.id,
            runner_public_key=b"short",
            items={uuid.uuid4(): item},
            revision=1,
        )


def test_the_runners_team_floors_round_trip_and_a_damaged_file_is_refused(
    tmp_path: Path,
) -> None:
    from native.errors import CliError
    from native.team_grants import Floors

    path = str(tmp_path / "runner-x.teams")
    floors = Floors.load(path)
    floors.save()
    assert not Path(path).exists()  # nothing to remember: no file
    floors.teams["ab" * 16] = (3, 7, "cd" * 32)
    floors.save()
    assert Floors.load(path).teams == {"ab" * 16: (3, 7, "cd" * 32)}
    Path(path).write_text('{"teams":{"ab":{"log_head":"","log_seq":"1","revision":"1"}},"v":"1"}')
    with pytest.raises(CliError) as refused:
        Floors.load(path)
    assert refused.value.code == "state_auth"
