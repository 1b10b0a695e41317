"""``zkvault doctor [--json]``: is this machine set up right? One line per check.

Each check says ok, warn, fail or skipped, what it saw, and the next step when something
is wrong; each catches its own errors and reports them as its own failure (docs/cli.md,
"doctor"). Nothing here prints a secret: item names and dates, file names and counts only.
Exit 0 when nothing fails (warnings allowed), ``DOCTOR_FAILED`` when a check fails.
"""

from __future__ import annotations

import argparse
import datetime
import fnmatch
import json
import os
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from native import paths
from native.errors import DOCTOR_FAILED, CliError

# The server's default max_clock_skew_seconds (server/settings.py): a DPoP proof's iat
# and a token's times may be this far off the server's clock. A server does not publish
# its own setting, so the default is what is checked against.
DPOP_WINDOW_SECONDS = 90
EXPIRY_WARN_DAYS = 14
GIT_KINDS = ("github", "github-enterprise", "gitlab", "bitbucket", "git")
STATUSES = ("ok", "warn", "fail", "skipped")


@dataclass
class Check:
    check: str
    status: str  # one of STATUSES
    detail: str
    next: str = ""  # the next step when something is wrong


@dataclass
class Context:
    """What one check learnt that a later one needs."""

    agent: dict[str, Any] | None = None  # the agent's status, when it answers
    items: list[dict[str, Any]] | None = None  # `list` data (names, kinds, urls, expires)
    server: str | None = None
    server_up: bool = False


# --- the agent ---------------------------------------------------------------------------


def check_agent(ctx: Context) -> Check:
    from native import client

    try:
        status = client.request("status", timeout=5.0)
    except CliError as exc:
        if exc.code == "locked":
            return Check("agent", "warn", "locked (no agent running)", "run `zkvault unlock`")
        return Check("agent", "fail", exc.message, _next_for(exc))
    ctx.agent = status
    if status.get("fork"):
        fork = status["fork"]
        return Check(
            "agent", "fail", f"stopped at a fork: {fork.get('message')}", "run `zkvault unlock`"
        )
    try:
        ctx.items = list(client.request("list", timeout=5.0)["items"])
    except CliError as exc:
        return Check("agent", "fail", f"running, but `list` failed: {exc.message}")
    problems = [str(w) for w in status.get("warnings") or () if "hardening" in str(w)]
    problems += _dumpable(status.get("pid"))
    problems += _socket_modes()
    detail = f"unlocked (pid {status.get('pid')}), revision {status.get('revision')}, "
    detail += f"{status.get('items')} items"
    if problems:
        return Check(
            "agent",
            "warn",
            f"{detail}; " + "; ".join(problems),
            "`zkvault lock`, then `zkvault unlock` (docs/cli.md, the agent's security argument)",
        )
    return Check("agent", "ok", f"{detail}; undumpable, socket private to this user")


def _next_for(exc: CliError) -> str:
    if exc.code == "revoked":
        return "run `zkvault connect --clean` to pair this machine again"
    if exc.code in ("not_set_up", "no_state"):
        return "run `zkvault connect` (or `zkvault import`)"
    return "run `zkvault status` for details"


def _dumpable(pid: Any) -> list[str]:
    """On Linux a non-dumpable process's /proc files belong to root: the owner of the
    agent's ``environ`` (looked at, never opened) shows whether others of this user could
    read it. As root every process's files are root's; the agent's own report (its
    hardening warnings) is all there is then."""
    if not isinstance(pid, int) or os.getuid() == 0 or not os.path.isdir("/proc/self"):
        return []
    try:
        owner = os.stat(f"/proc/{pid}/environ").st_uid
    except OSError:
        return []  # gone, or no such file here
    if owner == os.getuid():
        return ["the agent is dumpable: other processes of this user can read its memory"]
    return []


