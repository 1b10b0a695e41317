"""A runner's grants of team items (format.md §15.8, docs/teams.md "Runners").

Each grant the server lists is opened with the runner's key and verified with the owner
grant key pinned at enrolment, bound to the team the server labels it with; then the
team's membership log is fetched and replayed from its first entry (every signature, the
rule book), and the grant's grantor must still be an admin or owner there under the
identity key the grant names. So a grant ends when the log says its grantor lost the
role, whatever the server still serves. Per team, the highest grant revision and the log
head accepted are kept next to the personal grant floor (runner-ID.teams): an older grant
is ``rollback``, a shorter log ``team_log_rollback``, wherever that disk persists.

Lookups on a runner: its personal grant first, then the team grants in team-name order;
``TEAM/ITEM`` names one team's item, as on a laptop (native.team_items).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from native import answers
from native.api import b64url_decode
from native.errors import REVOKED, STATE, CliError
from native.team_lookup import ask_teams, env_values, with_team_items

if TYPE_CHECKING:
    from native.runner import GrantSource, RunnerCredential

Get = Callable[[str], Any]  # a runner-authenticated GET of a server path: its JSON answer
_MISSES = ("not_found", "not_granted", "no_match", "no_grant")


class Floors:
    """Per team: the highest grant revision, and the log seq and head, this runner accepted."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.teams: dict[str, tuple[int, int, str]] = {}
        self._loaded: dict[str, tuple[int, int, str]] = {}

    @classmethod
    def load(cls, path: str) -> Floors:
        from native.fsutil import read_file

        floors = cls(path)
        text = read_file(path, limit=1 << 20)
        if text is not None:
            try:
                floors.teams = _parse_floors(text)
                floors._loaded = dict(floors.teams)
            except (ValueError, KeyError, TypeError, AttributeError):
                raise CliError(
                    f"{path} is damaged; delete it to accept the server's current team grants",
                    STATE,
                    "state_auth",
                ) from None
        return floors

    def save(self) -> None:
        """Best effort, as the personal floor: a read-only disk works without the floor.
        Nothing new to remember writes nothing (a runner without team grants leaves no file)."""
        from native.fsutil import atomic_write, private_dir

        if self.teams == self._loaded:
            return
        body = {
            "teams": {
                team: {"log_head": head, "log_seq": str(seq), "revision": str(revision)}
                for team, (revision, seq, head) in sorted(self.teams.items())
            },
            "v": "1",
        }
        try:
            private_dir(os.path.dirname(self.path))
            atomic_write(self.path, json.dumps(body, sort_keys=True).encode())
        except OSError:
            pass


def _parse_floors(text: bytes) -> dict[str, tuple[int, int, str]]:
    data = json.loads(text)
    if data["v"] != "1":
        raise ValueError("version")
    teams = {}
    for team, kept in data["teams"].items():
        revision, seq, head = int(kept["revision"]), int(kept["log_seq"]), str(kept["log_head"])
        if uuid.UUID(hex=team).hex != team or seq < 1 or revision < 1:
            raise ValueError("team")
        if len(bytes.fromhex(head)) != 32:
            raise ValueError("head")
        teams[team] = (revision, seq, head)
    return teams


def floors_path(cred: RunnerCredential) -> str:
    from native.paths import state_dir

    return os.path.join(state_dir(), f"runner-{cred.runner_id}.teams")


def refused(exc: Exception, team: str) -> CliError:
    """A team grant that failed its checks, as a CLI error naming the team id."""
    from native.vaulterrors import translate
    from vault_core import errors

    if isinstance(exc, errors.TeamPermissionError):
        return CliError(
            f"this runner's grant of team {team} has ended: the team's signed log shows its "
            "grantor is no longer an admin or owner (refusing it, whatever the server says); "
            "ask an admin of the team to grant again",
            REVOKED,
            "grant_ended",
        )
    if isinstance(exc, errors.RollbackError):
        return CliError(
            f"the server sent an older grant of team {team} than this runner has already "
            "opened (possible replay); refusing it",
            STATE,
            "rollback",
        )
    if isinstance(exc, errors.VaultError):
        return translate(exc)
    return CliError(f"the server's answer for team {team} is malformed", STATE, "bad_response")


