"""Unencrypted exports of other password managers, read for `zkvault import --from`.

- ``bitwarden-json``: Bitwarden's "JSON" export (not "JSON (Encrypted)"): each login item
  with a password becomes an item; its first URI is the URL, its user name kept.
- ``1password-csv``: 1Password's CSV export (1Password 7 and 8 column names), one row a
  login: title, URL (website), username, password.

Entries without a password (secure notes, cards, identities, passkeys) are counted and
named as skipped, never read further. Notes are not imported: a zkvault note is shown by
`list` and must never hold a secret. No message quotes a field's value other than an
entry's title.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from native.errors import USAGE, CliError
from native.import_parser import FORMATS
from native.import_sources import HOST_KINDS
from vault_core import token_formats

MAX_EXPORT_BYTES = 64 * 1024 * 1024


@dataclass
class Entry:
    """One login of an export: what the item would hold."""

    file: str
    index: int  # 1-based: the item's place in the JSON, or the CSV row's line
    title: str
    secret: str = field(repr=False)
    username: str = ""
    url: str = ""

    @property
    def host(self) -> str | None:
        try:
            return urlsplit(self.url).hostname if "://" in self.url else None
        except ValueError:
            return None

    def kind(self) -> str:
        guessed = token_formats.guess_kind(self.secret)
        return guessed or HOST_KINDS.get(self.host or "", "generic")


@dataclass
class Export:
    entries: list[Entry]
    skipped: list[tuple[str, str]]  # (title, why)


def read(fmt: str, path: str) -> Export:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_EXPORT_BYTES + 1)
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", USAGE, "unreadable") from None
    if len(data) > MAX_EXPORT_BYTES:
        raise CliError(f"{path} is larger than an export can be", USAGE, "bad_export")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CliError(f"{path} is not UTF-8 text", USAGE, "bad_export") from None
    readers = dict(zip(FORMATS, (_bitwarden, _onepassword), strict=True))
    return readers[fmt](path, text)


def _bad(path: str, fmt: str, why: str) -> CliError:
    return CliError(f"{path} is not a {fmt} export: {why}", USAGE, "bad_export")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _bitwarden(path: str, text: str) -> Export:
    try:
        doc = json.loads(text)
    except ValueError:
        raise _bad(path, "Bitwarden JSON", "not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        raise _bad(path, "Bitwarden JSON", "no list of items")
    if doc.get("encrypted") is True:
        raise CliError(
            f"{path} is an encrypted Bitwarden export; export again as JSON (unencrypted), "
            "import it, then delete it",
            USAGE,
            "encrypted_export",
        )
    out = Export([], [])
    for index, item in enumerate(doc["items"], 1):
        if not isinstance(item, dict):
            continue
        title = _text(item.get("name")).strip() or f"item {index}"
        login = item.get("login") if isinstance(item.get("login"), dict) else None
        password = _text(login.get("password")) if login else ""
        if item.get("type") != 1 or not password:
            out.skipped.append((title, "no password (not a login)"))
            continue
        assert login is not None
        uris = login.get("uris") if isinstance(login.get("uris"), list) else []
        url = next((_text(u.get("uri")) for u in uris if isinstance(u, dict) and u.get("uri")), "")
        out.entries.append(Entry(path, index, title, password, _text(login.get("username")), url))
    return out


_COLUMNS = {
    "title": ("title", "name"),
    "url": ("url", "website", "login_url", "urls"),
    "username": ("username", "login_username", "user name"),
    "password": ("password", "login_password"),
}


def _onepassword(path: str, text: str) -> Export:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        raise _bad(path, "1Password CSV", "empty")
    header = [h.strip().lower() for h in rows[0]]
    where: dict[str, int] = {}
    for key, names in _COLUMNS.items():
        for name in names:
            if name in header:
                where[key] = header.index(name)
                break
    if "title" not in where or "password" not in where:
        raise _bad(path, "1Password CSV", "no Title and Password columns in its first row")
    out = Export([], [])
    for line, row in enumerate(rows[1:], 2):

        def cell(key: str, row: list[str] = row) -> str:
            i = where.get(key)
            return row[i].strip() if i is not None and i < len(row) else ""

        title = cell("title") or f"row {line}"
        password = row[where["password"]] if where["password"] < len(row) else ""
        if not password:
            out.skipped.append((title, "no password"))
            continue
        url = cell("url").split(",")[0].strip()
        out.entries.append(Entry(path, line, title, password, cell("username"), url))
    return out
