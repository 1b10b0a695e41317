"""The agent's answers to ``team``, ``identity`` and ``contacts`` requests (docs/cli.md,
"Teams"). Membership changes are signed log entries made by vault_core's TeamSession,
which applies each to its own verified state before it is sent; the server is asked only
to store them and to run invitations.
"""

from __future__ import annotations

import uuid
from typing import Any

from native import team_grant_ops
from native.api import ApiError, b64url_decode, b64url_encode
from native.errors import NOT_FOUND, STATE, USAGE, CliError
from native.teams import Teams, api_refused

ROLES = ("reader", "writer", "admin", "owner")


def _text(request: dict[str, Any], key: str) -> str:
    value = request.get(key)
    if not isinstance(value, str) or not value:
        raise CliError(f"{key} is required", USAGE, "bad_request")
    return value


def _role(request: dict[str, Any]) -> str:
    role = _text(request, "role")
    if role not in ROLES:
        raise CliError(f"role must be one of {', '.join(ROLES)}", USAGE, "usage")
    return role


def answer(teams: Teams, op: str, request: dict[str, Any]) -> dict[str, Any]:
    if op == "identity":
        return identity(teams)
    if op == "contacts":
        return contacts(teams, request)
    action = str(request.get("action", ""))
    handler = _ACTIONS.get(action)
    if handler is None:
        raise CliError(f"unknown team action {action!r}", USAGE, "bad_request")
    return {"ok": True, **handler(teams, request)}


# -- identity and contacts ---------------------------------------------------------------


def identity(teams: Teams) -> dict[str, Any]:
    keys = teams.keys
    try:
        served = teams.call("GET", f"/api/identity/{keys.account_id}")
        published = b64url_decode(str(served.get("bundle", ""))) == keys.bundle()
    except ApiError:
        published = False
    return {
        "ok": True,
        "account_id": str(keys.account_id),
        "email": teams.me().get("email"),
        "safety_number": keys.safety_number,
        "published": published,
    }


def lookup(teams: Teams, email: str) -> tuple[uuid.UUID, str, bytes]:
    """(account id, email, bundle) of the one account with ``email``; the bundle is checked
    to be self-signed and to name that account (``identity_auth``/``identity_binding``)."""
    from native.vaulterrors import translate
    from vault_core.errors import VaultError
    from vault_core.teams import parse_identity

    try:
        found = teams.call("GET", f"/api/accounts/lookup?email={_quote(email)}")
    except ApiError as exc:
        if exc.status == 404:
            raise CliError(
                f"no zkvault account has the email {email!r}", NOT_FOUND, "no_account"
            ) from None
        raise api_refused(exc, "account") from None
    if not found.get("identity"):
        raise CliError(
            f"{email} has no identity yet: they unlock zkvault (or open the web app) once",
            STATE,
            "no_identity",
        )
    try:
        account = uuid.UUID(str(found.get("account_id")))
        bundle = b64url_decode(str(found["identity"]))
        parse_identity(bundle, account)
    except VaultError as exc:
        raise translate(exc) from None
    except ValueError:
        raise CliError("the server's answer was malformed", STATE, "bad_response") from None
    return account, str(found.get("email", email)), bundle


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def pin(
    teams: Teams, account: uuid.UUID, email: str, bundle: bytes, typed: str | None, tofu: bool
) -> dict[str, Any]:
    """Pin (in the personal vault, saved) unless already pinned to this very key; a pin to
    another key is ``identity_changed`` and is never replaced here."""
    from native.vaulterrors import translate
    from vault_core.errors import IdentityNotPinnedError, VaultError
    from vault_core.teams import parse_identity

    number = parse_identity(bundle, account).safety_number
    try:
        teams.personal.pinned_identity(bundle, account)
        contact = teams.personal.contacts().contacts[account]
        return {"safety_number": number, "verified": contact.verified, "pinned_now": False}
    except IdentityNotPinnedError:
        pass
    except VaultError as exc:
        raise translate(exc) from None
    if typed is None and not tofu:
        raise CliError(
            f"{email}'s safety number is {number}: compare it with theirs (`zkvault "
            "identity` on their machine), then pass it with --safety-number, or --tofu to "
            "trust it on first use (recorded)",
            USAGE,
            "identity_not_pinned",
        )

    def change(vault: Any) -> None:
        vault.pin_contact(bundle, account, email, safety_number=typed)

    try:
        teams.save_personal(change)
    except VaultError as exc:
        raise translate(exc) from None
    verified = "tofu" if typed is None else "fingerprint"
    return {"safety_number": number, "verified": verified, "pinned_now": True}