def _open(
    cred: RunnerCredential, keypair: Any, listed: dict[str, Any], get: Get, floors: Floors
) -> tuple[str, Any]:
    """(team name from the verified log, the verified grant); raises the check's error."""
    from vault_core import check_team_grant_log, open_team_grant
    from vault_core.teams import TeamMemory, check_log_memory, replay_states

    team = uuid.UUID(hex=str(listed["team_id"]))
    revision, seq, head = floors.teams.get(team.hex, (0, 0, ""))
    grant = open_team_grant(
        b64url_decode(str(listed["blob"])),
        keypair=keypair,
        account_id=uuid.UUID(cred.account_id),
        runner_id=uuid.UUID(cred.runner_id),
        team_id=team,
        owner_verify_key=cred.owner_key,  # the pinned key; the answer's own is ignored
        min_revision=revision,
    )
    log = get(f"/api/teams/{team}/log")
    states = replay_states([b64url_decode(str(e)) for e in log["entries"]])
    if seq:
        check_log_memory(states, TeamMemory(team.hex, seq, head))
    check_team_grant_log(grant, states)
    current = states[-1]  # not shorter than the remembered log: check_log_memory said so
    floors.teams[team.hex] = (max(revision, grant.revision), current.seq, current.head.hex())
    return current.name, grant


class RunnerTeams:
    """This runner's team grants, fetched and verified on first use (a lookup the personal
    grant answers makes no further call)."""

    def __init__(self, cred: RunnerCredential, get: Get) -> None:
        self._cred = cred
        self._get = get
        self._sources: list[tuple[str, GrantSource]] | None = None
        self.troubles: dict[str, CliError] = {}  # team id -> why its grant was refused

    def sources(self) -> list[tuple[str, GrantSource]]:
        if self._sources is None:
            self._sources = self._load()
        return self._sources

    def first_trouble(self) -> CliError | None:
        return next(iter(self.troubles.values()), None)

    def _load(self) -> list[tuple[str, GrantSource]]:
        from native.runner import GrantSource
        from vault_core import RunnerKeyPair, errors

        listed = self._get("/api/runner/team-grants").get("items")  # a list, as Api wraps it
        floors = Floors.load(floors_path(self._cred))
        keypair = RunnerKeyPair(self._cred.seed)
        opened: list[tuple[str, GrantSource]] = []
        try:
            for entry in listed if isinstance(listed, list) else []:
                team = str(entry.get("team_id", "?")) if isinstance(entry, dict) else "?"
                try:
                    name, grant = _open(self._cred, keypair, entry, self._get, floors)
                except CliError as exc:  # the server would not show the team's log
                    self.troubles[team] = exc
                    continue
                except (errors.VaultError, ValueError, KeyError, TypeError) as exc:
                    self.troubles[team] = refused(exc, team)
                    continue
                opened.append((name, GrantSource(grant)))
        finally:
            keypair.wipe()
        floors.save()
        return sorted(opened, key=lambda pair: pair[0])

    def lock(self) -> None:
        for _, source in self._sources or []:
            source.lock()


def answer(
    personal: GrantSource, teams: RunnerTeams, op: str, request: dict[str, Any]
) -> dict[str, Any]:
    """The personal grant first; on a miss, the team grants (``TEAM/ITEM`` for one team)."""
    if op == "list":
        return with_team_items(answers.answer(personal, op, request), teams.sources())
    names = request.get("names")
    if op not in ("get", "env", "credential") or (op == "env" and not isinstance(names, list)):
        return answers.answer(personal, op, request)  # `run` without names: the personal grant
    if op == "env":
        assert isinstance(names, list)
        return env_values(
            lambda name: answer(personal, teams, "get", {"name": name, "field": "secret"}), names
        )
    try:
        return answers.answer(personal, op, request)
    except CliError as exc:
        if exc.code not in _MISSES:
            raise
        missed = exc
    found = ask_teams(teams.sources(), op, request, _MISSES)
    if found is not None:
        return found
    raise teams.first_trouble() or missed  # a team grant was refused: say why
