"""``zkvault scan [PATH...] [--home] [--json]``: plaintext credentials on disk.

Where it looks (docs/cli.md, "scan"): git's credential-store files, remote URLs with a
password or token in every repository's ``.git/config``, gh's ``hosts.yml``, glab's
``config.yml``, ``.netrc``, ``.npmrc``, ``.pypirc``, ``.env`` files, and any other text
file under the paths for tokens of a published format (vault_core.token_formats).

It reports file, line, kind and host, never a value: a finding carries no part of the
secret, and no message quotes a file's content. Exit 0 when nothing is found, ``PLAINTEXT_FOUND``
when something is, the usual codes for errors.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import stat
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from native.errors import NOT_FOUND, PLAINTEXT_FOUND, CliError
from native.scan_prefilter import may_hold_token
from vault_core import token_formats

# A file read while walking a tree is skipped past this size (a log, a dump, a data file);
# a file named on the command line is read up to EXPLICIT_MAX_BYTES.
WALK_MAX_BYTES = 2 * 1024 * 1024
EXPLICIT_MAX_BYTES = 64 * 1024 * 1024
_BINARY_SNIFF = 8192
SKIP_DIRS = frozenset({"node_modules"})

# A URL with user information: scheme://USER[:PASSWORD]@HOST
_URL_USERINFO = re.compile(rb"[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\s/@\"'<>]{1,2048}@[^\s/\"'<>]+")
_SECRET_NAME = re.compile(
    rb"(?i)(token|secret|passw(or)?d|passwd|api_?key|access_?key|private_?key|auth)"
)
_ENV_LINE = re.compile(rb"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*?)\s*$")
_YAML_KEY = re.compile(rb"^(\s*)([^\s:#][^:#]*?)\s*:\s*(.*?)\s*$")


@dataclass(frozen=True)
class Finding:
    """One plaintext credential: where it is and what it looks like, never its value."""

    file: str
    line: int
    kind: str  # a token format's name (docs/tokens.md), or password, token, secret
    source: str  # what the file is: git-credentials, git-config, gh, glab, netrc, ...
    host: str | None = None


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    files_scanned: int = 0
    skipped_large: int = 0
    skipped_binary: int = 0
    unreadable: int = 0


def _kind(value: bytes, fallback: str) -> str:
    fmt = token_formats.format_of(value.decode("utf-8", "replace"))
    return fmt.name if fmt is not None else fallback


def _unquote(value: bytes) -> bytes:
    value = value.strip()
    if len(value) >= 2 and value[:1] == value[-1:] and value[:1] in (b'"', b"'"):
        return value[1:-1]
    return value


def _is_reference(value: bytes) -> bool:
    """``${NPM_TOKEN}``, ``$TOKEN``: a variable, not a value."""
    return value.startswith(b"$") or b"${" in value


def _url_credentials(line: bytes) -> Iterator[tuple[str, str | None]]:
    """(kind, host) for each URL in ``line`` whose user information holds a password, or a
    user name that is itself a token of a known format."""
    for match in _URL_USERINFO.finditer(line):
        try:
            parts = urlsplit(match.group().decode("utf-8", "replace"))
        except ValueError:
            continue
        user, password = parts.username or "", parts.password or ""
        host = parts.hostname
        if password:
            yield _kind(password.encode(), "password"), host
        elif token_formats.format_of(user) is not None:
            yield _kind(user.encode(), "token"), host


# --- one parser per kind of file: (line number, kind, host) -------------------------------


def _parse_credential_store(data: bytes) -> Iterator[tuple[int, str, str | None]]:
    for number, line in enumerate(data.splitlines(), 1):
        for kind, host in _url_credentials(line):
            yield number, kind, host


def _parse_git_config(data: bytes) -> Iterator[tuple[int, str, str | None]]:
    for number, line in enumerate(data.splitlines(), 1):
        for kind, host in _url_credentials(line):
            yield number, kind, host


def store_files_in_git_config(data: bytes, base: Path) -> list[Path]:
    """The files ``credential.helper store --file X`` names in a git config file."""
    files: list[Path] = []
    section = b""
    for raw in data.splitlines():
        line = raw.strip()
        if line.startswith(b"["):
            section = line[1:].split(b"]")[0].split(b" ")[0].lower()
            continue
        key, sep, value = line.partition(b"=")
        if not sep or section != b"credential" or key.strip().lower() != b"helper":
            continue
        try:
            words = shlex.split(value.decode("utf-8", "replace"), comments=True)
        except ValueError:
            continue
        if not words or words[0] != "store":
            continue
        for i, word in enumerate(words):
            target = None
            if word == "--file" and i + 1 < len(words):
                target = words[i + 1]
            elif word.startswith("--file="):
                target = word[7:]
            if target:
                path = Path(os.path.expanduser(target))
                files.append(path if path.is_absolute() else base / path)
    return files


def _parse_gh_hosts(data: bytes) -> Iterator[tuple[int, str, str | None]]:
    host: str | None = None
    for number, line in enumerate(data.splitlines(), 1):
        match = _YAML_KEY.match(line)
        if match is None:
            continue
        indent, key, value = match.groups()
        if not indent:
            host = key.decode("utf-8", "replace").strip("'\"")
        elif key in (b"oauth_token", b"token") and _unquote(value):
            yield number, _kind(_unquote(value), "token"), host


def _parse_glab_config(data: bytes) -> Iterator[tuple[int, str, str | None]]:
    host: str | None = None
    host_indent = -1
    in_hosts = False
    for number, line in enumerate(data.splitlines(), 1):
        match = _YAML_KEY.match(line)
        if match is None:
            continue
        indent, key, value = match.groups()
        if not indent:
            in_hosts = key == b"hosts"
            host = None
            continue
        if in_hosts and not value and (host_indent < 0 or len(indent) <= host_indent):
            host, host_indent = key.decode("utf-8", "replace").strip("'\""), len(indent)
            continue
        if key in (b"token", b"job_token") and _unquote(value) and not _is_reference(value):
            yield number, _kind(_unquote(value), "token"), host


def _parse_netrc(data: bytes) -> Iterator[tuple[int, str, str | None]]:
    words: list[tuple[int, bytes]] = []
    lines = data.splitlines()
    number = 0
    while number < len(lines):
        line = lines[number]
        number += 1
        if line.strip().startswith(b"macdef"):
            while number < len(lines) and lines[number].strip():
                number += 1  # a macro's body runs to the next empty line
            continue
        words += [(number, word) for word in line.split()]
    host: str | None = None
    for i, (_number, word) in enumerate(words):
        following = words[i + 1][1] if i + 1 < len(words) else b""
        if word == b"machine":
            host = following.decode("utf-8", "replace") or None
        elif word == b"default":
            host = None
        elif word == b"password" and following:
            yield words[i + 1][0], _kind(following, "password"), host


def _parse_npmrc(data: bytes) -> Iterator[tuple[int, str, str | None]]:
    for number, line in enumerate(data.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith((b"#", b";")):
            continue
        key, sep, value = stripped.partition(b"=")
        value = _unquote(value)
        name = key.strip().rsplit(b":", 1)[-1]
        if not sep or not value or _is_reference(value):
            continue
        if name not in (b"_authToken", b"_auth", b"_password", b"password"):
            continue
        host = None
        if key.startswith(b"//"):
            host = key[2:].split(b"/")[0].split(b":")[0].decode("utf-8", "replace") or None
        yield number, _kind(value, "token" if name == b"_authToken" else "password"), host


_PYPI_HOSTS = {"pypi": "upload.pypi.org", "testpypi": "test.pypi.org"}


def _parse_pypirc(data: bytes) -> Iterator[tuple[int, str, str | None]]:
    section = ""
    passwords: list[tuple[str, int, bytes]] = []
    repositories: dict[str, str] = {}
    for number, line in enumerate(data.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith(b"[") and stripped.endswith(b"]"):
            section = stripped[1:-1].decode("utf-8", "replace").strip()
            continue
        key, sep, value = stripped.partition(b"=")
        if not sep:
            key, sep, value = stripped.partition(b":")
        key, value = key.strip().lower(), value.strip()
        if key == b"password" and value and not _is_reference(value):
            passwords.append((section, number, value))
        elif key == b"repository" and value:
            host = urlsplit(value.decode("utf-8", "replace")).hostname
            if host:
                repositories[section] = host
    for section, number, value in passwords:
        host = repositories.get(section) or _PYPI_HOSTS.get(section)
        yield number, _kind(value, "password"), host


def _parse_env(data: bytes) -> Iterator[tuple[int, str, str | None]]:
    for number, line in enumerate(data.splitlines(), 1):
        match = _ENV_LINE.match(line)
        if match is None or line.lstrip().startswith(b"#"):
            continue
        name, value = match.group(1), _unquote(match.group(2))
        if not value or _is_reference(value):
            continue
        fmt = token_formats.format_of(value.decode("utf-8", "replace"))
        if fmt is not None:
            yield number, fmt.name, None
        elif _SECRET_NAME.search(name):
            yield number, "secret", None


def classify(path: Path) -> str | None:
    """Which parser a file gets by its name and place, or None (known formats only)."""
    return _classify(path.name, path.parent.name)


def _classify(name: str, parent: str) -> str | None:
    if name == ".git-credentials" or (name == "credentials" and parent == "git"):
        return "git-credentials"
    if name == "config" and parent == ".git":
        return "git-config"
    if name == "hosts.yml" and parent == "gh":
        return "gh"
    if name == "config.yml" and parent == "glab-cli":
        return "glab"
    if name in (".netrc", "_netrc"):
        return "netrc"
    if name == ".npmrc":
        return "npmrc"
    if name == ".pypirc":
        return "pypirc"
    if name == ".env" or name.startswith(".env.") or name.endswith(".env"):
        return "env"
    return None


_PARSERS = {
    "git-credentials": _parse_credential_store,
    "git-config": _parse_git_config,
    "gh": _parse_gh_hosts,
    "glab": _parse_glab_config,
    "netrc": _parse_netrc,
    "npmrc": _parse_npmrc,
    "pypirc": _parse_pypirc,
    "env": _parse_env,
}


# What reading one file gave: its (device, inode) if it was opened (None if not), how it
# was counted ("scanned", "large", "binary", "unreadable", "other": not a regular file,
# "seen": read before), what it holds, and the store files a git config names.
FileResult = tuple[tuple[int, int] | None, str, list[Finding], list[Path]]
# A walk asks may_hold_token once for this many files' bytes joined: its ten searches per
# batch instead of per file, most of whose cost was the calls, not the bytes.
_BATCH_FILES = 128
_BATCH_BYTES = 512 * 1024


def read_file(
    path: str | Path, limit: int, seen: set[tuple[int, int]]
) -> tuple[tuple[int, int] | None, str, bytes]:
    """(key, outcome, text) for ``path``, as in FileResult; the text only when "scanned".
    A file whose (device, inode) is in ``seen`` is not read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return None, "unreadable", b""
    key = None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, "other", b""
        key = (info.st_dev, info.st_ino)
        if key in seen:
            return key, "seen", b""
        if info.st_size > limit:
            return key, "large", b""
        data = os.read(fd, info.st_size + 1)  # a regular file: all of it, then EOF
        while len(data) > info.st_size and len(data) <= limit:  # it grew since fstat
            more = os.read(fd, limit + 1 - len(data))
            if not more:
                break
            data += more
    except OSError:
        return key, "unreadable", b""
    finally:
        os.close(fd)
    if len(data) > limit:
        return key, "large", b""
    if b"\0" in data[:_BINARY_SNIFF]:
        return key, "binary", b""
    return key, "scanned", data


