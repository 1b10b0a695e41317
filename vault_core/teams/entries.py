"""Membership-log entries on the wire (format.md §15.3): parse, hash and sign.

An entry is canonical JSON {"body": BODY, "sig": b64url}: BODY says what changed and the
signature is the signer's identity key over it. This module checks only that an entry is
well formed (its grammar, and that an identity it carries verifies); whether it follows
from the log before it, and whether its signer may make it, is ``state.apply``'s job.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..b64url import Base64UrlError, b64url_decode, b64url_encode
from ..backend import get_backend
from ..backend.base import GENERICHASH_BYTES, SIGNATURE_BYTES
from ..bookkeeping import checked_name
from ..encoding import REVISION_MAX, canonical_json, parse_canonical_json
from ..errors import LimitExceededError, MalformedError, UnsupportedVersionError
from .identity import IDENTITY_BYTES, Identity, IdentityKeys, parse_identity
from .keybox import TEAM_KEY_BOX_BYTES

ENTRY_VERSION = "1"
ENTRY_MAX_BYTES = 262_144
MAX_MEMBERS = 1_000
LABEL_TEAM_LOG = b"zkvault/1 team-log"
LABEL_TEAM_LOG_HASH = b"zkvault/1 team-log-hash"
ROLES = ("reader", "writer", "admin", "owner")  # in rising order of power
VERIFIED = ("fingerprint", "tofu")  # how an adder checked the new member's identity
VERIFIED_SELF = "self"  # the creator, in the "create" entry
EMAIL_MAX = 320
_ID = re.compile(r"[0-9a-f]{32}")
_HASH = re.compile(r"[0-9a-f]{64}")
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")
# Visible ASCII (no space, no control) with an "@" among it: within EMAIL_MAX, an address
# _email accepts without looking at each character in Python.
_PLAIN_EMAIL = re.compile(r"[!-~]*@[!-~]*")
_COMMON = ("at", "by", "epoch", "op", "prev", "seq", "team", "v")
OP_FIELDS: dict[str, tuple[str, ...]] = {
    "create": ("boxes", "key_check", "member", "name"),
    "add": ("boxes", "member"),
    "remove": ("account", "boxes", "key_check"),
    "leave": (),
    "role": ("account", "role"),
    "rotate": ("boxes", "key_check"),
}
EPOCH_OPS = frozenset({"create", "remove", "rotate"})  # the ops that start a new epoch
_MEMBER_FIELDS = ["account", "email", "identity", "role", "verified"]
# The same field lists as sets: a dict's keys are distinct, so they equal a set exactly
# when sorted they equal the sorted list.
_MEMBER_FIELD_SET = frozenset(_MEMBER_FIELDS)
_OUTER_FIELDS = frozenset({"body", "sig"})
_BODY_FIELDS = {op: frozenset(_COMMON + fields) for op, fields in OP_FIELDS.items()}


@dataclass(frozen=True)
class MemberSpec:
    """The member an "add" or "create" entry records."""

    account: str
    email: str
    role: str
    identity: Identity
    verified: str


@dataclass(frozen=True)
class LogEntry:
    raw: bytes = field(repr=False)
    hash: bytes
    body: bytes = field(repr=False)  # canonical_json(BODY): what the signature covers
    signature: bytes = field(repr=False)
    team: str
    seq: int
    prev: str
    by: str
    op: str
    epoch: int
    at: int
    name: str | None = None
    member: MemberSpec | None = None
    account: str | None = None
    role: str | None = None
    boxes: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    key_check: bytes | None = field(default=None, repr=False)


def entry_hash(raw: bytes) -> bytes:
    """H("zkvault/1 team-log-hash" || entry bytes)."""
    return get_backend().blake2b(GENERICHASH_BYTES, LABEL_TEAM_LOG_HASH + bytes(raw))


def sign_entry(keys: IdentityKeys, body: Mapping[str, Any]) -> bytes:
    """The wire bytes of an entry: ``body`` signed with ``keys``. Builds; checks nothing."""
    signature = keys.sign(LABEL_TEAM_LOG + canonical_json(dict(body)))
    return canonical_json({"body": dict(body), "sig": b64url_encode(signature)})


def _text(obj: Mapping[str, Any], key: str) -> str:
    value = obj[key]
    if not isinstance(value, str):
        raise MalformedError(f'team log "{key}" is not a string')
    return value


def _match(obj: Mapping[str, Any], key: str, pattern: re.Pattern[str]) -> str:
    value = _text(obj, key)
    if not pattern.fullmatch(value):
        raise MalformedError(f'team log "{key}" is not in its form')
    return value


def _decimal(obj: Mapping[str, Any], key: str, minimum: int) -> int:
    value = int(_match(obj, key, _DECIMAL))
    if not minimum <= value <= REVISION_MAX:
        raise MalformedError(f'team log "{key}" is out of range')
    return value


def _bytes(obj: Mapping[str, Any], key: str, size: int) -> bytes:
    try:
        data = b64url_decode(_text(obj, key))
    except Base64UrlError:
        raise MalformedError(f'team log "{key}" is not base64url') from None
    if len(data) != size:
        raise MalformedError(f'team log "{key}" is not {size} bytes')
    return data


def _email(value: object) -> str:
    if isinstance(value, str) and len(value) <= EMAIL_MAX and _PLAIN_EMAIL.fullmatch(value):
        return value  # printable ASCII with an "@": surely passes the checks below
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= EMAIL_MAX
        or "@" not in value
        or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value)
    ):
        raise MalformedError("team log member email is not an address")
    return value


def _member(value: object, verified_forms: tuple[str, ...], known: bool) -> MemberSpec:
    if not isinstance(value, dict) or value.keys() != _MEMBER_FIELD_SET:
        raise MalformedError(f"team log member has exactly the fields {_MEMBER_FIELDS}")
    account = _match(value, "account", _ID)
    email = _email(value["email"])
    role = _text(value, "role")
    if role not in ROLES:
        raise MalformedError("team log member role is not one of " + ", ".join(ROLES))
    verified = _text(value, "verified")
    if verified not in verified_forms:
        raise MalformedError("team log member verified is not one of " + ", ".join(verified_forms))
    bundle = _bytes(value, "identity", IDENTITY_BYTES)
    identity = parse_identity(bundle, uuid.UUID(hex=account), verify=not known)
    return MemberSpec(account, email, role, identity, verified)


def _boxes(value: object) -> dict[str, bytes]:
    if not isinstance(value, dict):
        raise MalformedError('team log "boxes" is not an object')
    if not 1 <= len(value) <= MAX_MEMBERS:
        raise LimitExceededError(f"a team has 1 to {MAX_MEMBERS} members")
    boxes: dict[str, bytes] = {}
    for account in value:
        if not _ID.fullmatch(account):
            raise MalformedError('a "boxes" key is an account id, 32 lowercase hex digits')
        boxes[account] = _bytes(value, account, TEAM_KEY_BOX_BYTES)
    return boxes


def _body_bytes(raw: bytes, sig: str, body: dict[str, Any]) -> bytes:
    """canonical_json(body), for ``raw`` already checked canonical: it is then exactly
    {"body":BODY,"sig":"SIG"} (keys sorted, SIG base64url, nothing to escape), so BODY is
    the bytes between, cut out rather than encoded again."""
    head, tail = b'{"body":', b',"sig":"' + sig.encode("ascii") + b'"}'
    if raw.startswith(head) and raw.endswith(tail):
        return raw[len(head) : len(raw) - len(tail)]
    return canonical_json(body)  # not reached for canonical input; kept as the definition


def parse_entry(raw: bytes, *, known: bool = False) -> LogEntry:
    """Parse one entry (format.md §15.3, "Reading an entry"), steps and errors in that
    order. Verifies the identity an add or create carries (unless ``known``: an entry this
    client verified before, ``state.known_prefix``); not the entry's signature (its
    signer's key is the one the log recorded: ``state.apply``)."""
    raw = bytes(raw)
    if len(raw) > ENTRY_MAX_BYTES:
        raise LimitExceededError(f"a team log entry is limited to {ENTRY_MAX_BYTES} bytes")
    outer = parse_canonical_json(raw)
    if not isinstance(outer, dict) or outer.keys() != _OUTER_FIELDS:
        raise MalformedError('a team log entry is {"body": {...}, "sig": "..."}')
    body = outer["body"]
    if not isinstance(body, dict):
        raise MalformedError("a team log entry body is an object")
    signature = _bytes(outer, "sig", SIGNATURE_BYTES)
    if "v" not in body or not isinstance(body["v"], str):
        raise MalformedError('a team log entry body has a "v" string')
    if body["v"] != ENTRY_VERSION:
        raise UnsupportedVersionError("team log entry version is not supported")
    op = body.get("op")
    if not isinstance(op, str) or op not in OP_FIELDS:
        raise MalformedError("team log op is not one of " + ", ".join(OP_FIELDS))
    if body.keys() != _BODY_FIELDS[op]:
        expected = sorted(_COMMON + OP_FIELDS[op])
        raise MalformedError(f"a team log {op} entry has exactly the fields {expected}")
    team = _match(body, "team", _ID)
    seq = _decimal(body, "seq", 1)
    prev = _text(body, "prev")
    if not (prev == "" if seq == 1 else _HASH.fullmatch(prev)):
        raise MalformedError('team log "prev" is "" at seq 1, else 64 lowercase hex digits')
    by = _match(body, "by", _ID)
    epoch = _decimal(body, "epoch", 1)
    at = _decimal(body, "at", 0)
    fields: dict[str, Any] = {}
    if op == "create":
        fields["name"] = checked_name(body["name"], MalformedError, "a team")
    if op in ("create", "add"):
        forms = (VERIFIED_SELF,) if op == "create" else VERIFIED
        fields["member"] = _member(body["member"], forms, known)
    if op in ("remove", "role"):
        fields["account"] = _match(body, "account", _ID)
    if op == "role":
        fields["role"] = _text(body, "role")
        if fields["role"] not in ROLES:
            raise MalformedError("team log role is not one of " + ", ".join(ROLES))
    if "boxes" in body:
        fields["boxes"] = _boxes(body["boxes"])
    if "key_check" in body:
        fields["key_check"] = _bytes(body, "key_check", GENERICHASH_BYTES)
    return LogEntry(
        raw=raw,
        hash=entry_hash(raw),
        body=_body_bytes(raw, outer["sig"], body),
        signature=signature,
        team=team,
        seq=seq,
        prev=prev,
        by=by,
        op=op,
        epoch=epoch,
        at=at,
        **fields,
    )
