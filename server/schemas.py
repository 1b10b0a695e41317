"""The API's request and response shapes.

Nothing here can carry a passphrase, a derived key or a plaintext token:
binary fields are base64url ciphertext (vaults, sealed grants) or 32-byte
public keys, and every string field has a tight length limit.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

B64URL = r"^[A-Za-z0-9_-]*$"
# 32 bytes base64url without padding is exactly 43 characters ending in [AEIMQUYcgkosw048].
PublicKey = Annotated[
    str,
    StringConstraints(
        min_length=43, max_length=43, pattern=r"^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$"
    ),
]
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Revision = Annotated[int, Field(ge=0, le=2**63 - 1)]
# 1 MiB is 1,398,102 base64url characters. The schema allows a little more so
# that a blob just over the limit gets the clear 413 from the byte check.
Blob = Annotated[
    str,
    StringConstraints(min_length=1, max_length=1_500_000, pattern=B64URL),
    Field(description="base64url, at most 1 MiB decoded (else 413 too_large)"),
]
Code = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- tokens -----------------------------------------------------------------


class LoginOut(BaseModel):
    url: str = Field(description="The identity provider's authorization URL: navigate to it")


class AccessTokenOut(BaseModel):
    access_token: str
    token_type: Literal["DPoP"] = "DPoP"  # noqa: S105 - a scheme name (RFC 9449)
    expires_in: int
    account_id: uuid.UUID


class TokenOut(AccessTokenOut):
    refresh_token: str | None = Field(
        default=None, description="The rotated refresh token (machines); absent for runners"
    )


class RefreshGrant(Strict):
    grant_type: Literal["refresh_token"]
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class RunnerGrant(Strict):
    grant_type: Literal["runner_credential"]
    credential: Annotated[str, StringConstraints(min_length=1, max_length=256)]


TokenRequest = Annotated[RefreshGrant | RunnerGrant, Field(discriminator="grant_type")]


# --- account ----------------------------------------------------------------


class MeOut(BaseModel):
    account_id: uuid.UUID
    name: str
    email: str
    issuer: str
    client_id: uuid.UUID
    client_kind: str


# --- vault ------------------------------------------------------------------


class AuditHeadOut(BaseModel):
    """The account's audit chain head: the last event's seq and hash (GET /api/audit/export)."""

    seq: int
    hash: str


_AUDIT_HEAD = (
    "The account's audit chain head at this moment (after this write's own event, for a "
    "write): clients seal it into their next save, to check exports against later"
)


class VaultOut(BaseModel):
    vault_id: uuid.UUID
    revision: int
    size: int
    updated_at: datetime
    sha256: str = Field(description="SHA-256 (hex) of the blob; send it back as base_sha256")
    blob: str = Field(description="The opaque vault, base64url")
    audit_head: AuditHeadOut | None = Field(description=_AUDIT_HEAD + "; null: no event yet")


Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class VaultPut(Strict):
    base_revision: Revision = Field(description="The revision this write replaces (0: none yet)")
    base_sha256: Sha256 | None = Field(
        default=None,
        description="Optional: SHA-256 of the blob this write replaces. Recommended: a client "
        "that re-saves after an unknown outcome then cannot replace another device's "
        "revision N with its own unaccepted revision N.",
    )
    blob: Blob


class VaultRestore(VaultPut):
    """A write like any other (the same checks and limits), naming the kept revision whose
    items it re-seals."""

    from_revision: Annotated[int, Field(ge=1, le=2**63 - 1)]
    blob: Blob = Field(description="The old revision's items re-sealed at base_revision + 1")


class VaultWritten(BaseModel):
    vault_id: uuid.UUID
    revision: int
    size: int
    updated_at: datetime
    sha256: str
    audit_head: AuditHeadOut = Field(description=_AUDIT_HEAD)


class VersionOut(BaseModel):
    revision: int
    size: int
    created_at: datetime


class VersionBlobOut(VersionOut):
    blob: str


# --- pairing ----------------------------------------------------------------


class PairingCreate(Strict):
    kind: Literal["machine", "runner"]
    name: Name
    public_key: PublicKey = Field(description="X25519 public key, 32 bytes base64url")


class PairingCreated(BaseModel):
    pairing_id: uuid.UUID
    code: str = Field(description="Short human code, e.g. 7KX4Q-M2HZR")
    url: str = Field(description="One-time URL (the code travels in the fragment)")
    poll_secret: str
    expires_at: datetime
    poll_interval_seconds: int


class PairingPoll(Strict):
    pairing_id: uuid.UUID
    poll_secret: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class PairingStatus(BaseModel):
    status: str = Field(description="pending | refused | expired | approved")
    kind: str = Field(description="machine | runner")
    client_id: uuid.UUID | None = None
    account_id: uuid.UUID | None = None
    access_token: str | None = None
    expires_in: int | None = None
    refresh_token: str | None = Field(default=None, description="Machines: zkv_rt_...")
    runner_credential: str | None = Field(default=None, description="Runners: zkv_runner_...")
    grant_public_key: str | None = None
    name: str | None = Field(default=None, description="The name the owner approved it under")


class CodeIn(Strict):
    code: Code


class PairingApprove(Strict):
    code: Code
    name: Name | None = None
    grant_public_key: PublicKey | None = Field(
        default=None, description="Runners: the owner's Ed25519 grant-signing public key"
    )


class PairingInfo(BaseModel):
    pairing_id: uuid.UUID
    kind: str = Field(description="machine | runner")
    name: str
    public_key: str
    created_at: datetime
    expires_at: datetime


# --- machines, runners, grants -----------------------------------------------


class ClientOut(BaseModel):
    id: uuid.UUID
    kind: str
    name: str
    public_key: str | None
    created_at: datetime
    last_seen_at: datetime | None
    revoked_at: datetime | None
    grant_revision: int | None = None


class Rename(Strict):
    name: Name


class GrantPut(Strict):
    revision: Annotated[int, Field(ge=1, le=2**63 - 1)]
    blob: Blob


class GrantMeta(BaseModel):
    runner_id: uuid.UUID
    revision: int
    size: int
    updated_at: datetime


class GrantOut(GrantMeta):
    blob: str
    grant_public_key: str | None


# --- audit ------------------------------------------------------------------


class AuditEventOut(BaseModel):
    # No database row id: it is one sequence for every account, so its gaps would
    # count what other accounts did in between. seq numbers the caller's own chain.
    seq: int
    time: datetime
    actor: str
    action: str
    tag: str
    target: str
    outcome: str
    source: str
    detail: str
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    events: list[AuditEventOut]
    next_before: int | None


class AuditExport(BaseModel):
    chain: str
    head_seq: int
    head_hash: str
    events: list[AuditEventOut]
