"""git's credential-helper protocol and the rule that picks an item for a URL.

Standard library string handling only: this runs on every git fetch/push.
Matching (docs/cli.md, "git"): same host (and port), same scheme when the
item's URL names one; an item whose URL has a path matches only requests
under that path (git sends paths when credential.useHttpPath is set), and
the longest matching path wins. Without a path in the request, host-only
items win; a single item for the host is used even if it names a path.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing stays off the credential helper's path (tests/native)
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any, TypeVar

    T = TypeVar("T")

DEFAULT_HOSTS = {"github": "github.com", "gitlab": "gitlab.com", "bitbucket": "bitbucket.org"}
# What the hosts expect as the user name beside a token when the item has none.
DEFAULT_USERS = {
    "github": "x-access-token",
    "github-enterprise": "x-access-token",
    "gitlab": "oauth2",
    "bitbucket": "x-token-auth",
}
_DEFAULT_PORTS = {"https": "443", "http": "80"}


def parse(text: str) -> dict[str, str]:
    """``key=value`` lines as git writes them (the last value of a key wins)."""
    attrs: dict[str, str] = {}
    for line in text.splitlines():
        if not line:
            break
        key, sep, value = line.partition("=")
        if sep:
            attrs[key] = value
    return attrs


def format_reply(username: str, password: str) -> str:
    for value in (username, password):
        if "\n" in value or "\0" in value:
            raise ValueError("credential contains a newline or NUL")
    return f"username={username}\npassword={password}\n"


def _norm_host(scheme: str, host: str) -> str:
    host = host.lower()
    name, sep, port = host.rpartition(":")
    if sep and _DEFAULT_PORTS.get(scheme) == port:
        return name
    return host


def _norm_path(path: str) -> str:
    path = path.strip("/")
    return path[:-4] if path.endswith(".git") else path


def split_url(url: str, kind: str = "") -> tuple[str, str, str] | None:
    """(scheme or "", host, path) of an item's URL, or the kind's default host."""
    url = url.strip()
    if not url:
        default = DEFAULT_HOSTS.get(kind)
        return ("https", default, "") if default else None
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    host, _, path = rest.partition("/")
    host = host.rpartition("@")[2]  # drop any user@ part
    if not host:
        return None
    return scheme.lower(), _norm_host(scheme.lower() or "https", host), _norm_path(path)


def best_match(items: Iterable[T], protocol: str, host: str, path: Any) -> T | None:
    """The item whose URL best fits git's request, or None."""
    protocol = protocol.lower()
    want_host = _norm_host(protocol, host)
    want_path = _norm_path(path) if isinstance(path, str) and path else None
    on_host: list[tuple[int, T]] = []
    for item in items:
        parts = split_url(str(getattr(item, "url", "") or ""), str(getattr(item, "kind", "")))
        if parts is None:
            continue
        scheme, item_host, item_path = parts
        if item_host != want_host or (scheme and protocol and scheme != protocol):
            continue
        if (
            want_path is not None
            and item_path
            and not (want_path == item_path or want_path.startswith(item_path + "/"))
        ):
            continue
        score = len(item_path.split("/")) if item_path else 0
        on_host.append((score, item))
    if not on_host:
        return None
    if want_path is None:
        host_only = [item for score, item in on_host if score == 0]
        if host_only:
            return host_only[0]
        return on_host[0][1] if len(on_host) == 1 else None
    return max(on_host, key=lambda pair: pair[0])[1]


def username_for(item: Any) -> str:
    username = str(getattr(item, "username", "") or "")
    return username or DEFAULT_USERS.get(str(getattr(item, "kind", "")), "zkvault")
