"""People with real identity keys, driving teams through the API with entries signed by
vault_core.teams (the builders every client uses): nothing here is forged unless a test
forges it on purpose."""

from __future__ import annotations

import secrets
import struct
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx2

from server.encoding import b64url_encode
from vault_core.teams import (
    IdentityKeys,
    TeamState,
    add_entry,
    apply,
    create_entry,
    parse_entry,
    remove_entry,
    role_entry,
    rotate_entry,
)
from vault_core.teams.tvformat import TEAM_MAGIC, TEAM_PUBLIC_HEADER_BYTES

from .conftest import Api, User

# The team vault's public header (format.md §15.6): all the server reads of a blob; the
# rest stands in for the manifest, MAC, signature and records, opaque to it.
_HEADER = struct.Struct(">4sH16sQQQ16s")


def team_blob(team_id: str, revision: int, epoch: int, log_seq: int, writer: str) -> bytes:
    header = _HEADER.pack(
        TEAM_MAGIC,
        1,
        uuid.UUID(hex=team_id).bytes,
        revision,
        epoch,
        log_seq,
        uuid.UUID(hex=writer).bytes,
    )
    assert len(header) == TEAM_PUBLIC_HEADER_BYTES
    return header + secrets.token_bytes(120)


@dataclass
class Person:
    user: User
    keys: IdentityKeys
    email: str

    @property
    def hex(self) -> str:
        return uuid.UUID(self.user.account_id).hex


@dataclass
class Team:
    """A team as one honest client tracks it: the verified state and the current key."""

    team_id: str
    state: TeamState
    key: bytes
    revision: int = 1
    entries: list[bytes] = field(default_factory=list)

    def take(self, raw: bytes) -> None:
        self.state = apply(self.state, parse_entry(raw))
        self.entries.append(raw)


class Teams:
    def __init__(self, api: Api) -> None:
        self.api = api

    def call(self, method: str, path: str, who: User, body: Any = None) -> httpx2.Response:
        return self.api.anon.request(method, path, auth=who.auth, json=body)

    def person(self, publish: bool = True) -> Person:
        user = self.api.sign_in()
        email = f"{user.sub}@example.test"
        keys = IdentityKeys.generate(uuid.UUID(user.account_id))
        if publish:
            r = self.call("PUT", "/api/identity", user, {"bundle": b64url_encode(keys.bundle())})
            assert r.status_code == 200, r.text
        return Person(user, keys, email)

    def create(self, owner: Person, name: str = "Platform") -> Team:
        raw, key = create_entry(owner.keys, owner.email, name)
        entry = parse_entry(raw)
        blob = team_blob(entry.team, 1, 1, 1, owner.hex)
        r = self.call(
            "POST",
            "/api/teams",
            owner.user,
            {"entry": b64url_encode(raw), "vault": b64url_encode(blob)},
        )
        assert r.status_code == 201, r.text
        assert r.json()["team_id"] == entry.team
        team = Team(entry.team, apply(None, entry), bytes(key), 1, [raw])
        return team

    def append(
        self, team: Team, who: Person, raw: bytes, vault: bytes | None = None
    ) -> httpx2.Response:
        body: dict[str, Any] = {"entry": b64url_encode(raw)}
        if vault is not None:
            body.update(vault=b64url_encode(vault), base_revision=team.revision)
        r = self.call("POST", f"/api/teams/{team.team_id}/log", who.user, body)
        if r.status_code == 200:
            team.take(raw)
            if vault is not None:
                team.revision += 1
        return r

    def invite(self, team: Team, admin: Person, invitee: Person, role: str) -> str:
        r = self.call(
            "POST",
            f"/api/teams/{team.team_id}/invitations",
            admin.user,
            {"email": invitee.email, "role": role},
        )
        assert r.status_code == 201, r.text
        invitation_id = str(r.json()["invitation_id"])
        r = self.call("POST", f"/api/invitations/{invitation_id}/accept", invitee.user)
        assert r.status_code == 200, r.text
        return invitation_id

    def add_entry(self, team: Team, admin: Person, person: Person, role: str) -> bytes:
        return add_entry(
            admin.keys,
            team.state,
            person.keys.identity(),
            person.email,
            role,
            "fingerprint",
            team.key,
        )

    def add(self, team: Team, admin: Person, person: Person, role: str) -> None:
        self.invite(team, admin, person, role)
        r = self.append(team, admin, self.add_entry(team, admin, person, role))
        assert r.status_code == 200, r.text

    def remove(self, team: Team, admin: Person, person: Person) -> httpx2.Response:
        raw, key = remove_entry(admin.keys, team.state, person.hex)
        epoch = team.state.epoch + 1
        blob = team_blob(team.team_id, team.revision + 1, epoch, team.state.seq + 1, admin.hex)
        r = self.append(team, admin, raw, blob)
        if r.status_code == 200:
            team.key = bytes(key)
        return r

    def rotate_entry(self, team: Team, admin: Person) -> bytes:
        raw, _ = rotate_entry(admin.keys, team.state)
        return raw

    def role_entry(self, team: Team, admin: Person, person: Person, role: str) -> bytes:
        return role_entry(admin.keys, team.state, person.hex, role)

    def put_vault(
        self, team: Team, who: Person, *, epoch: int | None = None, base: int | None = None
    ) -> httpx2.Response:
        base = team.revision if base is None else base
        blob = team_blob(
            team.team_id,
            base + 1,
            team.state.epoch if epoch is None else epoch,
            team.state.seq,
            who.hex,
        )
        r = self.call(
            "PUT",
            f"/api/teams/{team.team_id}/vault",
            who.user,
            {"base_revision": base, "blob": b64url_encode(blob)},
        )
        if r.status_code == 200:
            team.revision = base + 1
        return r
