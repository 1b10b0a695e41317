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
        for name, source in teams.sources():
            for info in answers.answer(source, "list", {})["items"]:
                listed["items"].append({**info, "name": f"{name}/{info['name']}", "vault": name})
        return listed
    try:
        return answers.answer(personal, op, request)
    except CliError as exc:
        if exc.code not in _MISSES or chosen == PERSONAL:
            raise
        missed = exc
    if op == "env":
        return _env(personal, teams, request)
    _refresh(teams)
    for name, source in _candidates(teams, op, request):
        try:
            found = answers.answer(source, op, _named_in(request, name))
        except CliError as exc:
            if exc.code in _MISSES:
                continue
            raise
        if op == "credential":
            found["item"] = f"{name}/{found['item']}"
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


def _candidates(teams: Teams, op: str, request: dict[str, Any]) -> list[tuple[str, Any]]:
    """For ``TEAM/ITEM``: that team only; otherwise every team."""
    sources = teams.sources()
    if op == "get":
        team, slash, _ = str(request.get("name", "")).partition("/")
        named = [(n, s) for n, s in sources if n == team]
        if slash and named:
            return named
    return sources


def _named_in(request: dict[str, Any], team: str) -> dict[str, Any]:
    name = request.get("name")
    if isinstance(name, str) and name.startswith(team + "/"):
        return {**request, "name": name[len(team) + 1 :]}
    return request


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
    values: dict[str, str] = {}
    for name in dict.fromkeys(str(n) for n in names):
        got = answer(personal, teams, "get", {"name": name, "field": "secret"})
        values[name] = str(got["value"])
    return {"ok": True, "values": values}
