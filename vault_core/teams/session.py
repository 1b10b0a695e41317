"""A client's view of one team (docs/teams.md): from its identity, its pinned contacts, the
membership log and the team vault the server serves, and what it remembers of the team,
a verified state and items, and the operations a member makes (format.md §15).

Every operation returns the bytes to send (log entry, team vault) and applies them to
its own state first: what this client would refuse from another, it does not send.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import IdentityChangedError, TeamPermissionError
from ..items import Item, ItemInfo
from ..keys import RandomBytes, wipe
from ..vault import Vault
from .entries import parse_entry
from .identity import IdentityKeys
from .keybox import open_team_key
from .ops import add_entry, create_entry, leave_entry, remove_entry, role_entry, rotate_entry
from .state import RANK, TeamState, apply, replay_states
from .teamvault import TeamMemory, TeamVault, check_log_memory, remember

# Where each kind's tokens are revoked and made again at the provider (issue: "a link per
# kind"); github-enterprise uses the item's own host.
_ROTATE_PAGES = {
    "github": "https://github.com/settings/tokens",
    "gitlab": "https://gitlab.com/-/user_settings/personal_access_tokens",
    "bitbucket": "https://bitbucket.org/account/settings/app-passwords/",
}


@dataclass(frozen=True)
class ExposedItem:
    """An item a removed member could read: rotate its secret at the provider."""

    id: uuid.UUID
    name: str
    kind: str
    url: str
    rotate_at: str  # the provider's page for it, "" where zkvault knows none


@dataclass(frozen=True)
class Removal:
    entry: bytes
    vault: bytes
    exposed: tuple[ExposedItem, ...]


def rotate_page(item: Item) -> str:
    if item.kind == "github-enterprise":
        parts = urlsplit(item.url)
        return f"https://{parts.hostname}/settings/tokens" if parts.hostname else ""
    if item.kind == "gitlab" and item.url:
        parts = urlsplit(item.url)
        if parts.hostname and parts.hostname != "gitlab.com":
            return f"https://{parts.hostname}/-/user_settings/personal_access_tokens"
    return _ROTATE_PAGES.get(item.kind, "")


class TeamSession:
    def __init__(
        self, keys: IdentityKeys, states: list[TeamState], vault: TeamVault, memory: TeamMemory
    ) -> None:
        self.keys = keys
        self.states = states
        self.vault = vault
        self.memory = memory

    @property
    def state(self) -> TeamState:
        return self.states[-1]

    @property
    def role(self) -> str:
        role = self.state.role_of(self.keys.account_id.hex)
        assert role is not None  # a session ends when its holder is no longer a member
        return role

    def __repr__(self) -> str:
        return f"<TeamSession team={self.state.team_id} seq={self.state.seq} role={self.role}>"

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        keys: IdentityKeys,
        entries: Sequence[bytes],
        blob: bytes,
        memory: TeamMemory | None = None,
        *,
        sealed_memory: bool = False,
    ) -> TeamSession:
        """Verify the log (replayed from its first entry, against ``memory``), open this
        member's key box for the current epoch, then the team vault (§15.7).

        ``sealed_memory``: the memory comes from storage only this client can write (the
        sealed local state, §13), so the signatures of the prefix it pins need not be
        checked again (§15.4, "Memory"); otherwise every signature is checked."""
        known = None
        if memory is not None and sealed_memory:
            known = (memory.log_seq, bytes.fromhex(memory.log_head))
        states = replay_states(entries, known)
        check_log_memory(states, memory)
        state = states[-1]
        me = state.members.get(keys.account_id.hex)
        if me is None:
            raise TeamPermissionError("you are not a member of this team")
        if (me.sign_key, me.box_key) != (keys.sign_key, keys.box_key):
            # The log recorded another key for this account: an admin added someone else's.
            raise IdentityChangedError("the team's log holds another identity key for you")
        team_key = open_team_key(
            state.boxes[me.account_id],
            keys,
            uuid.UUID(hex=state.team_id),
            state.epoch,
            state.key_check,
        )
        try:
            vault = TeamVault.open(blob, states=states, team_key=team_key, memory=memory)
        finally:
            wipe(team_key)
        return cls(keys, states, vault, remember(states, vault, memory))

    @classmethod
    def create(
        cls,
        keys: IdentityKeys,
        email: str,
        name: str,
        *,
        at: int | None = None,
        random_bytes: RandomBytes | None = None,
    ) -> tuple[TeamSession, bytes, bytes]:
        """A new team with its holder as owner: (session, first entry, first vault)."""
        entry, team_key = create_entry(keys, email, name, at=at, random_bytes=random_bytes)
        states = [apply(None, parse_entry(entry))]
        try:
            vault = TeamVault(uuid.UUID(hex=states[0].team_id), team_key, 1)
        finally:
            wipe(team_key)
        blob = vault.save(keys, states[0], random_bytes=random_bytes)
        return cls(keys, states, vault, remember(states, vault, None)), entry, blob

    # -- items -------------------------------------------------------------------------------

    def items(self) -> list[ItemInfo]:
        return self.vault.items()

    def save(self, *, random_bytes: RandomBytes | None = None) -> bytes:
        """The team vault with this member's edits, signed at the current log head."""
        blob = self.vault.save(self.keys, self.state, random_bytes=random_bytes)
        self.memory = remember(self.states, self.vault, self.memory)
        return blob

    # -- membership --------------------------------------------------------------------------

    def _append(self, entry: bytes) -> None:
        self.states.append(apply(self.state, parse_entry(entry)))

    def _team_key(self) -> bytearray:
        return open_team_key(
            self.state.boxes[self.keys.account_id.hex],
            self.keys,
            uuid.UUID(hex=self.state.team_id),
            self.state.epoch,
            self.state.key_check,
        )

    def add_member(
        self,
        personal: Vault,
        bundle: bytes,
        account_id: uuid.UUID,
        email: str,
        role: str,
        *,
        at: int | None = None,
        random_bytes: RandomBytes | None = None,
    ) -> bytes:
        """Add a person whose identity this member pinned (``identity_not_pinned`` or
        ``identity_changed`` otherwise): the signed add entry, with the key sealed to them."""
        identity = personal.pinned_identity(bundle, account_id)
        contact = personal.contacts().contacts[account_id]
        team_key = self._team_key()
        try:
            entry = add_entry(
                self.keys,
                self.state,
                identity,
                email,
                role,
                contact.verified,
                team_key,
                at=at,
                random_bytes=random_bytes,
            )
        finally:
            wipe(team_key)
        self._append(entry)
        return entry

    def _new_epoch(
        self, entry: bytes, team_key: bytearray, random_bytes: RandomBytes | None
    ) -> bytes:
        try:
            self._append(entry)
            self.vault.rekey(team_key, self.state.epoch)
        finally:
            wipe(team_key)
        return self.save(random_bytes=random_bytes)

    def remove_member(
        self, account: str, *, at: int | None = None, random_bytes: RandomBytes | None = None
    ) -> Removal:
        """Remove a member: a new team key sealed to everyone else, the vault encrypted
        again under it, and the items the removed member could read (rotate them at the
        provider: the old vault and key stay in their hands)."""
        exposed = tuple(
            ExposedItem(
                info.id, info.name, info.kind, info.url, rotate_page(self.vault.get(info.id))
            )
            for info in self.vault.items()
        )
        entry, team_key = remove_entry(
            self.keys, self.state, account, at=at, random_bytes=random_bytes
        )
        return Removal(entry, self._new_epoch(entry, team_key, random_bytes), exposed)

    def rotate(
        self, *, at: int | None = None, random_bytes: RandomBytes | None = None
    ) -> tuple[bytes, bytes]:
        """A new team key for the same members (after someone left): (entry, vault)."""
        entry, team_key = rotate_entry(self.keys, self.state, at=at, random_bytes=random_bytes)
        return entry, self._new_epoch(entry, team_key, random_bytes)

    def change_role(
        self,
        account: str,
        role: str,
        *,
        at: int | None = None,
        random_bytes: RandomBytes | None = None,
    ) -> tuple[bytes, bytes | None]:
        """(entry, vault or None). A member lowered below writer who wrote the current
        vault would leave it refused by every client (§15.6 step 9): this member writes
        it again, at the new log head, when it may."""
        entry = role_entry(self.keys, self.state, account, role, at=at)
        self._append(entry)
        blob = None
        if (
            self.vault.writer is not None
            and self.vault.writer.hex == account
            and RANK[role] < RANK["writer"]
            and RANK[self.role] >= RANK["writer"]
        ):
            blob = self.save(random_bytes=random_bytes)
        return entry, blob

    def leave(self, *, at: int | None = None) -> bytes:
        """Leave the team. The key does not change here (a leaver would know a new one):
        an admin's client rotates next (``TeamState.left_since_rotation``)."""
        entry = leave_entry(self.keys, self.state, at=at)
        apply(self.state, parse_entry(entry))
        self.vault.lock()
        return entry