def contacts(teams: Teams, request: dict[str, Any]) -> dict[str, Any]:
    action = request.get("action")
    if action == "list":
        pinned = teams.personal.contacts().contacts.values()
        return {
            "ok": True,
            "contacts": [
                {
                    "account_id": str(c.account_id),
                    "email": c.email,
                    "safety_number": c.safety_number,
                    "verified": c.verified,
                    "at": c.at,
                }
                for c in sorted(pinned, key=lambda c: c.email)
            ],
        }
    email = _text(request, "email")
    account, email, bundle = lookup(teams, email)
    typed = request.get("safety_number")
    tofu = bool(request.get("tofu"))
    pinned = pin(teams, account, email, bundle, typed if isinstance(typed, str) else None, tofu)
    return {"ok": True, "account_id": str(account), "email": email, **pinned}


# -- teams -------------------------------------------------------------------------------


def _create(teams: Teams, request: dict[str, Any]) -> dict[str, Any]:
    from vault_core.teams.session import TeamSession

    name = _text(request, "name")
    session, entry, blob = TeamSession.create(teams.keys, str(teams.me()["email"]), name)
    try:
        made = teams.call(
            "POST", "/api/teams", {"entry": b64url_encode(entry), "vault": b64url_encode(blob)}
        )
    except ApiError as exc:
        raise api_refused(exc, "team") from None
    if made.get("team_id") != session.state.team_id:
        raise CliError("the server named another team id", STATE, "bad_response")
    teams.sessions[session.state.team_id] = session
    teams._remember(session)
    teams.saw_head(session.state.team_id, made)  # the next save anchors the team's first event
    return {"team_id": session.state.team_id, "name": name, "role": "owner"}


def _list(teams: Teams, request: dict[str, Any]) -> dict[str, Any]:
    teams.refresh()
    rows = []
    for team, session in sorted(teams.sessions.items(), key=lambda p: p[1].state.name):
        rows.append(
            {
                "team_id": team,
                "name": session.state.name,
                "role": session.role,
                "members": len(session.state.members),
                "items": len(session.items()),
                "epoch": session.state.epoch,
                "log_seq": session.state.seq,
                "revision": session.vault.revision,
            }
        )
    troubles = [
        {"team_id": t, "name": name, "error": exc.code, "message": exc.message}
        for t, (name, exc) in sorted(teams.troubles.items())
    ]
    return {"teams": rows, "refused": troubles, "invitations": teams.invitations}


def _members(teams: Teams, request: dict[str, Any]) -> dict[str, Any]:
    from vault_core.teams import identity_fingerprint

    session = teams.named(_text(request, "team"))
    state = session.state
    emails = {m.account_id: m.email for m in state.members.values()}
    members = [
        {
            "account_id": m.account_id,
            "email": m.email,
            "role": m.role,
            "safety_number": identity_fingerprint(
                uuid.UUID(hex=m.account_id), m.sign_key, m.box_key
            ),
            "verified": m.verified,
            "added_by": emails.get(m.added_by, m.added_by),
            "you": m.account_id == teams.keys.account_id.hex,
        }
        for m in sorted(state.members.values(), key=lambda m: (-_rank(m.role), m.email))
    ]
    return {
        "team_id": state.team_id,
        "name": state.name,
        "epoch": state.epoch,
        "members": members,
        "left_since_rotation": sorted(state.left_since_rotation),
    }


def _rank(role: str) -> int:
    return ROLES.index(role)


def _invite(teams: Teams, request: dict[str, Any]) -> dict[str, Any]:
    session = teams.named(_text(request, "team"))
    email, role = _text(request, "email"), _role(request)
    try:
        made = teams.call(
            "POST",
            f"/api/teams/{session.state.team_id}/invitations",
            {"email": email, "role": role},
        )
    except ApiError as exc:
        raise api_refused(exc, "team") from None
    return {"invitation": made, "team": session.state.name}


