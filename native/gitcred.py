"""git's credential-helper protocol and the rule that picks an item for a URL.

Standard library string handling only: this runs on every git fetch/push.
Matching (docs/cli.md, "git"): the same host name; the same port when the item names
one (an item without a port serves any port of its host, but one naming the port
wins); the same scheme when the item names one. An item whose URL has a path matches
only requests under that path (git sends paths when credential.useHttpPath is set),
and the longest matching path wins. Without a path in the request, host-only items
win; a single item for the host is used even if it names a path. Provider kinds with
no URL serve their public host.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing stays off the credential helper's path (tests/native)
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any, TypeVar

    T = TypeVar("T")

# A provider item with an empty URL serves its provider's public host (GitHub
# Enterprise Cloud lives on github.com; an Enterprise Server item needs its URL).
DEFAULT_HOSTS = {
    "github": "github.com",
    "github-enterprise": "github.com",
    "gitlab": "gitlab.com",
    "bitbucket": "bitbucket.org",
}
# What the hosts expect as the user name beside a token when the item has none.
DEFAULT_USERS = {
    "github": "x-access-token",
    "github-enterprise": "x-access-token",
    "gitlab": "oauth2",
    "bitbucket": "x-token-auth",
}
_DEFAULT_PORTS = {"https": "443", "http": "80", "ssh": "22", "git": "9418"}


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


def split_host(host: str) -> tuple[str, str]:
    """(lower-case name, port or "") of ``host``, ``host:port``, ``[v6]`` or ``[v6]:port``."""
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return name, port
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and ":" not in name:
        return name, port
    return host, ""


def norm_host(scheme: str, host: str) -> str:
    """``host`` or ``host:port`` as matching compares them: lower case, and the scheme's
    default port dropped."""
    name, port = split_host(host)
    if port == _DEFAULT_PORTS.get(scheme.lower()):
        port = ""
    shown = f"[{name}]" if ":" in name else name
    return f"{shown}:{port}" if port else shown


def _norm_path(path: str) -> str:
    path = path.strip("/")
    return path[:-4] if path.endswith(".git") else path


def split_url(url: str, kind: str = "") -> tuple[str, str, str, str] | None:
    """(scheme or "", host name, port or "", path) of an item's URL, or its kind's default
    host. The scheme's default port counts as no port."""
    url = url.strip()
    if not url:
        default = DEFAULT_HOSTS.get(kind)
        return ("https", default, "", "") if default else None
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    scheme = scheme.lower()
    authority, _, path = rest.partition("/")
    authority = authority.rpartition("@")[2]  # drop any user@ part
    name, port = split_host(authority)
    if not sep and not port and ":" in name and not name.count(":") > 1:
        name, _, scp_path = name.partition(":")  # scp-like git@host:owner/repo
        path = scp_path + ("/" + path if path else "")
    if not name:
        return None
    if port and port == _DEFAULT_PORTS.get(scheme or "https"):
        port = ""
    return scheme, name, port, _norm_path(path)


class Request:
    """What git asked for, normalised once."""

    def __init__(self, protocol: str, host: str, path: Any) -> None:
        self.protocol = protocol.lower()
        self.name, port = split_host(host)
        self.port = port or _DEFAULT_PORTS.get(self.protocol, "")
        self.path = _norm_path(path) if isinstance(path, str) and path else None

    def describe(self) -> str:
        port = "" if self.port == _DEFAULT_PORTS.get(self.protocol) else f":{self.port}"
        where = f"{self.name}{port}" + (f"/{self.path}" if self.path else "")
        return f"{self.protocol}://{where}" if self.protocol else where


def _url_of(item: Any) -> tuple[str, str, str, str] | None:
    return split_url(str(getattr(item, "url", "") or ""), str(getattr(item, "kind", "")))


def _candidates(items: Iterable[T], want: Request) -> list[tuple[int, T]]:
    """(path depth, item) of the items that may serve ``want``, on the best port tier:
    an item naming the port beats one that serves any port of the host."""
    found: list[tuple[bool, int, T]] = []
    for item in items:
        parts = _url_of(item)
        if parts is None:
            continue
        scheme, name, port, item_path = parts
        if name != want.name or (scheme and want.protocol and scheme != want.protocol):
            continue
        if port and port != want.port:
            continue
        if (
            want.path is not None
            and item_path
            and not (want.path == item_path or want.path.startswith(item_path + "/"))
        ):
            continue
        depth = len(item_path.split("/")) if item_path else 0
        found.append((bool(port), depth, item))
    exact = any(named for named, _, _ in found)
    return [(depth, item) for named, depth, item in found if named == exact]


def best_match(items: Iterable[T], protocol: str, host: str, path: Any) -> T | None:
    """The item whose URL best fits git's request, or None (none, or ambiguous)."""
    want = Request(protocol, host, path)
    on_port = _candidates(items, want)
    if not on_port:
        return None
    if want.path is None:
        host_only = [item for depth, item in on_port if depth == 0]
        if host_only:
            return host_only[0]
        return on_port[0][1] if len(on_port) == 1 else None
    return max(on_port, key=lambda pair: pair[0])[1]


def no_match_message(items: Iterable[Any], protocol: str, host: str, path: Any) -> str:
    """One line for git's user: nothing matched, and the items nearest to what was asked."""
    want = Request(protocol, host, path)
    items = list(items)
    if _candidates(items, want):  # several path items and no path from git
        return (
            f"several items match {want.describe()} by path, and git sent no path; run "
            "`git config --global credential.useHttpPath true` or add an item for the host"
        )
    scored: list[tuple[int, str]] = []
    for item in items:
        parts = _url_of(item)
        if parts is None:
            continue
        shared = _shared_labels(parts[1], want.name)
        if shared:
            scored.append((shared, _shown(item, parts)))
    if not scored:  # no shared domain: a host name spelt nearly the same (a typo)
        import difflib

        for item in items:
            parts = _url_of(item)
            if parts and difflib.SequenceMatcher(None, parts[1], want.name).ratio() >= 0.8:
                scored.append((1, _shown(item, parts)))
    scored.sort(key=lambda pair: -pair[0])
    nearest = "; closest: " + ", ".join(text for _, text in scored[:3]) if scored else ""
    return f"no item matches {want.describe()}{nearest}"


def _shown(item: Any, parts: tuple[str, str, str, str]) -> str:
    scheme, name, port, item_path = parts
    shown = f"{scheme or 'any'}://{name}" + (f":{port}" if port else "")
    shown += f"/{item_path}" if item_path else ""
    return f"{getattr(item, 'name', '?')!r} ({shown})"


def _shared_labels(a: str, b: str) -> int:
    """How many trailing DNS labels two host names share (an exact match counts most)."""
    if a == b:
        return 1000
    if a.replace(".", "").isdigit() or ":" in a:  # addresses: only an exact match is near
        return 0
    count = 0
    for x, y in zip(reversed(a.split(".")), reversed(b.split(".")), strict=False):
        if x != y:
            break
        count += 1
    return count if count >= 2 else 0  # sharing only "com" is no kinship


def username_for(item: Any) -> str:
    username = str(getattr(item, "username", "") or "")
    return username or DEFAULT_USERS.get(str(getattr(item, "kind", "")), "zkvault")
