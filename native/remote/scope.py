"""What a forwarded session may ask for: the allowed items, and git credentials for the
allowed hosts. Pure decisions, no I/O: the proxy (native.remote.proxy) applies them.

Only list, get, env and credential are ever forwarded to the agent; status is answered
by the proxy itself; lock and anything else are refused (a builder must not be able to
lock, unlock or change the laptop's agent).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from native import gitcred

OUT_OF_SCOPE = "out_of_scope"
_FIELDS = ("secret", "username", "url", "name", "kind", "note", "scopes", "expires", "id")


class Refused(Exception):
    """The request is outside the session's scope; ``message`` is the builder's one line."""

    def __init__(self, message: str, code: str = OUT_OF_SCOPE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _short(value: Any) -> str:
    """A request value as it may appear in a message or the log: bounded, one line."""
    text = str(value)
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text[:80] + ("…" if len(text) > 80 else "")


@dataclass(frozen=True)
class Scope:
    items: frozenset[str]
    hosts: frozenset[str]  # as given, lower case; compared per request's scheme

    @classmethod
    def of(cls, items: list[str], hosts: list[str]) -> Scope:
        return cls(frozenset(items), frozenset(h.lower() for h in hosts))

    def shares_host(self, protocol: str, host: str) -> bool:
        """As git's matching compares hosts: with the port, the scheme's default dropped."""
        wanted = _host(protocol, host)
        return any(_host(protocol, allowed) == wanted for allowed in self.hosts)

    def request(self, op: Any, request: dict[str, Any]) -> dict[str, Any]:
        """The request to send to the agent, rebuilt from known fields only; raises Refused."""
        if op == "list":
            return {"v": 1, "op": "list"}
        if op == "get":
            name = request.get("name")
            if not isinstance(name, str) or name not in self.items:
                raise Refused(f"item {_short(name)!r} is not shared with this session")
            field = request.get("field", "secret")
            if field not in _FIELDS:
                field = "secret"  # the agent reports the bad field itself
            return {"v": 1, "op": "get", "name": name, "field": field}
        if op == "env":
            names = request.get("names")
            if names is None:
                names = sorted(self.items)  # `zkvault run` without --env: what is shared
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise Refused("malformed env request", "bad_request")
            outside = [n for n in names if n not in self.items]
            if outside:
                listed = ", ".join(repr(_short(n)) for n in outside[:5])
                raise Refused(f"item {listed} is not shared with this session")
            if not names:
                raise Refused("no item is shared with this session")
            return {"v": 1, "op": "env", "names": names}
        if op == "credential":
            protocol, host = request.get("protocol", ""), request.get("host", "")
            path = request.get("path")
            if not isinstance(protocol, str) or not isinstance(host, str):
                raise Refused("malformed credential request", "bad_request")
            if not self.items and not self.shares_host(protocol, host):
                raise Refused(f"git credentials for {_short(host)} are not shared")
            return {
                "v": 1,
                "op": "credential",
                "protocol": protocol,
                "host": host,
                "path": path if isinstance(path, str) else None,
            }
        if op == "lock":
            raise Refused("a forwarded session cannot lock the agent", "forbidden")
        raise Refused(f"request {_short(op)!r} is not available through zkvault ssh", "forbidden")

    def response(
        self, op: Any, request: dict[str, Any], response: dict[str, Any]
    ) -> dict[str, Any]:
        """The agent's answer as the builder may see it; raises Refused."""
        if not response.get("ok"):
            return response
        if op == "list":
            items = response.get("items")
            kept = [i for i in items or [] if isinstance(i, dict) and i.get("name") in self.items]
            return {"ok": True, "items": kept}
        if op == "credential":
            item = response.get("item")
            protocol, host = str(request.get("protocol", "")), str(request.get("host", ""))
            if not self.shares_host(protocol, host) and item not in self.items:
                raise Refused(f"git credentials for {_short(request.get('host'))} are not shared")
        return response

    def names_in(self, op: Any, request: dict[str, Any], response: dict[str, Any]) -> list[str]:
        """The items an answer would hand over (what --confirm asks about)."""
        if op == "get":
            return [str(request.get("name"))]
        if op == "env":
            return [str(n) for n in request.get("names") or []]
        if op == "credential" and response.get("ok"):
            return [str(response.get("item"))]
        return []


def _host(protocol: str, host: str) -> str:
    return gitcred._norm_host(protocol.lower() or "https", host)