def _socket_modes() -> list[str]:
    problems = []
    for path, what in ((paths.runtime_dir(), "directory"), (paths.socket_path(), "socket")):
        try:
            info = os.stat(path)
        except OSError:
            continue
        if info.st_uid != os.getuid():
            problems.append(f"the agent's {what} {path} belongs to another user")
        elif stat.S_IMODE(info.st_mode) & 0o077:
            mode = oct(stat.S_IMODE(info.st_mode))
            problems.append(f"the agent's {what} {path} is open to others ({mode})")
    return problems


# --- the server and its clock --------------------------------------------------------------


def _configured_server(ctx: Context) -> str | None:
    explicit = os.environ.get("ZKVAULT_SERVER") or (ctx.agent or {}).get("server")
    if explicit:
        return str(explicit)
    from native.state import StateStore

    store = StateStore()
    if not store.exists():
        return None
    try:
        return store.load().server
    except CliError:
        return None


def check_server(ctx: Context) -> list[Check]:
    from native import webfetch
    from native.api import server_url

    configured = _configured_server(ctx)
    if not configured:
        skipped = "no server configured (an imported vault, or not connected)"
        return [Check("server", "skipped", skipped), Check("clock", "skipped", skipped)]
    try:
        base = ctx.server = server_url(configured)
        health = webfetch.get(base, "/healthz")
    except CliError as exc:
        return [
            Check(
                "server",
                "fail",
                exc.message.split("; ")[0],
                f"start the server, or check its address ({configured}: ZKVAULT_SERVER or "
                "`zkvault connect`) and the network",
            ),
            Check("clock", "skipped", "the server cannot be reached"),
        ]
    if health.status != 200 or _json_of(health.body) != {"status": "ok"}:
        return [
            Check(
                "server",
                "fail",
                f"{base} does not answer as a zkvault server (/healthz: HTTP {health.status})",
                "check ZKVAULT_SERVER or the server this machine was connected to",
            ),
            Check("clock", "skipped", "not a zkvault server"),
        ]
    ctx.server_up = True
    ready = webfetch.get(base, "/readyz")
    if ready.status == 200:
        server = Check("server", "ok", f"{base} answers and is ready")
    else:
        why = _json_of(ready.body)
        message = why.get("message") if isinstance(why, dict) else None
        server = Check(
            "server",
            "warn",
            f"{base} answers but is not ready (HTTP {ready.status}: {message or 'no reason'})",
            "the server's operator: check its database (docs/server.md)",
        )
    return [server, _clock(health.headers.get("date"))]


def _clock(date: str | None) -> Check:
    if not date:
        return Check("clock", "skipped", "the server sent no Date header")
    try:
        skew = parsedate_to_datetime(date).timestamp() - time.time()
    except (TypeError, ValueError):
        return Check("clock", "skipped", "the server's Date header is malformed")
    side = "ahead of" if skew > 0 else "behind"
    detail = f"the server's clock is {abs(skew):.0f} s {side} this machine's"
    if abs(skew) > DPOP_WINDOW_SECONDS:
        return Check(
            "clock",
            "warn",
            f"{detail}: more than the {DPOP_WINDOW_SECONDS} s the server tolerates",
            "synchronise this machine's clock (NTP), or ask the server's operator to",
        )
    return Check("clock", "ok", f"{detail} (within {DPOP_WINDOW_SECONDS} s)")