def _result(
    key: tuple[int, int] | None, path: str | Path, source: str | None, data: bytes, tokens: bool
) -> FileResult:
    """A read text file's findings; ``tokens`` False when its bytes hold no token prefix."""
    stores = []
    if source == "git-config":
        stores = store_files_in_git_config(data, Path(path).parent.parent)
    return key, "scanned", _findings(str(path), data, source, tokens), stores


def _findings(name: str, data: bytes, source: str | None, tokens: bool) -> list[Finding]:
    found = []
    lines: set[int] = set()
    if source is not None:
        for number, kind, host in _PARSERS[source](data):
            if number not in lines:
                lines.add(number)
                found.append(Finding(name, number, kind, source, host))
    if not tokens or not may_hold_token(data):
        return found
    for start, _end, fmt in token_formats.find_tokens(data):
        number = data.count(b"\n", 0, start) + 1
        if number not in lines:
            lines.add(number)
            found.append(Finding(name, number, fmt, source or "file", None))
    return found


class Scanner:
    def __init__(self) -> None:
        self.report = Report()
        self._seen: set[tuple[int, int]] = set()  # (device, inode) of files read

    def scan_file(self, path: str | Path, *, source: str | None, limit: int) -> None:
        """Read ``path`` and record what it holds. Unreadable, binary and oversized files
        are counted, not reported; a file already read (by device and inode) is skipped."""
        key, outcome, data = read_file(path, limit, self._seen)
        if outcome == "scanned":
            self.record(_result(key, path, source, data, tokens=True))
        else:
            self.record((key, outcome, [], []))

    def record(self, result: FileResult) -> None:
        """Count one file's result, in walk order: a file read before (a hard link, or a
        store file named by a git config) counts once, whoever read it."""
        key, outcome, found, stores = result
        if key is not None:
            if key in self._seen:
                return
            self._seen.add(key)
        report = self.report
        if outcome == "scanned":
            report.files_scanned += 1
            report.findings += found
        elif outcome == "large":
            report.skipped_large += 1
        elif outcome == "binary":
            report.skipped_binary += 1
        elif outcome == "unreadable":
            report.unreadable += 1
        for store in stores:
            self.scan_file(store, source="git-credentials", limit=EXPLICIT_MAX_BYTES)

    def walk(self, root: Path) -> None:
        """Every regular file under ``root``: no symbolic link followed, no .git object
        store (only a repository's config is read), no node_modules. Files are read in
        batches, and recorded in walk order."""
        batch: list[tuple[tuple[int, int] | None, str, str, str | None, bytes]] = []
        size = 0
        for path, source in self.files(root):
            key, outcome, data = read_file(path, WALK_MAX_BYTES, self._seen)
            batch.append((key, outcome, path, source, data))
            size += len(data)
            if len(batch) >= _BATCH_FILES or size >= _BATCH_BYTES:
                self._record_batch(batch)
                batch, size = [], 0
        self._record_batch(batch)

    def _record_batch(
        self, batch: list[tuple[tuple[int, int] | None, str, str, str | None, bytes]]
    ) -> None:
        tokens = may_hold_token(b"\0".join(data for *_, data in batch))
        for key, outcome, path, source, data in batch:
            if outcome == "scanned":
                self.record(_result(key, path, source, data, tokens))
            else:
                self.record((key, outcome, [], []))

    def files(self, root: Path) -> Iterator[tuple[str, str | None]]:
        """(path, parser) of each file ``walk`` reads, in the order it reads them."""
        stack = [str(root)]
        while stack:
            directory = stack.pop()
            parent = os.path.basename(directory.rstrip(os.sep))
            try:
                with os.scandir(directory) as it:
                    entries = list(it)
            except OSError:
                self.report.unreadable += 1
                continue
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name == ".git":
                            yield os.path.join(entry.path, "config"), "git-config"
                        elif entry.name not in SKIP_DIRS:
                            stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        yield entry.path, _classify(entry.name, parent)
                except OSError:
                    self.report.unreadable += 1


