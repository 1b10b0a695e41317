"""``zkvault audit verify``: the account's audit trail held against the chain heads that
vault saves sealed (docs/cli.md, "Checking the audit trail").

The export comes from the server (or a file); the anchors from the vault the agent holds
and from every revision the server keeps, each opened by the agent with the keys it
holds (the ``audit_anchor`` request: the key never leaves the agent). A revision that
does not open (garbage written with a stolen credential, say) is reported, not fatal:
the newest anchor alone covers every event up to its seq.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from native import client, protocol
from native.api import Api, ApiError
from native.errors import STATE, TAMPERED, USAGE, CliError
from native.machine_tokens import MachineSession, unexpected
from native.state import StateStore
from vault_core.audit_chain import Report, verify_export
from vault_core.lineage import AuditAnchor

_PAGE = 500  # the server's largest history page
# A blob the agent protocol can carry in one request (its JSON wrapping included).
_MAX_BLOB_TEXT = protocol.MAX_MESSAGE - 256


@dataclass
class Gathered:
    """What the vault says: the anchors found, and what could not be read."""

    anchors: dict[AuditAnchor, list[int]] = field(default_factory=dict)  # -> revisions
    revisions: int = 0  # revisions looked at, the held one included
    unreadable: list[dict[str, Any]] = field(default_factory=list)

    def add(self, answer: dict[str, Any]) -> None:
        self.revisions += 1
        anchor = answer.get("anchor")
        if isinstance(anchor, dict):
            key = AuditAnchor(int(anchor["seq"]), str(anchor["head"]))
            self.anchors.setdefault(key, []).append(int(answer["revision"]))


def cmd_verify(args: argparse.Namespace) -> int:
    held = client.request("audit_anchor")  # first: locked is exit 3 before any network
    store = StateStore()
    state = store.load()
    machine = None
    if state.server:
        machine = MachineSession(store, Api(state.server, state.dpop_key()))
    if args.export:
        document = _read_file(args.export)
    elif machine is None:
        raise CliError(
            "this machine is not connected to a server; pass --export FILE", USAGE, "usage"
        )
    else:
        document = _get(machine, "/api/audit/export")
    gathered = Gathered()
    gathered.add(held)
    if machine is not None:
        _gather_history(machine, gathered, skip=int(held["revision"]))
    report = verify_export(document, gathered.anchors, chain=state.account_id)
    _print(report, gathered, args.json)
    return 0 if report.consistent else TAMPERED


def _read_file(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeError, ValueError) as exc:
        raise CliError(f"cannot read {path} ({type(exc).__name__})", USAGE, "usage") from None


def _get(machine: MachineSession, path: str) -> dict[str, Any]:
    try:
        return machine.get(path)
    except ApiError as exc:
        raise unexpected(exc) from None


def _gather_history(machine: MachineSession, gathered: Gathered, skip: int) -> None:
    """Every kept revision, newest first, a page at a time; the held one was read already."""
    before = ""
    while True:
        page = _get(machine, f"/api/vault/history?limit={_PAGE}{before}").get("items", [])
        if not isinstance(page, list):
            raise CliError("the server's history listing is malformed", STATE, "bad_response")
        for entry in page:
            revision = int(entry["revision"])
            if revision != skip:
                _read_revision(machine, gathered, revision)
        if len(page) < _PAGE:
            return
        before = f"&before={int(page[-1]['revision'])}"


def _read_revision(machine: MachineSession, gathered: Gathered, revision: int) -> None:
    try:
        blob = _get(machine, f"/api/vault/history/{revision}").get("blob")
    except CliError as exc:
        if exc.code != "no_such_revision":  # pruned meanwhile: nothing to read
            raise
        return
    if not isinstance(blob, str) or len(blob) > _MAX_BLOB_TEXT:
        why = "too large for the agent" if isinstance(blob, str) else "not a blob"
        gathered.unreadable.append({"revision": revision, "error": why})
        return
    try:
        gathered.add(client.request("audit_anchor", timeout=60.0, blob=blob))
    except CliError as exc:
        if exc.code == "locked":  # the agent stopped meanwhile: say so, as for any command
            raise
        gathered.unreadable.append({"revision": revision, "error": exc.code})


def report_dict(report: Report, gathered: Gathered) -> dict[str, Any]:
    """The --json form of a checked export (this command's and ``team audit --export``'s)."""
    return {
        "ok": report.consistent,
        **report.to_dict(),
        "revisions": gathered.revisions,
        "unreadable": gathered.unreadable,
    }


def print_problems(report: Report, gathered: Gathered, no_anchors: str) -> None:
    """What went wrong, which revisions were skipped, and ``no_anchors`` if none held one."""
    for p in report.problems:
        where = f" at seq {p.seq}" if p.seq is not None else ""
        print(f"{p.kind.upper()}{where}: {p.message}")
    if report.omitted:
        print(f"... and {report.omitted} more problem(s)")
    for u in gathered.unreadable:
        print(f"note: revision {u['revision']} could not be read ({u['error']}); skipped")
    if not gathered.anchors:
        print(no_anchors)


def _print(report: Report, gathered: Gathered, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report_dict(report, gathered), separators=(",", ":")))
        return
    print_problems(
        report,
        gathered,
        "note: no revision holds an anchor yet (saved before format 2): "
        "the chain was checked in itself only",
    )
    print(f"audit trail {report.summary()}; {gathered.revisions} vault revision(s) read")
