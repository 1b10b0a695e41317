"""``zkvault import``: move plaintext tokens into the vault, through the unlocked agent.

Sources: what `zkvault scan` finds (git's credential-store files, remote URLs with a
token, gh's and glab's configs, .netrc, .npmrc, .pypirc, .env files), or with ``--from``
an unencrypted Bitwarden JSON or 1Password CSV export.

The steps, each safe to interrupt (docs/cli.md, "import"):

1. Each secret found is one candidate, wherever it lies; a secret the vault already holds
   (under any name) is a duplicate: named, skipped, never added twice.
2. Each new one is added through the agent (native.write: saved on the server, audited).
3. With ``--remove-plaintext``: every candidate is read back from the vault as the server
   saved it and compared (the agent's ``match``); only those found there count as verified.
4. git is pointed at zkvault (its helper; ``store`` helpers that wrote the plaintext are
   removed) before any copy git relies on goes.
5. Each file is rewritten without its verified copies in one atomic step.

Stopped anywhere, a rerun finds what is left: the items already added are duplicates now,
and their remaining copies are removed after the same check. Nothing is lost: a copy goes
only once the saved vault holds its secret.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from native import client
from native.errors import FAILURE, NOT_FOUND, USAGE, CliError

# A copy in one of these lets git reach a host: git's helper is set before it is removed.
GIT_SOURCES = frozenset({"git-credentials", "git-config", "netrc"})
MAX_CANDIDATES = 1000  # a vault holds at most 1000 items


@dataclass(frozen=True)
class Place:
    file: str
    line: int
    source: str


@dataclass
class Candidate:
    """One secret to import and every place it was found."""

    name: str
    kind: str
    url: str
    username: str
    host: str | None
    secret: str = field(repr=False)
    places: list[Place] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)  # vault items already holding it
    status: str = "new"  # new, duplicate, imported (would-import in a dry run)
    verified: bool = False


@dataclass
class Plan:
    candidates: list[Candidate]
    not_importable: list[dict[str, Any]]  # scan findings import cannot move (no values)
    skipped: list[dict[str, str]]  # export entries without a password


def _from_disk(paths: list[Path], home: bool) -> Plan:
    from native import import_sources, scan

    report = scan.scan(paths, home=home)
    by_file: dict[tuple[str, str], list[Any]] = {}
    for finding in report.findings:
        by_file.setdefault((finding.file, finding.source), []).append(finding)
    found: list[Any] = []
    not_importable: list[dict[str, Any]] = []
    for (path, source), findings in by_file.items():
        values = []
        if source in import_sources.REMOVAL:
            try:
                text = Path(path).read_bytes().decode("utf-8", "surrogateescape")
            except OSError:
                text = ""
            values = import_sources.parse(source, path, text)
        lines = {v.line for v in values}
        found += values
        for f in findings:
            if f.line not in lines:
                why = "a file import does not edit; move it by hand (`zkvault add`)"
                if source in import_sources.REMOVAL:
                    why = "not a credential entry import understands; move it by hand"
                not_importable.append(
                    {"file": f.file, "line": f.line, "kind": f.kind, "source": f.source, "why": why}
                )
    candidates: dict[str, Candidate] = {}
    for v in found:
        cand = candidates.get(v.secret)
        if cand is None:
            cand = Candidate(v.item_name(), v.kind(), v.url, v.username, v.host, v.secret)
            candidates[v.secret] = cand
        cand.places.append(Place(v.file, v.line, v.source))
    return Plan(list(candidates.values()), not_importable, [])


def _from_export(fmt: str, path: str) -> Plan:
    from native import import_exports

    export = import_exports.read(fmt, path)
    candidates: dict[str, Candidate] = {}
    for e in export.entries:
        cand = candidates.get(e.secret)
        if cand is None:
            cand = Candidate(e.title, e.kind(), e.url, e.username, e.host, e.secret)
            candidates[e.secret] = cand
        cand.places.append(Place(e.file, e.index, fmt))
    skipped = [{"title": t, "why": why} for t, why in export.skipped]
    return Plan(list(candidates.values()), [], skipped)


def _plan(args: argparse.Namespace) -> Plan:
    if args.from_format:
        if len(args.paths) != 1 or args.home:
            raise CliError(f"--from {args.from_format} takes one export FILE", USAGE, "usage")
        plan = _from_export(args.from_format, args.paths[0])
    else:
        paths = [Path(p) for p in args.paths]
        for path in paths:
            if not os.path.lexists(path):
                raise CliError(f"no such file or directory: {path}", NOT_FOUND, "not_found")
        plan = _from_disk(paths, args.home or not paths)
    if len(plan.candidates) > MAX_CANDIDATES:
        raise CliError(
            f"{len(plan.candidates)} secrets found; a vault holds at most {MAX_CANDIDATES} "
            "items: import fewer paths at a time",
            USAGE,
            "too_many",
        )
    for cand in plan.candidates:
        _fit(cand)
    return plan


def _fit(cand: Candidate) -> None:
    """Fields an item takes: a name within 128 bytes, a URL the kind accepts."""
    from vault_core.items import URL_OPTIONAL_KINDS

    name = " ".join(cand.name.split()) or "imported"
    while len(name.encode()) > 120:
        name = name[:-1]
    cand.name = name
    if len(cand.url.encode()) > 2048 or any(ord(c) < 32 for c in cand.url):
        cand.url = ""
    if not cand.url and cand.kind not in URL_OPTIONAL_KINDS:
        cand.kind = "generic"
    if len(cand.username.encode()) > 256 or any(ord(c) < 32 for c in cand.username):
        cand.username = ""


# -- the agent -------------------------------------------------------------------------------


def _match(cands: list[Candidate], *, saved: bool) -> tuple[int, list[list[str]]]:
    if not cands:
        return 0, []
    answer = client.request(
        "match", timeout=150.0 if saved else 30.0, secrets=[c.secret for c in cands], saved=saved
    )
    matches = answer.get("matches")
    if not isinstance(matches, list) or len(matches) != len(cands):
        raise CliError("the agent answered a match request oddly", FAILURE, "bad_response")
    return int(answer.get("revision", 0)), [[str(n) for n in m] for m in matches]


def _unique_names(cands: list[Candidate]) -> None:
    taken = {str(i["name"]) for i in client.request("list")["items"]}
    for cand in cands:
        if cand.status != "new":
            continue
        name, n = cand.name, 2
        while name in taken:
            name, n = f"{cand.name} ({n})", n + 1
        cand.name = name
        taken.add(name)


def _add(cand: Candidate) -> None:
    from native.edit_commands import _write

    fields: dict[str, Any] = {"kind": cand.kind, "url": cand.url, "username": cand.username}
    where = ", ".join(sorted({_shown(p.file) for p in cand.places}))
    fields["note"] = f"imported by zkvault import from {where}"[:4000]
    answer = _write("add", cand.name, fields, cand.secret)
    cand.name = str(answer.get("name", cand.name))  # a name taken meanwhile: "name (2)"
    cand.status = "imported"


# -- git -------------------------------------------------------------------------------------


def _git(*args: str) -> None:
    import subprocess

    done = subprocess.run(  # noqa: S603
        ["git", *args],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, 5):  # 5: --unset-all found nothing to unset
        raise CliError(
            f"git config failed ({done.stderr.strip() or done.returncode}); no plaintext "
            "was removed",
            FAILURE,
            "git_config",
        )


def _point_git_at_zkvault(cands: list[Candidate]) -> list[str]:
    """zkvault as git's helper, and no ``store`` helper left that would write a removed
    token back on the next push; per-host useHttpPath where items name repositories."""
    from native.gitsetup import helper_command

    done = []
    configs = [["--global"]]
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "git" / "config"
    if xdg.exists():
        configs.append(["--file", str(xdg)])
    for cand in cands:
        for place in cand.places:
            if place.source == "git-config":
                configs.append(["--file", place.file])
    for where in configs:
        _git("config", *where, "--unset-all", "credential.helper", "^store( |$)")
        for key in _store_helpers_for_urls(where):  # credential.<url>.helper store
            _git("config", *where, "--unset-all", key, "^store( |$)")
    _git(
        "config",
        "--global",
        "--replace-all",
        "credential.helper",
        helper_command(),
        "git-credential",
    )
    done.append("credential.helper")
    for cand in cands:
        if any(p.source == "git-config" for p in cand.places) and cand.url:
            from urllib.parse import urlsplit

            parts = urlsplit(cand.url)
            if parts.path.strip("/"):
                key = f"credential.{parts.scheme}://{parts.netloc}.useHttpPath"
                _git("config", "--global", key, "true")
                done.append(key)
    return done


def _store_helpers_for_urls(where: list[str]) -> list[str]:
    import subprocess

    done = subprocess.run(  # noqa: S603
        ["git", "config", *where, "--get-regexp", r"^credential\..+\.helper$"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    keys = []
    for line in done.stdout.splitlines():
        key, _, value = line.partition(" ")
        if value == "store" or value.startswith("store "):
            keys.append(key)
    return sorted(set(keys))


# -- the command -----------------------------------------------------------------------------


def _shown(path: str) -> str:
    home = str(Path.home())
    return "~" + path[len(home) :] if home and path.startswith(home + os.sep) else path


def _say(args: argparse.Namespace, text: str) -> None:
    """Progress, one line at a time (flushed: a watcher sees each step as it is made)."""
    if not args.json:
        print(text, flush=True)


def cmd_import(args: argparse.Namespace) -> int:
    if args.account_id is not None:
        from native import unlock

        print("zkvault: `import FILE --account-id` is now `zkvault adopt`", file=sys.stderr)
        if len(args.paths) != 1 or args.from_format:
            raise CliError("`zkvault adopt FILE --account-id UUID` takes one file", USAGE, "usage")
        args.file = args.paths[0]
        return unlock.cmd_adopt(args)
    if args.remove_plaintext and args.dry_run:
        raise CliError("--dry-run changes nothing: leave out --remove-plaintext", USAGE, "usage")
    plan = _plan(args)
    cands = plan.candidates
    try:
        _, held = _match(cands, saved=False)
    except CliError as exc:
        if not args.dry_run or exc.code not in ("locked", "session_expired"):
            raise
        held = [[] for _ in cands]  # locked: a dry run lists without checking duplicates
        _say(args, "(the vault is locked: duplicates are not checked; `zkvault unlock` first)")
    for cand, names in zip(cands, held, strict=True):
        cand.existing = names
        cand.status = "duplicate" if names else "new"
    if args.dry_run:
        for cand in cands:
            cand.status = "would-import" if cand.status == "new" else cand.status
        return _finish(args, plan, [], 0, unverified=[])
    if any(c.status == "new" for c in cands):
        _unique_names(cands)
    for cand in cands:
        if cand.status == "new":
            _add(cand)
            _say(args, f"imported {cand.name!r} ({cand.kind}{_at(cand)})")
        else:
            _say(args, f"already in the vault as {cand.existing[0]!r}: skipped {_where(cand)}")
    if not args.remove_plaintext:
        return _finish(args, plan, [], 0, unverified=[])
    if args.from_format:
        _say(args, f"{args.paths[0]}: an export is not edited; delete it yourself once done")
        return _finish(args, plan, [], 0, unverified=[])
    revision, saved = _match(cands, saved=True)
    verified: dict[str, str] = {}
    for cand, names in zip(cands, saved, strict=True):
        cand.verified = bool(names)
        if names:
            verified[cand.secret] = cand.name if cand.name in names else names[0]
    unverified = [c for c in cands if not c.verified]
    _say(args, f"read back {len(verified)} item(s) from the saved vault (revision {revision})")
    if unverified:  # all or nothing: git keeps its helpers and every file stays as it was
        return _finish(args, plan, [], 0, unverified=unverified)
    git_done: list[str] = []
    checked = [c for c in cands if c.verified]
    if any(p.source in GIT_SOURCES for c in checked for p in c.places):
        git_done = _point_git_at_zkvault(checked)
        _say(args, "git now asks zkvault for credentials (credential.helper)")
    removed = 0
    from native import import_remove

    files = {(p.file, p.source) for c in checked for p in c.places}
    for path, source in sorted(files):
        count = import_remove.rewrite(source, path, verified)
        removed += count
        if count:
            _say(
                args,
                f"removed {count} plaintext cop{'y' if count == 1 else 'ies'} from {_shown(path)}",
            )
    return _finish(args, plan, git_done, removed, unverified=unverified)


def _at(cand: Candidate) -> str:
    return f" at {cand.host}" if cand.host else ""


def _where(cand: Candidate) -> str:
    return ", ".join(f"{_shown(p.file)}:{p.line}" for p in cand.places)


def _finish(
    args: argparse.Namespace,
    plan: Plan,
    git_done: list[str],
    removed: int,
    *,
    unverified: list[Candidate],
) -> int:
    code = 0
    if unverified:
        code = FAILURE
    if args.json:
        out = {
            "ok": not unverified,
            "dry_run": bool(args.dry_run),
            "items": [
                {
                    "name": c.name,
                    "kind": c.kind,
                    "host": c.host,
                    "url": c.url,
                    "status": c.status,
                    "existing": c.existing,
                    "verified": c.verified,
                    "found_in": [
                        {"file": p.file, "line": p.line, "source": p.source} for p in c.places
                    ],
                }
                for c in plan.candidates
            ],
            "not_importable": plan.not_importable,
            "skipped": plan.skipped,
            "removed": removed,
            "git": git_done,
        }
        if unverified:
            out["error"] = "not_verified"
        print(json.dumps(out, separators=(",", ":")))
        return code
    if args.dry_run:
        for c in plan.candidates:
            what = "would import" if c.status == "would-import" else "already in the vault:"
            name = c.name if c.status == "would-import" else c.existing[0]
            print(f"{what} {name!r} ({c.kind}{_at(c)}) from {_where(c)}")
    for f in plan.not_importable:
        print(f"not imported: {_shown(f['file'])}:{f['line']}: {f['kind']} ({f['why']})")
    for s in plan.skipped:
        print(f"skipped {s['title']!r}: {s['why']}")
    new = sum(c.status in ("imported", "would-import") for c in plan.candidates)
    dup = sum(c.status == "duplicate" for c in plan.candidates)
    verb = "would import" if args.dry_run else "imported"
    summary = f"{verb} {new} item(s); {dup} already in the vault"
    if args.remove_plaintext:
        summary += f"; removed {removed} plaintext cop{'y' if removed == 1 else 'ies'}"
    print(summary, file=sys.stderr)
    for c in unverified:
        print(
            f"zkvault: {c.name!r} was not found in the saved vault ({_where(c)}): no "
            "plaintext was removed and git was not changed. Run `zkvault import "
            "--remove-plaintext` again",
            file=sys.stderr,
        )
    return code
