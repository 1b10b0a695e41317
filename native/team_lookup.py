"""What a laptop's agent (its person's team vaults, native.team_items) and a runner (its
team grants, native.team_grants) both do once the personal vault or grant has missed:
ask the team sources in order, ``TEAM/ITEM`` naming one team's item."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from native import answers
from native.errors import CliError

Sources = Sequence[tuple[str, Any]]  # (team name, a source native.answers can ask)


def with_team_items(listed: dict[str, Any], sources: Sources) -> dict[str, Any]:
    """``listed`` (the personal listing) with every team's items appended as TEAM/ITEM."""
    for name, source in sources:
        for info in answers.answer(source, "list", {})["items"]:
            listed["items"].append({**info, "name": f"{name}/{info['name']}", "vault": name})
    return listed


def ask_teams(
    sources: Sources, op: str, request: dict[str, Any], misses: tuple[str, ...]
) -> dict[str, Any] | None:
    """The first team's answer, or None if every team missed (an error in ``misses``)."""
    for name, source in _candidates(sources, op, request):
        try:
            found = answers.answer(source, op, _named_in(request, name))
        except CliError as exc:
            if exc.code in misses:
                continue
            raise
        if op == "credential":
            found["item"] = f"{name}/{found['item']}"
        return found
    return None


def env_values(get: Callable[[str], dict[str, Any]], names: list[Any]) -> dict[str, Any]:
    """``run --env`` over several names: each looked up as ``get`` looks one up."""
    values = {name: str(get(name)["value"]) for name in dict.fromkeys(str(n) for n in names)}
    return {"ok": True, "values": values}


def _candidates(sources: Sources, op: str, request: dict[str, Any]) -> Sources:
    """For ``TEAM/ITEM``: that team only; otherwise every team."""
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
