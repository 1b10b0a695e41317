"""Teams inside the web worker (docs/web.md, "Teams"): the identity, contacts and team
sessions, next to the personal vault session of ``worker_vault``.

The page fetches and uploads (log entries, team vaults, identity bundles: all public or
ciphertext); this module verifies what it is handed with vault_core.teams and answers
with what the page shows: names, roles, safety numbers computed here, item metadata. A
team key, the identity seed and a secret never leave (a secret only through
``team_reveal``, when the person asks).

The identity and pinned contacts live in the personal vault (format.md §15.5): making
the identity and pinning a contact are personal-vault edits, saved through the page's
ordinary save pipeline (their ``change`` is replayed on a merge).

What this browser remembers of each team (``TeamMemory``) is handed in by the page on
open and handed back as ``team_memory`` after each change; the page stores it only once
the server has taken the change, so a refused upload never leaves a memory ahead of the
server.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vault_core import SSH_KEY, errors, seal_team_grant
from vault_core.audit_chain import AuditAnchor
from vault_core.b64url import b64url_decode as b64d
from vault_core.b64url import b64url_encode as b64e
from vault_core.teams import (
    RANK,
    ROLES,
    IdentityKeys,
    TeamMemory,
    identity_fingerprint,
    parse_identity,
)
from vault_core.teams.session import TeamSession

from . import ssh_items

if TYPE_CHECKING:
    from vault_core import Vault

    from .worker_vault import Session

# How each member's key was checked, in words (the log's "verified", format.md §15.3).
VERIFIED = {
    "self": "created the team",
    "fingerprint": "safety numbers compared",
    "tofu": "trusted on first use",
}


def TeamsError(code: str, message: str) -> Exception:
    """The session's SessionError (fixed text, a code the page shows), imported when
    raised: worker_vault imports this module to register its operations."""
    from .session_error import SessionError

    return SessionError(code, message)


def _uuid(text: Any, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(text))
    except ValueError:
        raise TeamsError("bad_request", f"The server sent something that is not {what}.") from None


def _bytes(text: Any, what: str) -> bytes:
    try:
        return b64d(str(text))
    except ValueError:
        raise TeamsError("bad_request", f"The server sent {what} that is not base64url.") from None


class Teams:
    """The open team sessions of the unlocked personal vault (wiped when it locks)."""

    def __init__(self, personal: Session) -> None:
        self.personal = personal
        self.sessions: dict[str, TeamSession] = {}
        self.heads: dict[str, AuditAnchor] = {}  # team id -> audit head the server last named

    # -- helpers -----------------------------------------------------------------------------

    def _vault(self) -> Vault:
        vault: Vault = self.personal._vault()
        return vault

    def _keys(self) -> IdentityKeys:
        keys = self._vault().identity_keys()
        if keys is None:
            raise TeamsError("no_identity", "Make your identity key first (open Teams).")
        return keys

    def _team(self, team_id: Any) -> TeamSession:
        self._vault()  # locked: every team is closed too
        session = self.sessions.get(str(team_id))
        if session is None:
            raise TeamsError("team_not_open", "Open the team first.")
        return session

    def _anchored(self, session: TeamSession) -> TeamSession:
        """``session`` with the team audit head the server last named set to be sealed by
        the save about to be made (format.md §15.9); set only then, so that the vault a
        reading operation sees is the one the server holds."""
        head = self.heads.get(uuid.UUID(session.state.team_id).hex)
        if head is not None:
            session.vault.set_audit_anchor(head)
        return session

    def op_team_saw_audit_head(self, team_id: str, seq: Any, hash: Any) -> dict[str, Any]:
        """The team audit chain's head the server named (``audit_head`` of a team vault or
        log answer): the team's next save seals it (format.md §15.9). Malformed or older
        than one seen: ignored, so a server cannot make a save write what no reader takes."""
        anchor = AuditAnchor.from_server({"seq": seq, "hash": hash})
        try:
            team = uuid.UUID(str(team_id)).hex
        except ValueError:
            return {"anchored": False}
        held = self.heads.get(team)
        if anchor is None or (held is not None and anchor.seq <= held.seq):
            return {"anchored": False}
        self.heads[team] = anchor
        return {"anchored": True}

    def lock(self) -> None:
        for session in self.sessions.values():
            session.vault.lock()
            session.keys.wipe()
        self.sessions.clear()

    def _edit(self, change: Callable[[Vault], object]) -> dict[str, Any]:
        """A personal-vault edit made through worker_vault's pipeline (replayed on merge)."""
        from .worker_vault import Op

        return self.personal._edit(Op("change", change=change))

    def _view(self, session: TeamSession) -> dict[str, Any]:
        """What the page shows of a team: public facts and item metadata, no secret."""
        state = session.state
        me = session.keys.account_id.hex
        try:
            contacts = self._vault().contacts().contacts
        except errors.IdentityError:
            contacts = {}
        members = []
        for account, member in sorted(state.members.items(), key=lambda kv: kv[1].email):
            # The log verified each bundle when it recorded it: the number is only a hash.
            number = identity_fingerprint(uuid.UUID(hex=account), member.sign_key, member.box_key)
            pinned = contacts.get(uuid.UUID(hex=account))
            mine = None
            if pinned is not None:
                same = (pinned.sign_key, pinned.box_key) == (member.sign_key, member.box_key)
                mine = pinned.verified if same else "changed"
            members.append(
                {
                    "account_id": account,
                    "email": member.email,
                    "role": member.role,
                    "safety_number": number,
                    "identity": b64e(member.identity),  # public: to pin the key the log holds
                    "verified": member.verified,
                    "verified_text": VERIFIED.get(member.verified, member.verified),
                    "added_by": state.members[member.added_by].email
                    if member.added_by in state.members
                    else "",
                    "contact": mine,  # how *I* checked them: fingerprint, tofu, changed, None
                    "me": account == me,
                }
            )
        vault = session.vault
        return {
            "team_id": state.team_id,
            "name": state.name,
            "role": session.role,
            "epoch": state.epoch,
            "seq": state.seq,
            "revision": vault.revision,
            "writer": vault.writer.hex if vault.writer else "",
            "members": members,
            "left_since_rotation": sorted(state.left_since_rotation),
            "items": [i.to_dict() for i in session.items()],
            "team_memory": session.memory.dumps(),
        }

    # -- identity and contacts ---------------------------------------------------------------

    def op_identity_ensure(self) -> dict[str, Any]:
        """Make this account's identity in the personal vault if it has none: an edit to
        save (``blob``) before the bundle is published; else nothing to save."""
        vault = self._vault()
        if vault.identity_keys() is not None:
            return {"made": False}
        return {"made": True, **self._edit(lambda v: v.ensure_identity())}

    def op_identity(self) -> dict[str, Any]:
        """The public bundle to publish and the safety number to read to others."""
        keys = self._keys()
        try:
            return {
                "account_id": keys.account_id.hex,
                "bundle": b64e(keys.bundle()),
                "safety_number": keys.safety_number,
            }
        finally:
            keys.wipe()

    def op_contact_lookup(self, account_id: str, email: str, bundle: str) -> dict[str, Any]:
        """A person's identity as the server served it: checked (self-signed, naming this
        account), its safety number computed here, and what this vault pinned for them."""
        account = _uuid(account_id, "an account id")
        identity = parse_identity(_bytes(bundle, "an identity"), account)
        pinned = self._vault().contacts().contacts.get(account)
        out: dict[str, Any] = {
            "account_id": account.hex,
            "email": str(email),
            "safety_number": identity.safety_number,
            "pinned": None,
            "changed": False,
        }
        if pinned is not None:
            out["pinned"] = {"verified": pinned.verified, "at": pinned.at}
            out["changed"] = (pinned.sign_key, pinned.box_key) != (
                identity.sign_key,
                identity.box_key,
            )
            out["pinned_safety_number"] = pinned.safety_number
        return out

    def op_contact_pin(
        self,
        account_id: str,
        email: str,
        bundle: str,
        safety_number: str | None = None,
        tofu: bool = False,
        accept_change: bool = False,
    ) -> dict[str, Any]:
        """Pin a person's identity: with the safety number they read out (typed: a
        different one is ``identity_changed``), or, only when asked for explicitly, on
        first use (recorded as "tofu"). ``accept_change`` replaces an earlier pin."""
        account = _uuid(account_id, "an account id")
        raw = _bytes(bundle, "an identity")
        typed = str(safety_number).strip() if safety_number else None
        if typed is None and not tofu:
            raise TeamsError(
                "needs_verification",
                "Compare safety numbers, or choose to trust this key on first use.",
            )
        name = str(email)

        def pin(v: Vault) -> None:
            if accept_change:
                v.accept_contact(raw, account, name, safety_number=typed)
            else:
                v.pin_contact(raw, account, name, safety_number=typed)

        # Checked once here (identity_changed, unconfirmed) before it becomes an edit.
        return self._edit(pin)

    # -- teams -------------------------------------------------------------------------------

    def op_team_create(self, name: str, email: str) -> dict[str, Any]:
        keys = self._keys()
        session, entry, blob = TeamSession.create(keys, str(email), str(name))
        self.sessions[session.state.team_id] = session
        return {"entry": b64e(entry), "vault": b64e(blob), **self._view(session)}

    def op_team_open(
        self, team_id: str, entries: list[str], blob: str, memory: str | None = None
    ) -> dict[str, Any]:
        """Verify the whole log (from its first entry), open this member's key box and the
        team vault, checked against what this browser remembers of the team."""
        remembered = None
        if memory:
            try:
                remembered = TeamMemory.parse(str(memory))
            except errors.MalformedError:
                raise TeamsError(
                    "memory_damaged",
                    "What this browser remembers of this team is damaged. Clear this site's"
                    " data in the browser's settings; the team then opens as on a new browser.",
                ) from None
        raw = [_bytes(e, "a log entry") for e in entries]
        session = TeamSession.open(self._keys(), raw, _bytes(blob, "a team vault"), remembered)
        if session.state.team_id != str(team_id):
            raise errors.WrongVaultError("the server sent another team")
        old = self.sessions.pop(str(team_id), None)
        if old is not None:
            old.vault.lock()
        self.sessions[str(team_id)] = session
        return self._view(session)

    def op_team_view(self, team_id: str) -> dict[str, Any]:
        return self._view(self._team(team_id))

    def op_team_people(self, team_id: str) -> dict[str, Any]:
        """Everyone the verified log ever named a member, by account (hex) -> email: the
        audit trail names past members too (asked only by its pane: the whole log is read)."""
        people: dict[str, str] = {}
        for state in self._team(team_id).states:
            for account, member in state.members.items():
                people[account] = member.email
        return {"people": people}

    def op_team_close(self, team_id: str) -> dict[str, Any]:
        session = self.sessions.pop(str(team_id), None)
        if session is not None:
            session.vault.lock()
        return {"closed": True}

    def op_team_add_member(
        self, team_id: str, account_id: str, email: str, role: str, bundle: str
    ) -> dict[str, Any]:
        """The signed add entry for a person this vault pinned (``identity_not_pinned``
        or ``identity_changed`` otherwise), with the team key sealed to them."""
        session = self._team(team_id)
        entry = session.add_member(
            self._vault(),
            _bytes(bundle, "an identity"),
            _uuid(account_id, "an account id"),
            str(email),
            _role(role),
        )
        return {"entry": b64e(entry), **self._view(session)}

    def op_team_remove_member(self, team_id: str, account_id: str) -> dict[str, Any]:
        """Remove: a new team key for the others, the vault encrypted again under it, and
        what the removed member could read, to rotate at the provider."""
        session = self._team(team_id)
        base = session.vault.revision
        removal = self._anchored(session).remove_member(_uuid(account_id, "an account id").hex)
        exposed = [
            {"id": x.id.hex, "name": x.name, "kind": x.kind, "url": x.url, "rotate_at": x.rotate_at}
            for x in removal.exposed
        ]
        return {
            "entry": b64e(removal.entry),
            "vault": b64e(removal.vault),
            "base_revision": base,
            "exposed": exposed,
            **self._view(session),
        }

    def op_team_rotate(self, team_id: str) -> dict[str, Any]:
        session = self._team(team_id)
        base = session.vault.revision
        entry, blob = self._anchored(session).rotate()
        return {
            "entry": b64e(entry),
            "vault": b64e(blob),
            "base_revision": base,
            **self._view(session),
        }

    def op_team_change_role(self, team_id: str, account_id: str, role: str) -> dict[str, Any]:
        session = self._team(team_id)
        base = session.vault.revision
        member = _uuid(account_id, "an account id").hex
        entry, blob = self._anchored(session).change_role(member, _role(role))
        out = {"entry": b64e(entry), "vault": None, "base_revision": base}
        if blob is not None:
            out["vault"] = b64e(blob)
        return {**out, **self._view(session)}

    def op_team_leave(self, team_id: str) -> dict[str, Any]:
        session = self._team(team_id)
        entry = session.leave()
        self.sessions.pop(str(team_id), None)
        return {"entry": b64e(entry)}

    # -- team items --------------------------------------------------------------------------

    def _writable(self, team_id: Any) -> TeamSession:
        """A team this member may write (checked before the edit, so a refused one leaves
        the items shown as they were)."""
        session = self._team(team_id)
        if RANK[session.role] < RANK["writer"]:
            raise errors.TeamPermissionError("writing the team vault needs the writer role")
        return session

    def _save(self, session: TeamSession, base: int) -> dict[str, Any]:
        blob = self._anchored(session).save()
        return {"blob": b64e(blob), "base_revision": base, **self._view(session)}

    def op_team_item_add(
        self, team_id: str, fields: dict[str, Any], secret: str = "", generate: bool = False
    ) -> dict[str, Any]:
        """Add an item; for an ``ssh-key``, ``generate`` makes a new Ed25519 key here, or
        ``secret`` is a pasted OpenSSH key read here (as the personal form's)."""
        from .worker_vault import _item_from

        session = self._writable(team_id)
        base = session.vault.revision
        session.vault.add(_item_from(fields, secret, generate=bool(generate)))
        return self._save(session, base)

    def op_team_item_update(
        self,
        team_id: str,
        item_id: str,
        fields: dict[str, Any],
        secret: str = "",
        generate: bool = False,
    ) -> dict[str, Any]:
        """Edit an item; an empty ``secret`` keeps the stored one (never sent to the page),
        ``generate`` replaces an ssh-key's with a new one."""
        from .worker_vault import _item_from

        session = self._writable(team_id)
        base = session.vault.revision
        key = _uuid(item_id, "an item id")
        kept = "" if generate else secret or session.vault.get(key).secret
        item = _item_from(fields, kept, generate=bool(generate))
        session.vault.update(key, item)
        return self._save(session, base)

    def op_team_item_remove(self, team_id: str, item_id: str) -> dict[str, Any]:
        session = self._writable(team_id)
        base = session.vault.revision
        session.vault.remove(_uuid(item_id, "an item id"))
        return self._save(session, base)

    def op_team_reveal(self, team_id: str, item_id: str) -> dict[str, Any]:
        """The one team operation that returns a secret: on Show or Copy."""
        session = self._team(team_id)
        return {"secret": session.vault.get(_uuid(item_id, "an item id")).secret}

    def op_team_ssh_public_key(self, team_id: str, item_id: str) -> dict[str, Any]:
        """A team ssh-key item's public half (authorized_keys line and fingerprint), shown
        beside it; the private key stays here."""
        item = self._team(team_id).vault.get(_uuid(item_id, "an item id"))
        if item.kind != SSH_KEY:
            return {"public_key": "", "fingerprint": "", "key_type": ""}
        return ssh_items.public_half(item.secret, item.name)

    # -- runner grants of team items ---------------------------------------------------------

    def op_team_seal_grant(
        self, team_id: str, runner_id: str, public_key: str, revision: int, item_ids: list[str]
    ) -> dict[str, Any]:
        """Seal team items to one of this account's runners (format.md §15.8), to the key
        pinned in the personal vault at its approval: ``public_key`` is what the server
        lists now and is only compared with the pin (``key_mismatch``); an unpinned or
        revoked runner, or a profile that has not confirmed its vault, gets nothing (the
        personal grant's checks, ``Vault.key_to_seal_to``). Made at this browser's verified
        log head, so the runner can tell when the grantor stops being an admin."""
        session = self._team(team_id)
        vault = self._vault()
        try:
            runner = uuid.UUID(str(runner_id))
        except ValueError:
            raise TeamsError("not_found", "No such runner.") from None
        try:
            offered = b64d(str(public_key))
        except ValueError:
            offered = b""
        key = vault.key_to_seal_to(runner, offered)
        wanted = {_uuid(i, "an item id") for i in item_ids}
        items = {i: session.vault.get(i) for i in wanted}
        blob = seal_team_grant(
            vault=vault,
            state=session.state,
            runner_id=runner,
            runner_public_key=key,
            items=items,
            revision=int(revision),
        )
        return {"revision": int(revision), "blob": b64e(blob), "items": len(items)}

    def ops(self) -> dict[str, Callable[..., dict[str, Any]]]:
        return {name[3:]: getattr(self, name) for name in dir(self) if name.startswith("op_")}


def _role(role: Any) -> str:
    if role not in ROLES:
        raise TeamsError("bad_request", "Unknown role.")
    return str(role)
