"""Answering consumer requests from a set of items: the agent's vault or a runner's grant.

Items are decrypted one at a time, only when a request names them. Answers are plain
JSON-able dicts (docs/cli.md, "Protocol"); failures are CliErrors with stable codes.
"""

from __future__ import annotations

from typing import Any, Protocol

from native import gitcred
from native.errors import NOT_FOUND, USAGE, CliError
from vault_core.items import SSH_KEY, is_reserved

FIELDS = ("secret", "username", "url", "name", "kind", "note", "scopes", "expires", "id")
# An ssh-key item's public half, derived from its secret (never the secret itself).
SSH_FIELDS = ("public-key", "fingerprint")


class ItemSource(Protocol):
    """What answering needs of a vault (vault_core.Vault and runner grants satisfy it)."""

    @property
    def revision(self) -> int: ...

    def items(self) -> list[Any]: ...

    def get(self, item_id: Any) -> Any: ...

    def lock(self) -> None: ...


def item_info(info: Any) -> dict[str, Any]:
    """An item's metadata as JSON-able values. Never includes the secret."""
    out: dict[str, Any] = {}
    for name in ("id", "name", "kind", "url", "username", "scopes", "expires", "note"):
        value = getattr(info, name, None)
        if isinstance(value, tuple | list | frozenset | set):
            value = list(value)
        elif value is not None and not isinstance(value, str | int | float | bool):
            value = value.isoformat() if hasattr(value, "isoformat") else str(value)
        out[name] = value
    return out


def field(item: Any, name: str) -> str:
    if name in SSH_FIELDS:
        return _ssh_public(item, name)
    if name not in FIELDS:
        known = ", ".join(FIELDS + SSH_FIELDS)
        raise CliError(f"unknown field {name!r}; one of: {known}", USAGE, "bad_field")
    value = getattr(item, name, None)
    if name == "secret" and isinstance(value, bytes | bytearray):
        return bytes(value).decode()
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def _ssh_public(item: Any, name: str) -> str:
    """``public-key``: the authorized_keys line (the item's name as comment, as the SSH
    agent lists it); ``fingerprint``: its ``SHA256:`` fingerprint."""
    from vault_core import sshkeys

    if getattr(item, "kind", None) != SSH_KEY:
        raise CliError(f"only an ssh-key item has a {name}", USAGE, "bad_field")
    key = sshkeys.parse_private(field(item, "secret"))
    return key.public_line(item.name) if name == "public-key" else key.fingerprint


def _visible(source: ItemSource) -> list[Any]:
    """The user's items: the web app's bookkeeping items are never listed or exported."""
    return [info for info in source.items() if not is_reserved(info.name)]


def answer(source: ItemSource, op: Any, request: dict[str, Any]) -> dict[str, Any]:
    """The response to a list, get, env or credential request."""
    if op == "list":
        return {"ok": True, "items": [item_info(i) for i in _visible(source)]}
    if op == "get":
        item = _get(source, str(request.get("name", "")))
        return {"ok": True, "value": field(item, str(request.get("field", "secret")))}
    if op == "env":
        visible = _visible(source)
        names = request.get("names")
        if not isinstance(names, list):
            # ssh keys are for an SSH agent, never a child's environment unless named
            names = [i.name for i in visible if i.kind != SSH_KEY]
        # Each name once, looked up in one index: a request naming an item thousands of
        # times costs what naming it once does.
        index = {}
        for info in reversed(visible):  # the first of equal names wins, as in _get
            index[str(info.id)] = index[info.name] = info
        values = {}
        for name in dict.fromkeys(str(n) for n in names):
            values[name] = field(source.get(_find(index, name, source).id), "secret")
        return {"ok": True, "values": values}
    if op == "credential":
        return {"ok": True, **_credential(source, request)}
    raise CliError(f"unknown request {op!r}", USAGE, "bad_request")


def _get(source: ItemSource, name: str) -> Any:
    visible = _visible(source)
    for info in visible:
        if info.name == name or str(info.id) == name:
            return source.get(info.id)
    raise not_found(source, name, [info.name for info in visible])


def _find(index: dict[str, Any], name: str, source: ItemSource) -> Any:
    try:
        return index[name]
    except KeyError:
        names = [info.name for key, info in index.items() if key == info.name]
        raise not_found(source, name, names) from None


def closest(name: str, names: list[str]) -> list[str]:
    """Up to three names like ``name`` (difflib; case ignored), the most alike first."""
    import difflib

    by_folded: dict[str, str] = {}
    for candidate in names:
        by_folded.setdefault(candidate.casefold(), candidate)
    found = difflib.get_close_matches(name.casefold(), list(by_folded), n=3, cutoff=0.6)
    return [by_folded[f] for f in found]


def not_found(source: ItemSource, name: str, names: list[str]) -> CliError:
    """No item by that name here: the closest names, and what to do next. A runner holds
    only its grant, so it cannot tell an item it was not granted from one that does not
    exist: it says "not granted" (docs/cli.md, "Not found")."""
    near = closest(name, names)
    hint = f" (did you mean {' or '.join(repr(n) for n in near)}?)" if near else ""
    if getattr(source, "granted_only", False):
        return CliError(
            f"no item named {name!r} is granted to this runner{hint}; a runner sees only "
            "its granted items, so if it exists in the vault, ask the owner to grant it "
            "(web app, Machines & runners); `zkvault list` shows what is granted",
            NOT_FOUND,
            "not_granted",
        )
    return CliError(
        f"no item named {name!r}{hint}; `zkvault list` shows the names", NOT_FOUND, "not_found"
    )


def _credential(source: ItemSource, request: dict[str, Any]) -> dict[str, Any]:
    visible = _visible(source)
    asked = (str(request.get("protocol", "")), str(request.get("host", "")), request.get("path"))
    found = gitcred.best_match(visible, *asked)
    if found is None:
        message = gitcred.no_match_message(visible, *asked)
        if getattr(source, "granted_only", False) and message.startswith("no item matches"):
            message = message.replace("no item matches", "no item granted to this runner matches")
            message += "; if the vault has one, ask the owner to grant it to this runner"
        elif message.startswith("no item matches"):
            message += "; `zkvault list` shows the items and their URLs"
        raise CliError(message, NOT_FOUND, "no_match")
    item = source.get(found.id)
    return {
        "username": gitcred.username_for(item),
        "password": field(item, "secret"),
        "item": item.name,
    }
