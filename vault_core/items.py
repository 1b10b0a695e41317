"""The item model: one stored credential and its validation (format.md §6.6)."""

from __future__ import annotations

import datetime
import re
import unicodedata
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from .encoding import canonical_json, parse_canonical_json
from .errors import InvalidItemError, LimitExceededError
from .sshkeys import check_item

KINDS = ("github", "github-enterprise", "gitlab", "bitbucket", "git", "generic", "ssh-key")
SSH_KEY = "ssh-key"  # format 2 only: an OpenSSH private key (format.md §6.6, "ssh-key items")
# Kinds whose empty url means the provider's default host (or, for generic and ssh-key, no
# host at all).
# github-enterprise and git have no default host, so an item of those kinds names one.
URL_OPTIONAL_KINDS = frozenset({"github", "gitlab", "bitbucket", "generic", SSH_KEY})
ITEM_JSON_MAX_BYTES = 32_768
MAX_ITEMS = 1000
_FIELDS = ("expires", "kind", "name", "note", "scopes", "secret", "url", "username")
_FIELD_SET = frozenset(_FIELDS)  # a dict's keys are distinct: equal as sets, equal sorted
_MAX_BYTES = {"name": 128, "url": 2048, "username": 256, "secret": 16_384, "note": 4096}
SECRET_MAX_BYTES = _MAX_BYTES["secret"]
_MAX_SCOPES, _MAX_SCOPE_BYTES = 64, 128
# Names with this prefix are clients' own bookkeeping (e.g. which items each runner is
# granted): stored and synced like any item, hidden from listings, never exported, and never
# written through add/update (format.md §6.6, "Reserved names").
RESERVED_PREFIX = ".zkvault-"
# Unicode's White_Space property, spelled out: str.strip() follows str.isspace(), which
# differs from it and between Python versions.
WHITE_SPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # fromisoformat alone also takes week dates
# C0 controls and DEL: one regex search, not a Python loop per character (every item of
# every vault is checked on open).
_CONTROL = re.compile("[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Item:
    """A credential. The secret never appears in repr()."""

    name: str
    kind: str
    url: str
    secret: str = field(repr=False)
    username: str = ""
    scopes: tuple[str, ...] = ()
    expires: str | None = None
    note: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        # Accept any sequence of scopes, store a tuple so the item stays hashable and frozen.
        if isinstance(self.scopes, list):
            object.__setattr__(self, "scopes", tuple(self.scopes))
        validate(self)

    def info(self, item_id: uuid.UUID, revision: int) -> ItemInfo:
        return ItemInfo(
            id=item_id,
            revision=revision,
            name=self.name,
            kind=self.kind,
            url=self.url,
            username=self.username,
            scopes=self.scopes,
            expires=self.expires,
            note=self.note,
        )

    def to_json(self) -> bytes:
        data = asdict(self)
        data["scopes"] = list(self.scopes)
        encoded = canonical_json(data)
        if len(encoded) > ITEM_JSON_MAX_BYTES:
            raise LimitExceededError(f"an item is limited to {ITEM_JSON_MAX_BYTES} bytes")
        return encoded

    @classmethod
    def from_dict(cls, data: Any) -> Item:
        if not isinstance(data, dict) or data.keys() != _FIELD_SET:
            raise InvalidItemError(f"an item has exactly the fields {', '.join(_FIELDS)}")
        scopes = data["scopes"]
        if not isinstance(scopes, list):
            raise InvalidItemError("scopes must be a list")
        return cls(
            name=data["name"],
            kind=data["kind"],
            url=data["url"],
            secret=data["secret"],
            username=data["username"],
            scopes=tuple(scopes),
            expires=data["expires"],
            note=data["note"],
        )

    @classmethod
    def from_json(cls, data: bytes) -> Item:
        if len(data) > ITEM_JSON_MAX_BYTES:
            raise LimitExceededError(f"an item is limited to {ITEM_JSON_MAX_BYTES} bytes")
        return cls.from_dict(parse_canonical_json(data))


def is_reserved(name: str) -> bool:
    """Whether ``name`` is reserved for bookkeeping: after NFKC normalisation and trimming
    White_Space at both ends it begins with ``.zkvault-`` (so no look-alike gets through)."""
    folded = unicodedata.normalize("NFKC", name)
    start, end = 0, len(folded)
    while start < end and folded[start] in WHITE_SPACE:
        start += 1
    while end > start and folded[end - 1] in WHITE_SPACE:
        end -= 1
    return folded[start:end].startswith(RESERVED_PREFIX)


@dataclass(frozen=True)
class ItemInfo:
    """Everything about an item except its secret: safe to list and display."""

    id: uuid.UUID
    revision: int
    name: str
    kind: str
    url: str
    username: str
    scopes: tuple[str, ...]
    expires: str | None
    note: str = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["id"] = self.id.hex
        data["scopes"] = list(self.scopes)
        return data


def _check_text(name: str, value: object, *, minimum: int, maximum: int, controls: bool) -> None:
    if not isinstance(value, str):
        raise InvalidItemError(f"{name} must be a string")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidItemError(f"{name} is not valid Unicode text") from None
    if not minimum <= size <= maximum:
        raise InvalidItemError(f"{name} must be {minimum} to {maximum} bytes")
    if not controls and _CONTROL.search(value):
        raise InvalidItemError(f"{name} must not contain control characters")


def _texts_plain(item: Item) -> bool:
    """Whether every text check of ``validate`` surely passes, seen cheaply: each text an
    ASCII str, not a subclass (so its UTF-8 size is its length, and it has no lone
    surrogate), within its bounds, the scopes a short enough tuple, and no control
    character in the fields that refuse them (one search over them joined). False only
    means "check one by one"."""
    name, url, username, secret, note, scopes = (
        item.name,
        item.url,
        item.username,
        item.secret,
        item.note,
        item.scopes,
    )
    if not (
        type(name) is str
        and type(url) is str
        and type(username) is str
        and type(secret) is str
        and type(note) is str
        and type(scopes) is tuple
        and len(scopes) <= _MAX_SCOPES
        and 1 <= len(name) <= _MAX_BYTES["name"]
        and len(url) <= _MAX_BYTES["url"]
        and len(username) <= _MAX_BYTES["username"]
        and 1 <= len(secret) <= _MAX_BYTES["secret"]
        and len(note) <= _MAX_BYTES["note"]
        and name.isascii()
        and url.isascii()
        and username.isascii()
        and secret.isascii()
        and note.isascii()
    ):
        return False
    for scope in scopes:
        if not (type(scope) is str and 1 <= len(scope) <= _MAX_SCOPE_BYTES and scope.isascii()):
            return False
    return not _CONTROL.search("".join((name, url, username, *scopes)))


def validate(item: Item) -> None:
    if _texts_plain(item):
        # Every text check passes: only the others can fail, met in the same order.
        if item.kind not in KINDS:
            raise InvalidItemError(f"kind must be one of {', '.join(KINDS)}")
        if not item.url and item.kind not in URL_OPTIONAL_KINDS:
            raise InvalidItemError(f"an item of kind {item.kind} needs a url")
        _check_expires_and_ssh(item)
        return
    validate_field_by_field(item)


def validate_field_by_field(item: Item) -> None:
    """The definition ``validate`` shortcuts: each check in turn, the first failing one's
    error raised."""
    _check_text("name", item.name, minimum=1, maximum=_MAX_BYTES["name"], controls=False)
    if item.kind not in KINDS:
        raise InvalidItemError(f"kind must be one of {', '.join(KINDS)}")
    _check_text("url", item.url, minimum=0, maximum=_MAX_BYTES["url"], controls=False)
    if not item.url and item.kind not in URL_OPTIONAL_KINDS:
        raise InvalidItemError(f"an item of kind {item.kind} needs a url")
    _check_text(
        "username", item.username, minimum=0, maximum=_MAX_BYTES["username"], controls=False
    )
    _check_text("secret", item.secret, minimum=1, maximum=_MAX_BYTES["secret"], controls=True)
    _check_text("note", item.note, minimum=0, maximum=_MAX_BYTES["note"], controls=True)
    if not isinstance(item.scopes, tuple) or len(item.scopes) > _MAX_SCOPES:
        raise InvalidItemError(f"scopes must be a list of at most {_MAX_SCOPES} strings")
    for scope in item.scopes:
        _check_text("scope", scope, minimum=1, maximum=_MAX_SCOPE_BYTES, controls=False)
    _check_expires_and_ssh(item)


def _check_expires_and_ssh(item: Item) -> None:
    if item.expires is not None:
        if not isinstance(item.expires, str) or not _DATE.fullmatch(item.expires):
            raise InvalidItemError("expires must be a YYYY-MM-DD date or null")
        try:
            datetime.date.fromisoformat(item.expires)
        except ValueError:
            raise InvalidItemError("expires must be a YYYY-MM-DD date or null") from None
    if item.kind == SSH_KEY:
        check_item(item.url, item.username, item.scopes, item.secret)