def home_files(home: Path, config_home: Path) -> list[tuple[Path, str]]:
    """The well-known credential files of a home directory, with their parser."""
    files = [
        (home / ".git-credentials", "git-credentials"),
        (config_home / "git" / "credentials", "git-credentials"),
        (config_home / "gh" / "hosts.yml", "gh"),
        (config_home / "glab-cli" / "config.yml", "glab"),
        (home / ".netrc", "netrc"),
        (home / ".npmrc", "npmrc"),
        (home / ".pypirc", "pypirc"),
    ]
    gh_dir = os.environ.get("GH_CONFIG_DIR")
    if gh_dir:
        files.append((Path(gh_dir) / "hosts.yml", "gh"))
    glab_dir = os.environ.get("GLAB_CONFIG_DIR")
    if glab_dir:
        files.append((Path(glab_dir) / "config.yml", "glab"))
    return files


def scan(paths: list[Path], *, home: bool) -> Report:
    scanner = Scanner()
    if home:
        home_dir = Path.home()
        config_home = Path(os.environ.get("XDG_CONFIG_HOME") or home_dir / ".config")
        for path, source in home_files(home_dir, config_home):
            if path.exists():
                scanner.scan_file(path, source=source, limit=EXPLICIT_MAX_BYTES)
        for config in (home_dir / ".gitconfig", config_home / "git" / "config"):
            try:
                data = config.read_bytes()
            except OSError:
                continue
            for store in store_files_in_git_config(data, home_dir):
                scanner.scan_file(store, source="git-credentials", limit=EXPLICIT_MAX_BYTES)
    for path in paths:
        if path.is_dir():
            scanner.walk(path)
        else:
            scanner.scan_file(path, source=classify(path), limit=EXPLICIT_MAX_BYTES)
    scanner.report.findings.sort(key=lambda f: (f.file, f.line))
    return scanner.report


