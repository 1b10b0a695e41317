"""The agent's answers to ``team grant``, ``team grants`` and ``team ungrant`` (docs/cli.md,
"Teams"; format.md §15.8): an admin seals items of a team vault to one of their runners.

The runner is one pinned in the personal vault at its approval, and the grant is sealed to
that pinned key only (a revoked runner's pin is gone: nothing is sealed to it). The items
are the team vault's as this agent verified it; the grant names this agent's log head, so
a runner refuses it once the log shows this account no longer an admin or owner.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from native.api import ApiError, b64url_encode
from native.errors import NOT_FOUND, USAGE, CliError
from native.teams import Teams, api_refused

_ATTEMPTS = 3  # a revision taken meanwhile (409): list again and seal at the next one


def _items(request: dict[str, Any]) -> list[str]:
    items = request.get("items")
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise CliError("name at least one item of the team to grant", USAGE, "bad_request")
    return list(dict.fromkeys(items))


def _runner(teams: Teams, wanted: str) -> tuple[uuid.UUID, Any]:
    """The pinned runner called ``wanted`` (its name or id): (id, pin)."""
    from native.vaulterrors import translate
    from vault_core.errors import VaultError

    try:
        pins = teams.personal.runner_pins().runners
    except VaultError as exc:
        raise translate(exc) from None
    found = [(rid, pin) for rid, pin in pins.items() if wanted in (pin.name, str(rid))]
    if len(found) > 1:
        raise CliError(f"more than one runner is named {wanted!r}; use its id", USAGE, "usage")
    if not found:
        raise CliError(
            f"no runner {wanted!r} is pinned in your vault: a team grant is sealed only to a "
            "runner you enrolled and approved (its key pinned then); a revoked runner is "
            "never granted again",
            NOT_FOUND,
            "key_not_pinned",
        )
    return found[0]


def _listed(teams: Teams, team: str) -> list[dict[str, Any]]:
    try:
        answer = teams.call("GET", f"/api/teams/{team}/grants")
    except ApiError as exc:
        raise api_refused(exc, "team") from None
    listed = answer.get("items")  # a JSON list, as native.api wraps it
    return [g for g in listed if isinstance(g, dict)] if isinstance(listed, list) else []


def _grant(teams: Teams, request: dict[str, Any]) -> dict[str, Any]:
    from native.vaulterrors import translate
    from vault_core import seal_team_grant
    from vault_core.errors import VaultError

    session = teams.named(str(request.get("team") or ""))
    names = _items(request)
    runner_id, pin = _runner(teams, str(request.get("runner") or ""))
    team = session.state.team_id
    try:
        items = {session.vault.lookup(n): session.vault.get(session.vault.lookup(n)) for n in names}
    except VaultError as exc:
        if exc.code == "not_found":
            raise CliError(
                f"the team {session.state.name!r} has no item of one of those names "
                "(`zkvault list --vault TEAM` shows them)",
                NOT_FOUND,
                "not_found",
            ) from None
        raise translate(exc) from None
    for _ in range(_ATTEMPTS):
        held = [g for g in _listed(teams, team) if g.get("runner_id") == str(runner_id)]
        listed = max((int(g.get("revision") or 0) for g in held), default=0)
        # Never below the clock in seconds: an ungrant deletes the server's row, and the
        # runner refuses any revision below one it opened (docs/teams.md, Runners).
        revision = max(listed + 1, int(time.time()))
        try:
            blob = seal_team_grant(
                vault=teams.personal,
                state=session.state,
                runner_id=runner_id,
                runner_public_key=pin.key,
                items=items,
                revision=revision,
            )
        except VaultError as exc:
            raise translate(exc) from None
        try:
            teams.call(
                "PUT",
                f"/api/teams/{team}/grants/{runner_id}",
                {"revision": revision, "blob": b64url_encode(blob)},
            )
        except ApiError as exc:
            if exc.status == 409:
                continue
            raise api_refused(exc, "runner or team") from None
        return {
            "team": session.state.name,
            "runner": pin.name,
            "runner_id": str(runner_id),
            "revision": revision,
            "items": sorted(names),
        }
    raise CliError(
        "the runner's grant kept changing meanwhile; try again", USAGE, "revision_conflict"
    )


def _grants(teams: Teams, request: dict[str, Any]) -> dict[str, Any]:
    from vault_core.errors import VaultError

    session = teams.named(str(request.get("team") or ""))
    try:
        pins = teams.personal.runner_pins().runners
    except VaultError:
        pins = {}
    members = session.state.members
    shown = []
    for g in _listed(teams, session.state.team_id):
        runner, grantor = str(g.get("runner_id")), str(g.get("grantor_id"))
        pin = pins.get(uuid.UUID(runner)) if _is_id(runner) else None
        by = members.get(grantor.replace("-", ""))
        shown.append(
            {
                "runner_id": runner,
                "runner": pin.name if pin is not None else "",
                "grantor_id": grantor,
                # The grantor as the verified log names them; "" when no longer a member.
                "grantor": by.email if by is not None else "",
                "grantor_role": by.role if by is not None else "",
                "revision": g.get("revision"),
                "size": g.get("size"),
                "updated_at": g.get("updated_at"),
            }
        )
    return {"team": session.state.name, "grants": shown}


def _is_id(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _ungrant(teams: Teams, request: dict[str, Any]) -> dict[str, Any]:
    session = teams.named(str(request.get("team") or ""))
    wanted = str(request.get("runner") or "")
    # A runner no longer pinned (revoked) may still hold a grant: its id is enough here.
    runner_id, name = (uuid.UUID(wanted), wanted) if _is_id(wanted) else (None, wanted)
    if runner_id is None:
        runner_id, pin = _runner(teams, wanted)
        name = pin.name
    try:
        teams.call("DELETE", f"/api/teams/{session.state.team_id}/grants/{runner_id}")
    except ApiError as exc:
        raise api_refused(exc, "grant of this runner") from None
    return {"team": session.state.name, "runner": name, "runner_id": str(runner_id)}


ACTIONS = {"grant": _grant, "grants": _grants, "ungrant": _ungrant}
