"""The teams API's request and response shapes (docs/server.md, "Teams").

Binary fields are base64url: identity bundles (public), membership-log entries (public,
signed by members) and team vault blobs (ciphertext). Ids in the log's form (32 hex).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from .schemas import B64URL, AuditHeadOut, Blob, Revision, Sha256, Strict

# An entry is at most 262,144 bytes (format.md §15.3): 349,526 base64url characters.
EntryText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=349_526, pattern=B64URL),
    Field(description="One signed membership-log entry, base64url (at most 256 KiB decoded)"),
]
# A bundle is 150 bytes: 200 characters; a little room so a wrong size gets its own code.
BundleText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=400, pattern=B64URL),
    Field(description="The IDENTITY bundle (format.md §15.1), base64url"),
]
TeamHex = Annotated[str, Field(description="The team id as the log writes it: 32 hex digits")]
Role = Literal["reader", "writer", "admin", "owner"]
Email = Annotated[
    str,
    StringConstraints(
        min_length=3, max_length=320, pattern=r"^[^\s@\x00-\x1f\x7f]+@[^\s@\x00-\x1f\x7f]+$"
    ),
]


class IdentityPut(Strict):
    bundle: BundleText


class IdentityOut(BaseModel):
    account_id: uuid.UUID
    bundle: str
    created_at: datetime
    changed_at: datetime | None = Field(
        description="When a new bundle last replaced an older one (null: never): clients that"
        " pinned the old key warn before sealing anything to the new one"
    )


class LookupOut(BaseModel):
    account_id: uuid.UUID
    email: str
    name: str
    identity: str | None = Field(description="Its IDENTITY bundle, base64url; null: none yet")


class TeamCreate(Strict):
    entry: EntryText = Field(description="The signed create entry (seq 1)")
    vault: Blob = Field(description="The team vault at revision 1, epoch 1")


class TeamCreated(BaseModel):
    team_id: TeamHex
    revision: int
    head_seq: int
    audit_head: AuditHeadOut


class InvitationOut(BaseModel):
    invitation_id: uuid.UUID
    team_id: TeamHex
    team_name: str
    account_id: uuid.UUID
    email: str
    role: str
    invited_by: uuid.UUID
    status: str = Field(description="pending | accepted | added | declined | withdrawn")
    created_at: datetime
    updated_at: datetime


class TeamSummary(BaseModel):
    team_id: TeamHex
    name: str
    role: str = Field(description="The caller's role, as the server's members table says")
    head_seq: int
    epoch: int
    revision: int


class TeamsOut(BaseModel):
    teams: list[TeamSummary]
    invitations: list[InvitationOut] = Field(description="Open invitations for the caller")


class LogOut(BaseModel):
    entries: list[str] = Field(description="Entries after `after`, oldest first, base64url")
    head_seq: int


class LogAppend(Strict):
    entry: EntryText
    vault: Blob | None = Field(
        default=None,
        description="Required with an entry that begins an epoch (remove, rotate): the team"
        " vault re-sealed under the new key, as base_revision + 1; refused otherwise",
    )
    base_revision: Revision | None = Field(
        default=None, description="With `vault`: the revision it replaces"
    )


class LogAppended(BaseModel):
    head_seq: int
    epoch: int
    revision: int
    audit_head: AuditHeadOut


class TeamVaultOut(BaseModel):
    blob: str
    revision: int
    epoch: int
    head_seq: int
    sha256: str
    audit_head: AuditHeadOut | None = Field(
        description="The team's audit chain head: seal it into the next save"
    )


class TeamVaultPut(Strict):
    base_revision: Revision
    base_sha256: Sha256 | None = None
    blob: Blob


class TeamVaultWritten(BaseModel):
    revision: int
    head_seq: int
    sha256: str
    audit_head: AuditHeadOut


class InvitationCreate(Strict):
    email: Email
    role: Role


class TeamGrantPut(Strict):
    revision: Annotated[int, Field(ge=1, le=2**63 - 1)]
    blob: Blob


class TeamGrantMeta(BaseModel):
    runner_id: uuid.UUID
    team_id: TeamHex
    grantor_id: uuid.UUID
    revision: int
    size: int
    updated_at: datetime


class TeamGrantOut(TeamGrantMeta):
    blob: str
    grant_public_key: str | None


class TeamVersionOut(BaseModel):
    revision: int
    epoch: int
    size: int
    created_at: datetime


class TeamVersionBlobOut(TeamVersionOut):
    blob: str