def _json_of(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


# --- git's credential helper ---------------------------------------------------------------


def check_git(ctx: Context) -> Check:
    from native.gitcred import DEFAULT_HOSTS

    entries = _helper_entries()
    if entries is None:
        return Check("git", "skipped", "git is not installed")
    if ctx.items is None:
        helpers = _helpers_for(entries, None)
        if any(_is_zkvault(h) for h in helpers):
            return Check("git", "ok", "credential.helper is zkvault (hosts not checked: locked)")
        return Check(
            "git",
            "warn",
            "git does not ask zkvault for credentials (credential.helper)",
            "run `zkvault git setup`",
        )
    hosts = set()
    for item in ctx.items:
        kind = str(item.get("kind") or "")
        if kind not in GIT_KINDS:
            continue
        host = urlsplit(str(item.get("url") or "")).hostname or DEFAULT_HOSTS.get(kind)
        if host:
            hosts.add(host)
    if not hosts:
        return Check("git", "ok", "no item is for a git host")
    missing, shadowed = [], []
    for host in sorted(hosts):
        helpers = _helpers_for(entries, f"https://{host}/")
        if not any(_is_zkvault(h) for h in helpers):
            missing.append(host)
        elif not _is_zkvault(helpers[0]):
            shadowed.append(f"{host} (`{helpers[0].split()[0]}` first)")
    if missing:
        return Check(
            "git",
            "warn",
            "git does not ask zkvault for " + ", ".join(missing),
            "run `zkvault git setup` (and remove per-URL helpers that reset it)",
        )
    if shadowed:
        return Check(
            "git",
            "warn",
            "git asks another helper before zkvault for " + ", ".join(shadowed),
            "remove that helper, or run `zkvault git setup` to replace it",
        )
    return Check("git", "ok", "git asks zkvault for " + ", ".join(sorted(hosts)))


def _helper_entries() -> list[tuple[str, str]] | None:
    """(context URL or "", helper) in the order git reads them; None without git."""
    try:
        done = subprocess.run(
            ["git", "config", "-z", "--get-regexp", r"^credential\..*helper$"],  # noqa: S607
            capture_output=True,
            timeout=10,
            check=False,
        )
    except FileNotFoundError:
        return None
    entries = []
    for record in done.stdout.decode("utf-8", "replace").split("\0"):
        key, _, value = record.partition("\n")
        if not key:
            continue
        context = key[len("credential.") : -len(".helper")] if key != "credential.helper" else ""
        entries.append((context, value))
    return entries


def _helpers_for(entries: list[tuple[str, str]], url: str | None) -> list[str]:
    """The helpers git would ask for ``url`` (all contexts when None), an empty value
    clearing those before it, as git does."""
    helpers: list[str] = []
    for context, value in entries:
        if context and url is not None and not _matches(context, url):
            continue
        if context and url is None:
            continue
        helpers = [] if not value else [*helpers, value]
    return helpers


def _matches(context: str, url: str) -> bool:
    pattern = urlsplit(context if "://" in context else "//" + context)
    target = urlsplit(url)
    if pattern.scheme and pattern.scheme != target.scheme:
        return False
    if pattern.hostname and not fnmatch.fnmatchcase(target.hostname or "", pattern.hostname):
        return False
    return target.path.startswith(pattern.path.rstrip("/")) if pattern.path else True


def _is_zkvault(helper: str) -> bool:
    return "git-credential" in helper and any(
        mark in helper for mark in ("zkvault", "-m native", "native/fast.py")
    )


# --- expiring tokens -----------------------------------------------------------------------


def check_expiry(ctx: Context, today: datetime.date) -> Check:
    if ctx.items is None:
        return Check(
            "expiry",
            "skipped",
            "the vault is locked (expiry dates need the agent)",
            "run `zkvault unlock`, then `zkvault doctor` again",
        )
    expired, soon = [], []
    for item in ctx.items:
        try:
            date = datetime.date.fromisoformat(str(item.get("expires") or ""))
        except ValueError:
            continue
        entry = f"{item.get('name')} ({date.isoformat()})"
        if date < today:
            expired.append(entry)
        elif (date - today).days <= EXPIRY_WARN_DAYS:
            soon.append(entry)
    if expired:
        more = f"; expiring within {EXPIRY_WARN_DAYS} days: {', '.join(soon)}" if soon else ""
        return Check(
            "expiry",
            "fail",
            f"expired: {', '.join(expired)}{more}",
            "make new tokens at their providers, then `zkvault rotate NAME` and "
            "`zkvault edit NAME --expires YYYY-MM-DD`",
        )
    if soon:
        return Check(
            "expiry",
            "warn",
            f"expiring within {EXPIRY_WARN_DAYS} days: {', '.join(soon)}",
            "make new tokens before then; `zkvault rotate NAME`",
        )
    return Check("expiry", "ok", f"no item expires within {EXPIRY_WARN_DAYS} days")


# --- plaintext credentials -----------------------------------------------------------------


def check_plaintext(ctx: Context) -> Check:
    from native import scan

    report = scan.scan([], home=True)
    if not report.findings:
        return Check("plaintext", "ok", "no plaintext credentials in the home directory's files")
    home = str(Path.home())
    files = sorted({scan._display(f.file, home) for f in report.findings})
    return Check(
        "plaintext",
        "fail",
        f"{len(report.findings)} plaintext credential(s) in {', '.join(files)}",
        "`zkvault scan` shows where; `zkvault import --remove-plaintext` moves them into "
        "the vault and removes them there",
    )


# --- the web app ---------------------------------------------------------------------------


def check_web(ctx: Context) -> Check:
    from native import webexpect, webverify

    if not ctx.server:
        return Check("web", "skipped", "no server configured")
    if not ctx.server_up:
        return Check("web", "skipped", "the server cannot be reached")
    try:
        webexpect._need_source()
    except CliError:
        return Check("web", "skipped", "no web app source here to build from")
    from native import webfetch

    if webfetch.get(ctx.server, "/manifest.json").status == 503:
        return Check("web", "skipped", "the server serves no built web app")
    try:
        _expected, rows = webverify.verify(ctx.server)
    except CliError as exc:
        if exc.code in ("version_mismatch", "no_web_source", "build_failed"):
            return Check(
                "web",
                "warn",
                f"not compared: {exc.message}",
                "run `zkvault web verify` from a checkout of the server's version",
            )
        return Check("web", "fail", exc.message, "run `zkvault web verify` for details")
    bad = [r for r in rows if r.status != "ok"]
    if bad:
        return Check(
            "web",
            "fail",
            f"{len(bad)} of {len(rows)} assets differ from this version's build",
            "run `zkvault web verify` for details; do not unlock in that web app meanwhile",
        )
    return Check("web", "ok", f"all {len(rows)} assets match this version's build")


# --- running them --------------------------------------------------------------------------


def _guarded(name: str, run: Callable[[], Check | list[Check]]) -> list[Check]:
    try:
        result = run()
    except CliError as exc:
        return [Check(name, "fail", exc.message)]
    except Exception as exc:  # a check's surprise is that check's failure, never a traceback
        if os.environ.get("ZKVAULT_DEBUG") == "1":
            raise
        return [Check(name, "fail", f"the check failed ({type(exc).__name__})")]
    return result if isinstance(result, list) else [result]


def run_checks(today: datetime.date | None = None) -> list[Check]:
    ctx = Context()
    day = today or datetime.date.today()
    checks = _guarded("agent", lambda: check_agent(ctx))
    checks += _guarded("server", lambda: check_server(ctx))
    checks += _guarded("git", lambda: check_git(ctx))
    checks += _guarded("expiry", lambda: check_expiry(ctx, day))
    checks += _guarded("plaintext", lambda: check_plaintext(ctx))
    checks += _guarded("web", lambda: check_web(ctx))
    return checks


def cmd_doctor(args: argparse.Namespace) -> int:
    checks = run_checks()
    failed = any(c.status == "fail" for c in checks)
    if args.json:
        print(
            json.dumps(
                {"ok": not failed, "checks": [asdict(c) for c in checks]}, separators=(",", ":")
            )
        )
    else:
        for c in checks:
            step = f"; next: {c.next}" if c.next and c.status != "ok" else ""
            print(f"{c.status:<8} {c.check:<10} {c.detail}{step}")
    return DOCTOR_FAILED if failed else 0