def _team_invitations(teams: Teams, team_id: str) -> list[dict[str, Any]]:
    try:
        found = teams.call("GET", f"/api/teams/{team_id}/invitations")
    except ApiError as exc:
        raise api_refused(exc, "team") from None
    return list(found.get("items") or [])


def _invitations(teams: Teams, request: dict[str, Any]) -> dict[str, Any]:
    from vault_core.teams.state import RANK

    teams.refresh()
    sent = []
    for session in teams.sessions.values():
        if RANK[session.role] >= RANK["admin"]:
            sent += _team_invitations(teams, session.state.team_id)
    return {"received": teams.invitations, "sent": sent}


def _mine(teams: Teams, request: dict[str, Any]) -> dict[str, Any]:
    """The invitation for me that ``team`` (a team name or an invitation id) names."""
    wanted = _text(request, "team")
    teams.refresh()
    found = [i for i in teams.invitations if wanted in (i.get("team_name"), i.get("invitation_id"))]
    if len(found) != 1:
        raise CliError(
            f"no single invitation to {wanted!r}; `zkvault team invitations` shows yours",
            NOT_FOUND,
            "not_found",
        )
    return found[0]


def _respond(teams: Teams, request: dict[str, Any], verb: str) -> dict[str, Any]:
    invitation = _mine(teams, request)
    try:
        done = teams.call("POST", f"/api/invitations/{invitation['invitation_id']}/{verb}")
    except ApiError as exc:
        raise api_refused(exc, "invitation") from None
    return {"invitation": done}


def _for_email(teams: Teams, session: Any, email: str) -> dict[str, Any]:
    found = [
        i
        for i in _team_invitations(teams, session.state.team_id)
        if str(i.get("email", "")).casefold() == email.casefold()
    ]
    if not found:
        raise CliError(
            f"{email} has no open invitation to {session.state.name!r}; "
            "`zkvault team invite` first",
            NOT_FOUND,
            "not_found",
        )
    return found[-1]


def _withdraw(teams: Teams, request: dict[str, Any]) -> dict[str, Any]:
    session = teams.named(_text(request, "team"))
    invitation = _for_email(teams, session, _text(request, "email"))
    path = f"/api/teams/{session.state.team_id}/invitations/{invitation['invitation_id']}"
    try:
        done = teams.call("DELETE", path)
    except ApiError as exc:
        raise api_refused(exc, "invitation") from None
    return {"invitation": done}


def _append(
    teams: Teams, session: Any, entry: bytes, blob: bytes | None = None, base: int = 0
) -> None:
    body: dict[str, Any] = {"entry": b64url_encode(entry)}
    if blob is not None:
        body.update(vault=b64url_encode(blob), base_revision=base)
    try:
        done = teams.call("POST", f"/api/teams/{session.state.team_id}/log", body)
    except ApiError as exc:
        teams.sessions.pop(session.state.team_id, None)  # it holds the entry not stored
        raise api_refused(exc, "team") from None
    teams._remember(session)
    teams.saw_head(session.state.team_id, done)


def _add(teams: Teams, request: dict[str, Any]) -> dict[str, Any]:
    session = teams.named(_text(request, "team"))
    email = _text(request, "email")
    invitation = _for_email(teams, session, email)
    if invitation.get("status") != "accepted":
        raise CliError(
            f"{email} has not accepted the invitation yet (`zkvault team accept` on their machine)",
            STATE,
            "not_accepted",
        )
    account, email, bundle = lookup(teams, email)
    if str(account) != str(invitation.get("account_id")):
        raise CliError(
            "the server names another account for this email than its invitation; the "
            "server may be compromised",
            STATE,
            "identity_binding",
        )
    typed = request.get("safety_number")
    pinned = pin(
        teams,
        account,
        email,
        bundle,
        typed if isinstance(typed, str) else None,
        bool(request.get("tofu")),
    )
    from native.vaulterrors import translate
    from vault_core.errors import VaultError

    try:
        entry = session.add_member(teams.personal, bundle, account, email, str(invitation["role"]))
    except VaultError as exc:
        raise translate(exc) from None
    _append(teams, session, entry)
    return {
        "team": session.state.name,
        "email": email,
        "role": invitation["role"],
        **pinned,
    }


