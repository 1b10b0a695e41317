"""The plaintext credentials `zkvault import` can move: read with their values from the
files `zkvault scan` finds, and edited out of those files again.

Which files: exactly those native.scan reports (its finders, its file types). What each
file type holds is read here a second time, with the value, by one parser per type; the
same parser drives the removal (native.import_remove), so a copy is removed only where it
is found again at removal time, whatever changed in the file meanwhile.

A ``Found`` carries a secret: its repr never shows it, and no message built from one
quotes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from vault_core import token_formats

# File types whose copies import can remove, and how (native.import_remove):
# "line": the line goes; "url": the URL's user information goes; "entry": the netrc
# entry goes; "comment": the line becomes a comment naming the item (.env files).
REMOVAL = {
    "git-credentials": "line",
    "git-config": "url",
    "gh": "line",
    "glab": "line",
    "netrc": "entry",
    "npmrc": "line",
    "pypirc": "line",
    "env": "comment",
}
HOST_KINDS = {"github.com": "github", "gitlab.com": "gitlab", "bitbucket.org": "bitbucket"}
_GIT_SOURCES = frozenset({"git-credentials", "git-config", "netrc"})

_URL_USERINFO = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\s/@\"'<>]{1,2048}@[^\s/\"'<>]+")
_URL_REST = re.compile(r"/[^\s\"'<>]*")
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*?)\s*$")
_SECRET_NAME = re.compile(
    r"(?i)(token|secret|passw(or)?d|passwd|api_?key|access_?key|private_?key|auth)"
)
_YAML_KEY = re.compile(r"^(\s*)([^\s:#][^:#]*?)\s*:\s*(.*?)\s*$")


@dataclass
class Found:
    """One plaintext credential with its value: where, and what the item would hold."""

    file: str
    line: int  # 1-based; a netrc entry's password line
    source: str  # native.scan's file type
    secret: str = field(repr=False)
    username: str = ""
    host: str | None = None
    url: str = ""
    label: str = ""  # what names it in the file: a variable, a section

    def kind(self) -> str:
        """The item kind: the token's published format, else its host's provider, else
        ``git`` for a git host named by URL, else generic."""
        guessed = token_formats.guess_kind(self.secret)
        if guessed:
            return guessed
        if self.host in HOST_KINDS:
            return HOST_KINDS[self.host]
        return "git" if self.url and self.source in _GIT_SOURCES else "generic"

    def item_name(self) -> str:
        """A name that says where the token came from (made unique by the caller)."""
        if self.source == "env":
            return f"{Path(self.file).parent.name or 'env'} {self.label}".strip()
        host = self.host or "default"
        if self.source == "git-config" and self.url:
            path = urlsplit(self.url).path.strip("/").removesuffix(".git")
            return f"{host}/{path}" if path else host
        if self.source in ("npmrc", "pypirc"):
            return f"{self.source[:-2]} {host}"
        user = self.username if self.username and not _is_token(self.username) else ""
        return f"{host} ({user})" if user else host


def _is_token(text: str) -> bool:
    return token_formats.format_of(text) is not None


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _is_reference(value: str) -> bool:
    return value.startswith("$") or "${" in value


# -- URLs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UrlCredential:
    start: int
    end: int
    secret: str = field(repr=False)
    username: str
    host: str | None
    bare: str  # scheme://host[:port], without the user information
    path: str = ""  # what follows the host in the line: the repository's path


def url_credentials(line: str) -> Iterator[UrlCredential]:
    """Each URL in ``line`` whose user information holds a password, or a user name that is
    itself a token of a known format (native.scan's rule). ``bare`` is the URL without it
    (git's credential store writes a port's colon as %3a: decoded there)."""
    for match in _URL_USERINFO.finditer(line):
        text = match.group()
        after_scheme = text.index("://") + 3
        at = text.index("@", after_scheme)  # the user information holds no "@"
        user, _, password = text[after_scheme:at].partition(":")
        user, password = unquote(user), unquote(password)
        hostport = unquote(text[at + 1 :])
        try:
            host = urlsplit(f"http://{hostport}").hostname
        except ValueError:
            continue
        if password:
            secret, username = password, user
        elif user and _is_token(user):
            secret, username = user, ""
        else:
            continue
        path = _URL_REST.match(line, match.end())
        rest = path.group() if path else ""
        bare = text[:after_scheme] + hostport
        yield UrlCredential(match.start(), match.end(), secret, username, host, bare, rest)


# -- one parser per file type: every credential in a file, with its value --------------------


def parse(source: str, path: str, text: str) -> list[Found]:
    return list(_PARSERS[source](path, text))


def _credential_store(path: str, text: str) -> Iterator[Found]:
    return _url_lines(path, text, "git-credentials")


def _git_config(path: str, text: str) -> Iterator[Found]:
    return _url_lines(path, text, "git-config")


def _url_lines(path: str, text: str, source: str) -> Iterator[Found]:
    for number, line in enumerate(text.splitlines(), 1):
        for cred in url_credentials(line):
            url = cred.bare + cred.path.rstrip("/")
            yield Found(path, number, source, cred.secret, cred.username, cred.host, url)


def _yaml_hosts(text: str, host_key_section: str | None) -> Iterator[tuple[int, str, str, str]]:
    """(line, host, key, value) of the keys under each host of a gh hosts.yml
    (``host_key_section`` None: hosts at the top level) or a glab config.yml (under
    ``hosts:``)."""
    host = ""
    host_indent = -1
    inside = host_key_section is None
    for number, line in enumerate(text.splitlines(), 1):
        match = _YAML_KEY.match(line)
        if match is None or line.lstrip().startswith("#"):
            continue
        indent, key, value = len(match.group(1)), match.group(2), match.group(3)
        key = key.strip("'\"")
        if host_key_section is None:
            if indent == 0:
                host = key
                continue
        else:
            if indent == 0:
                inside, host, host_indent = key == host_key_section, "", -1
                continue
            if inside and not value and (host_indent < 0 or indent <= host_indent):
                host, host_indent = key, indent
                continue
        if inside and host:
            yield number, host, key, value


def _hosts_yaml(path: str, text: str, source: str, section: str | None) -> Iterator[Found]:
    rows = list(_yaml_hosts(text, section))
    users = {host: _unquote(v) for _, host, k, v in rows if k == "user" and _unquote(v)}
    for number, host, key, value in rows:
        secret = _unquote(value)
        if key in ("oauth_token", "token") and secret and not _is_reference(secret):
            yield Found(path, number, source, secret, users.get(host, ""), host, f"https://{host}")


def _gh(path: str, text: str) -> Iterator[Found]:
    return _hosts_yaml(path, text, "gh", None)


def _glab(path: str, text: str) -> Iterator[Found]:
    return _hosts_yaml(path, text, "glab", "hosts")


@dataclass(frozen=True)
class NetrcEntry:
    start: int  # character offsets of the entry in the text: machine/default ... next
    end: int
    line: int  # the password's line
    host: str | None
    login: str
    password: str = field(repr=False)


def netrc_entries(text: str) -> list[NetrcEntry]:
    """The entries of a .netrc that hold a password, with their extent in ``text``."""
    words: list[tuple[int, int, str]] = []  # (offset, line, word)
    pos = 0
    skipping = False
    for line_no, line in enumerate(text.splitlines(keepends=True), 1):
        if skipping:  # a macro's body runs to the next empty line
            skipping = bool(line.strip())
        elif line.strip().startswith("macdef"):
            words.append((pos + line.index("macdef"), line_no, "macdef"))
            skipping = True
        else:
            for m in re.finditer(r"\S+", line):
                words.append((pos + m.start(), line_no, m.group()))
        pos += len(line)
    entries: list[NetrcEntry] = []
    starts = [i for i, (_, _, w) in enumerate(words) if w in ("machine", "default", "macdef")]
    for n, i in enumerate(starts):
        if words[i][2] == "macdef":
            continue
        stop = starts[n + 1] if n + 1 < len(starts) else len(words)
        end = words[stop][0] if stop < len(words) else len(text)
        host = words[i + 1][2] if words[i][2] == "machine" and i + 1 < stop else None
        login, password, pline = "", "", 0
        for j in range(i, stop - 1):
            if words[j][2] == "login":
                login = words[j + 1][2]
            elif words[j][2] == "password":
                password, pline = words[j + 1][2], words[j + 1][1]
        if password:
            entries.append(NetrcEntry(words[i][0], end, pline, host, login, password))
    return entries


def _netrc(path: str, text: str) -> Iterator[Found]:
    for entry in netrc_entries(text):
        url = f"https://{entry.host}" if entry.host else ""
        yield Found(path, entry.line, "netrc", entry.password, entry.login, entry.host, url)


def _npmrc(path: str, text: str) -> Iterator[Found]:
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith(("#", ";")):
            continue
        key, sep, value = stripped.partition("=")
        value = _unquote(value)
        name = key.strip().rsplit(":", 1)[-1]
        if not sep or not value or _is_reference(value):
            continue
        if name not in ("_authToken", "_auth", "_password", "password"):
            continue
        host = key[2:].split("/")[0].split(":")[0] if key.startswith("//") else None
        host = host or "registry.npmjs.org"
        yield Found(path, number, "npmrc", value, "", host, f"https://{host}", name)


_PYPI_HOSTS = {"pypi": "upload.pypi.org", "testpypi": "test.pypi.org"}


def _pypirc(path: str, text: str) -> Iterator[Found]:
    section = ""
    rows: list[tuple[str, int, str]] = []
    repositories: dict[str, str] = {}
    usernames: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip()
            continue
        key, sep, value = stripped.partition("=")
        if not sep:
            key, sep, value = stripped.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key == "password" and value and not _is_reference(value):
            rows.append((section, number, value))
        elif key == "repository" and value:
            repositories[section] = value
        elif key == "username" and value:
            usernames[section] = value
    for section, number, value in rows:
        url = repositories.get(section) or ""
        host = urlsplit(url).hostname if url else _PYPI_HOSTS.get(section)
        url = url or (f"https://{host}" if host else "")
        user = usernames.get(section, "")
        yield Found(path, number, "pypirc", value, user, host, url, section)


def _env(path: str, text: str) -> Iterator[Found]:
    for number, line in enumerate(text.splitlines(), 1):
        match = _ENV_LINE.match(line)
        if match is None or line.lstrip().startswith("#"):
            continue
        name, value = match.group(1), _unquote(match.group(2))
        if not value or _is_reference(value):
            continue
        if _is_token(value) or _SECRET_NAME.search(name):
            yield Found(path, number, "env", value, "", None, "", name)


_PARSERS = {
    "git-credentials": _credential_store,
    "git-config": _git_config,
    "gh": _gh,
    "glab": _glab,
    "netrc": _netrc,
    "npmrc": _npmrc,
    "pypirc": _pypirc,
    "env": _env,
}
