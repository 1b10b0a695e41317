"""Consumer requests across the personal vault and team vaults (docs/cli.md, "Team items").

The personal vault is asked first and alone: a name or host it has never reaches a team,
and needs no call to the server. Otherwise the team vaults, verified afresh
(native.teams), are asked in team-name order; ``TEAM/ITEM`` names one team's item and
``vault`` in the request picks one vault.
"""

from __future__ import annotations

from typing import Any

from native import answers
from native.errors import CliError
from native.team_lookup import ask_teams, env_values, with_team_items
from native.teams import Teams

PERSONAL = "personal"
_MISSES = ("not_found", "no_match")


def answer(personal: Any, teams: Teams | None, op: Any, request: dict[str, Any]) -> dict[str, Any]:
    chosen = request.get("vault")
    if teams is None or op not in ("list", "get", "env", "credential"):
        return answers.answer(personal, op, request)
    if isinstance(chosen, str) and chosen and chosen != PERSONAL:
        return _one_team(teams, chosen, op, request)
    if op == "list":
        listed = answers.answer(personal, op, request)
        if chosen == PERSONAL:
            return listed
        _refresh(teams)
        return with_team_items(listed, teams.sources())
    try:
        return answers.answer(personal, op, request)
    except CliError as exc:
        if exc.code not in _MISSES or chosen == PERSONAL:
            raise
        missed = exc
    if op == "env":
        return _env(personal, teams, request)
    _refresh(teams)
    found = ask_teams(teams.sources(), op, request, _MISSES)
    if found is not None:
        return found
    team = str(request.get("name", "")).partition("/")[0]
    for called, refused in teams.troubles.values():
        if op == "get" and called == team:
            raise refused  # the team named failed its checks: say so, not "no such item"
    raise missed


def _refresh(teams: Teams) -> None:
    """Look again at the server; unreachable, the teams verified before are still asked
    (what they held when last checked), so a lookup works offline as the personal one does."""
    try:
        teams.refresh()
    except CliError as exc:
        if exc.code not in ("unreachable", "server_error", "bad_response"):
            raise


def _one_team(teams: Teams, chosen: str, op: str, request: dict[str, Any]) -> dict[str, Any]:
    source = teams.named(chosen)
    from native.teams import TeamSource

    answered = answers.answer(TeamSource(source), op, request)
    if op == "list":
        for info in answered["items"]:
            info["vault"] = source.state.name
    return answered


def _env(personal: Any, teams: Teams, request: dict[str, Any]) -> dict[str, Any]:
    """Each name from the personal vault if it has it, else from the first team that does."""
    names = request.get("names")
    if not isinstance(names, list):
        return answers.answer(personal, "env", request)
    return env_values(
        lambda name: answer(personal, teams, "get", {"name": name, "field": "secret"}), names
    )