def _member(session: Any, email: str) -> Any:
    found = [m for m in session.state.members.values() if m.email.casefold() == email.casefold()]
    if not found:
        raise CliError(f"{email} is not a member of {session.state.name!r}", NOT_FOUND, "not_found")
    return found[0]


def _remove(teams: Teams, request: dict[str, Any]) -> dict[str, Any]:
    session = teams.named(_text(request, "team"))
    member = _member(session, _text(request, "email"))
    base = session.vault.revision
    teams.anchor(session)
    removal = session.remove_member(member.account_id)
    _append(teams, session, removal.entry, removal.vault, base)
    return {
        "team": session.state.name,
        "removed": member.email,
        "epoch": session.state.epoch,
        "rotate": [
            {"name": e.name, "kind": e.kind, "url": e.url, "rotate_at": e.rotate_at}
            for e in removal.exposed
        ],
    }


def _role_change(teams: Teams, request: dict[str, Any]) -> dict[str, Any]:
    session = teams.named(_text(request, "team"))
    member = _member(session, _text(request, "email"))
    role = _role(request)
    base = session.vault.revision
    teams.anchor(session)  # sealed only if the vault is written again with the entry
    entry, blob = session.change_role(member.account_id, role)
    # A demoted writer's vault, signed again at the new head, goes with the entry (one
    # transaction): no client ever sees the log without it.
    _append(teams, session, entry, blob, base)
    return {"team": session.state.name, "email": member.email, "role": role}


def _rotate(teams: Teams, request: dict[str, Any]) -> dict[str, Any]:
    session = teams.named(_text(request, "team"))
    base = session.vault.revision
    teams.anchor(session)
    entry, blob = session.rotate()
    _append(teams, session, entry, blob, base)
    return {"team": session.state.name, "epoch": session.state.epoch}


def _leave(teams: Teams, request: dict[str, Any]) -> dict[str, Any]:
    session = teams.named(_text(request, "team"))
    name, team = session.state.name, session.state.team_id
    entry = session.leave()
    try:
        teams.call("POST", f"/api/teams/{team}/log", {"entry": b64url_encode(entry)})
    except ApiError as exc:
        raise api_refused(exc, "team") from None
    teams._forget(team)
    return {"team": name, "left": True}


def _audit_anchor(teams: Teams, request: dict[str, Any]) -> dict[str, Any]:
    """The team audit-chain head sealed in the team vault held or, given ``blob``
    (base64url), in that kept revision, opened with the keys held against the verified log
    (`zkvault team audit --export`). Only the anchor leaves the agent."""
    from native.vaulterrors import translate
    from vault_core.errors import VaultError
    from vault_core.teams.teamvault import TeamVault

    team = _text(request, "team")
    session = teams.sessions.get(team) or teams.named(team)
    blob = request.get("blob")
    if blob is None:
        vault = session.vault
    elif not isinstance(blob, str):
        raise CliError("blob must be base64url text", USAGE, "bad_request")
    else:
        try:
            vault = TeamVault.open_kept(b64url_decode(blob), states=session.states, keys=teams.keys)
        except VaultError as exc:
            raise translate(exc) from None
        except ValueError:
            raise CliError("the revision is not base64url", USAGE, "bad_request") from None
    try:
        anchor = vault.audit_anchor
        return {
            "team_id": session.state.team_id,
            "revision": vault.revision,
            "anchor": None if anchor is None else {"seq": anchor.seq, "head": anchor.head},
        }
    except VaultError as exc:
        raise translate(exc) from None
    finally:
        if vault is not session.vault:
            vault.lock()


_ACTIONS = {
    "create": _create,
    "list": _list,
    "members": _members,
    "invite": _invite,
    "invitations": _invitations,
    "accept": lambda t, r: _respond(t, r, "accept"),
    "decline": lambda t, r: _respond(t, r, "decline"),
    "withdraw": _withdraw,
    "add": _add,
    "remove": _remove,
    "role": _role_change,
    "rotate": _rotate,
    "leave": _leave,
    **team_grant_ops.ACTIONS,
    "audit_anchor": _audit_anchor,
}