def _display(name: str, home: str) -> str:
    return "~" + name[len(home) :] if home and name.startswith(home + os.sep) else name


def cmd_scan(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.paths]
    for path in paths:
        if not os.path.lexists(path):
            raise CliError(f"no such file or directory: {path}", NOT_FOUND, "not_found")
    report = scan(paths, home=args.home or not paths)
    if args.json:
        print(
            json.dumps(
                {
                    "ok": True,
                    "found": len(report.findings),
                    "findings": [asdict(f) for f in report.findings],
                    "files_scanned": report.files_scanned,
                    "skipped_large": report.skipped_large,
                    "skipped_binary": report.skipped_binary,
                    "unreadable": report.unreadable,
                },
                separators=(",", ":"),
            )
        )
    else:
        home = str(Path.home())
        for f in report.findings:
            where = f" at {f.host}" if f.host else ""
            print(f"{_display(f.file, home)}:{f.line}: {f.kind}{where} ({f.source})")
        skipped = []
        if report.skipped_large:
            skipped.append(f"{report.skipped_large} too large")
        if report.skipped_binary:
            skipped.append(f"{report.skipped_binary} binary")
        if report.unreadable:
            skipped.append(f"{report.unreadable} unreadable")
        extra = f"; skipped {', '.join(skipped)}" if skipped else ""
        files = len({f.file for f in report.findings})
        print(
            f"{len(report.findings)} plaintext credential(s) in {files} file(s); "
            f"{report.files_scanned} file(s) scanned{extra}",
            file=sys.stderr,
        )
    return PLAINTEXT_FOUND if report.findings else 0
