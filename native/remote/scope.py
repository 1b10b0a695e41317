"""What a forwarded session may ask for: the allowed items, and git credentials for the
allowed hosts. Pure decisions, no I/O: the proxy (native.remote.proxy) applies them.

Only list, get, env and credential are ever forwarded to the agent; status is answered
by the proxy itself; lock and anything else are refused (a builder must not be able to
lock, unlock or change the laptop's agent).

A builder must not learn anything about the items the session does not share: every
request for something not shared, and every request the agent could not answer, gets
the one answer :data:`NOT_SHARED`, whatever exists in the vault. Git credentials for a
host that is not shared are matched among the shared items only.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from native import gitcred

OUT_OF_SCOPE = "out_of_scope"
NOT_SHARED = "not shared with this zkvault ssh session"
MAX_ENV_NAMES = 1024  # one `env` request; more is refused before any other work
_FIELDS = (
    *("secret", "username", "url", "name", "kind", "note", "scopes", "expires", "id"),
    *("public-key", "fingerprint"),
)
# Errors that say nothing about the item asked for (the session's or the runner's state,
# or the request's shape) reach the builder as they are; every other failure becomes
# NOT_SHARED, so that "no such item" and "not shared" look the same.
STATE_ERRORS = frozenset(
    {
        "locked",
        "session_expired",
        "rate_limited",
        "forbidden",
        "bad_request",
        "revoked",
        "unreachable",
        "cannot_verify",
        "no_grant",
        "grant_auth",
        "rollback",
        "owner_key_unpinned",
        "state_auth",
    }
)


class Refused(Exception):
    """The request is outside the session's scope; ``message`` is the builder's one line."""

    def __init__(
        self, message: str = NOT_SHARED, code: str = OUT_OF_SCOPE, reason: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason or message  # for the laptop's log only


def _short(value: Any) -> str:
    """A request value as it may appear in a message or the log: bounded, one line."""
    text = str(value)
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text[:80] + ("…" if len(text) > 80 else "")


def not_shared() -> dict[str, Any]:
    return {"ok": False, "error": OUT_OF_SCOPE, "message": NOT_SHARED}


@dataclass(frozen=True)
class Scope:
    items: frozenset[str]
    hosts: frozenset[str]  # as given, lower case; compared per request's scheme
    keys: frozenset[str] = frozenset()  # the items that are ssh keys: the SSH agent's

    @classmethod
    def of(cls, items: list[str], hosts: list[str], keys: frozenset[str] = frozenset()) -> Scope:
        return cls(frozenset(items), frozenset(h.lower() for h in hosts), keys & set(items))

    def env_default(self) -> list[str]:
        """`zkvault run` without --env on the builder: the shared items but ssh keys,
        which the builder's SSH agent serves (never a child's environment unless named)."""
        return sorted(self.items - self.keys)

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
                raise Refused()
            field = request.get("field", "secret")
            if field not in _FIELDS:
                field = "secret"  # the agent reports the bad field itself
            return {"v": 1, "op": "get", "name": name, "field": field}
        if op == "env":
            names = request.get("names")
            if names is None:
                names = self.env_default()  # `zkvault run` without --env: what is shared
            if not isinstance(names, list) or len(names) > MAX_ENV_NAMES:
                raise Refused("malformed env request", "bad_request")
            if not all(isinstance(n, str) for n in names):
                raise Refused("malformed env request", "bad_request")
            if not names or any(n not in self.items for n in names):
                raise Refused()
            return {"v": 1, "op": "env", "names": list(dict.fromkeys(names))}  # each once
        if op == "credential":
            protocol, host = request.get("protocol", ""), request.get("host", "")
            path = request.get("path")
            if not isinstance(protocol, str) or not isinstance(host, str):
                raise Refused("malformed credential request", "bad_request")
            if not self.items and not self.shares_host(protocol, host):
                raise Refused()
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
            if response.get("error") in STATE_ERRORS:
                return response
            # "no such item" must read like "not shared"; the log keeps the real reason.
            raise Refused(reason=str(response.get("error", "error")))
        if op == "list":
            items = response.get("items")
            kept = [i for i in items or [] if isinstance(i, dict) and i.get("name") in self.items]
            return {"ok": True, "items": kept}
        if op == "credential":
            item = response.get("item")
            protocol, host = str(request.get("protocol", "")), str(request.get("host", ""))
            if not self.shares_host(protocol, host) and item not in self.items:
                raise Refused()
        return response

    def shared_match(self, request: dict[str, Any], listing: dict[str, Any]) -> tuple[str, str]:
        """For a git host that is not shared: (name, git user name) of the shared item git's
        matching picks among the shared items alone (``listing``: the agent's list
        answer); raises Refused when none does. The other items never take part, so
        whether one of them would match cannot show."""
        shared = [
            SimpleNamespace(**{k: item.get(k) for k in ("name", "url", "kind", "username")})
            for item in self.response("list", {}, listing).get("items", [])
        ]
        found = gitcred.best_match(
            shared, str(request["protocol"]), str(request["host"]), request.get("path")
        )
        if found is None:
            raise Refused()
        return str(found.name), gitcred.username_for(found)

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
    return gitcred.norm_host(protocol.lower() or "https", host)
