"""Teams, agent side: the agent holds the identity keys, so it opens, checks and changes
team vaults (docs/teams.md, docs/cli.md "Teams").

Nothing is taken on the server's word: every team is opened with
``vault_core.teams.session.TeamSession`` from its whole membership log, replayed and
checked against what this machine remembers of it (``TeamMemory``, kept in the sealed
local state per team), and its vault is checked against the log. The server's own list
of teams only says where to look; a role, a member or a key comes from the verified log.

Every save of a team vault seals the team's audit-chain head the server last named
(``audit_head`` of its vault and log answers, kept per team while unlocked), if it is
well formed: ``zkvault team audit --export`` holds the team's trail against those.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from typing import Any

from native.api import ApiError, b64url_decode, b64url_encode
from native.errors import FAILURE, NOT_FOUND, STATE, USAGE, CliError
from native.machine_tokens import unexpected
from native.state import StateStore

MAX_ATTEMPTS = 4  # team vault writes replayed after a 409, as the personal vault's are


def api_refused(exc: ApiError, what: str) -> CliError:
    """The server's refusal of a team request, typed."""
    if exc.status == 404:
        return CliError(f"the server knows no such {what} for you", NOT_FOUND, exc.code)
    if exc.status == 403:
        return CliError(
            f"the server refused: your role does not allow that ({exc.code})",
            USAGE,
            "team_permission",
        )
    if exc.status == 409:
        return CliError(
            f"the server refused ({exc.code}): the team changed meanwhile or the request "
            "conflicts; look again and retry",
            FAILURE,
            exc.code,
        )
    return unexpected(exc)


class TeamSource:
    """One team vault as an ``answers.ItemSource`` (read-only)."""

    def __init__(self, session: Any) -> None:
        self.session = session

    @property
    def revision(self) -> int:
        return int(self.session.vault.revision)

    def items(self) -> list[Any]:
        return list(self.session.items())

    def get(self, item_id: Any) -> Any:
        return self.session.vault.get(item_id)

    def lock(self) -> None:
        self.session.vault.lock()


class Teams:
    """The teams of the unlocked account, opened and verified on demand.

    ``call(method, path, body)`` is the agent's authenticated call (native.write.Writer);
    ``save_personal(change)`` applies ``change`` to the personal vault and saves it."""

    def __init__(
        self,
        personal: Any,
        call: Callable[[str, str, dict[str, Any] | None], dict[str, Any]],
        save_personal: Callable[[Callable[[Any], None]], None],
        store: StateStore,
    ) -> None:
        self.personal = personal
        self._call = call
        self.save_personal = save_personal
        self.store = store
        self.sessions: dict[str, Any] = {}  # team id (hex) -> TeamSession, verified
        # team id -> (the name the server gives it, why it could not be opened)
        self.troubles: dict[str, tuple[str, CliError]] = {}
        self.invitations: list[dict[str, Any]] = []
        self._me: dict[str, Any] | None = None
        self.looked = False  # refresh() has run since unlock
        self.heads: dict[str, Any] = {}  # team id -> the AuditAnchor the server last named

    # -- audit anchors ------------------------------------------------------------------------

    def saw_head(self, team: str, answer: dict[str, Any]) -> None:
        """Keep the ``audit_head`` of a server's answer about ``team``, if well formed (a
        malformed one is the server's fault and is not sealed; the previous one stays)."""
        from vault_core.audit_chain import AuditAnchor

        anchor = AuditAnchor.from_server(answer.get("audit_head"))
        if anchor is not None:
            self.heads[team] = anchor

    def anchor(self, session: Any) -> None:
        """Seal the head last seen for this team into its vault's next save."""
        head = self.heads.get(session.state.team_id)
        if head is not None:
            session.vault.set_audit_anchor(head)

    # -- the server ---------------------------------------------------------------------------

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._call(method, path, body)

    def me(self) -> dict[str, Any]:
        if self._me is None:
            self._me = self.call("GET", "/api/me")
        return self._me

    @property
    def keys(self) -> Any:
        keys = self.personal.identity_keys()
        if keys is None:
            raise CliError(
                "your vault has no identity yet; `zkvault lock`, then `zkvault unlock`",
                STATE,
                "no_identity",
            )
        return keys

    # -- memory -------------------------------------------------------------------------------

    def _memory(self, team: str) -> Any:
        from vault_core.teams import TeamMemory

        text = (self.store.load().team_memory or {}).get(team)
        if text is None:
            return None
        try:
            return TeamMemory.parse(text)
        except Exception:
            raise CliError(
                "local state is malformed (team memory); run `zkvault connect --clean`",
                STATE,
                "malformed_state",
            ) from None

    def _remember(self, session: Any) -> None:
        """Keep the team's log head and vault revision (never moved back)."""
        memory = session.memory
        with self.store.update() as state:
            kept = dict(state.team_memory or {})
            kept[memory.team_id] = memory.dumps()
            state.team_memory = kept

    def _forget(self, team: str) -> None:
        self.sessions.pop(team, None)
        with self.store.update() as state:
            kept = dict(state.team_memory or {})
            kept.pop(team, None)
            state.team_memory = kept

    # -- opening ------------------------------------------------------------------------------

    def open(self, team: str) -> Any:
        """Fetch the team's whole log and vault and open them (every check of §15.7)."""
        from native.vaulterrors import translate
        from vault_core.errors import VaultError, WrongVaultError
        from vault_core.teams.session import TeamSession

        try:
            log = self.call("GET", f"/api/teams/{team}/log?after=0")
            stored = self.call("GET", f"/api/teams/{team}/vault")
        except ApiError as exc:
            raise api_refused(exc, "team") from None
        try:
            entries = [b64url_decode(str(e)) for e in log.get("entries") or []]
            blob = b64url_decode(str(stored.get("blob", "")))
            if not entries:
                raise WrongVaultError("the server sent no log for this team")
            session = TeamSession.open(
                self.keys, entries, blob, self._memory(team), sealed_memory=True
            )
            if session.state.team_id != team:
                raise WrongVaultError("the server sent another team")
        except VaultError as exc:
            self.sessions.pop(team, None)
            raise translate(exc) from None
        except ValueError:
            raise CliError("the server's answer was malformed", STATE, "bad_response") from None
        self._remember(session)
        self.saw_head(team, stored)
        self.sessions[team] = session
        self.troubles.pop(team, None)
        return session

    def refresh(self) -> None:
        """Open every team the server lists whose log or vault moved; drop the others.
        A team that fails its checks is kept out (and said in ``troubles``)."""
        try:
            listed = self.call("GET", "/api/teams")
        except ApiError as exc:
            raise api_refused(exc, "team") from None
        self.looked = True
        self.invitations = list(listed.get("invitations") or [])
        seen = set()
        for summary in listed.get("teams") or []:
            team = str(summary.get("team_id", ""))
            seen.add(team)
            held = self.sessions.get(team)
            if held is not None and (held.state.seq, held.vault.revision) == (
                summary.get("head_seq"),
                summary.get("revision"),
            ):
                continue
            try:
                self.open(team)
            except CliError as exc:
                self.troubles[team] = (str(summary.get("name", "")), exc)
        for team in list(self.sessions):
            if team not in seen:
                self.sessions.pop(team)  # no longer a member (or the server hides it)

    def named(self, name: str) -> Any:
        """The team called ``name`` (or with that id), as the server holds it now."""
        self.refresh()
        found = [
            t
            for t, s in self.sessions.items()
            if s.state.name == name or t == name.replace("-", "")
        ]
        if len(found) > 1:
            raise CliError(f"more than one team is named {name!r}; use its id", USAGE, "usage")
        if not found:
            for team, (called, why) in self.troubles.items():
                if name in (called, team) or team == name.replace("-", ""):
                    raise why
            hint = ""
            if self.troubles:
                hint = f"; {len(self.troubles)} team(s) failed their checks: `zkvault team list`"
            raise CliError(
                f"no team named {name!r}{hint}; `zkvault team list` shows yours",
                NOT_FOUND,
                "not_found",
            )
        return self.sessions[found[0]]

    def opened(self) -> list[tuple[str, TeamSource]]:
        """``sources()``, looking at the server first if nothing has since unlock (for the
        SSH agent, whose clients never ask for a team by name). Unreachable or refused:
        the teams opened so far, as a lookup offline answers."""
        if not self.looked:
            with contextlib.suppress(CliError):
                self.refresh()
        return self.sources()

    def sources(self) -> list[tuple[str, TeamSource]]:
        """(team name, items) for every team opened, in name order."""
        return sorted(
            ((s.state.name, TeamSource(s)) for s in self.sessions.values()), key=lambda p: p[0]
        )

    def lock(self) -> None:
        for session in self.sessions.values():
            session.vault.lock()
            session.keys.wipe()
        self.sessions.clear()

    # -- writing the team vault ---------------------------------------------------------------

    def write(self, request: dict[str, Any]) -> dict[str, Any]:
        """One item change in a team vault (writers and up), replayed after a 409."""
        from native.write import Edit

        name = str(request.get("vault", ""))
        edit = Edit.parse(request)
        session = self.named(name)
        _need_writer(session)
        base = edit.base(session.vault)
        notes = edit.kind_notes(session.vault, base)
        for attempt in range(MAX_ATTEMPTS):
            item_id = edit.apply(session.vault, base, replay=attempt > 0, notes=notes)
            if item_id is None:
                return _written(session, edit, base, None, saved=False, notes=notes)
            previous = session.vault.revision
            self.anchor(session)
            blob = session.save()
            body = {"base_revision": previous, "blob": b64url_encode(blob)}
            try:
                written = self.call("PUT", f"/api/teams/{session.state.team_id}/vault", body)
            except ApiError as exc:
                if exc.status == 409:
                    session = self.open(session.state.team_id)
                    continue
                self.open(session.state.team_id)  # back to what the server holds
                raise api_refused(exc, "team") from None
            self._remember(session)
            self.saw_head(session.state.team_id, written)
            return _written(session, edit, base, item_id, saved=True, notes=notes)
        raise CliError(
            "the team vault keeps changing on the server; nothing was written, try again",
            FAILURE,
            "busy",
        )


def _need_writer(session: Any) -> None:
    from vault_core.teams.state import RANK

    if RANK[session.role] < RANK["writer"]:
        raise CliError(
            f"you are a {session.role} of {session.state.name!r}: only its writers, admins "
            "and owners change its items; ask an admin for the writer role",
            USAGE,
            "team_permission",
        )


def _written(
    session: Any,
    edit: Any,
    base: Any,
    item_id: uuid.UUID | None,
    *,
    saved: bool,
    notes: list[str],
) -> dict[str, Any]:
    name = base.name if base is not None else edit.name
    now = str(edit.fields.get("name", name))
    return {
        "ok": True,
        "action": edit.action,
        "vault": session.state.name,
        "name": now if edit.action != "remove" else name,
        "previous_name": name if now != name else None,
        "id": None if item_id is None else item_id.hex,
        "revision": session.vault.revision,
        "saved": saved,
        "merged": False,
        "runners": [],
        "notes": notes,
    }
