"""``zkvault team audit``: a team's audit trail, read (newest first) or exported.

The team is named through the agent, which opens and checks it (its id comes from the
verified log, not from the server's listing); the trail is then fetched with this
machine's credential, like ``zkvault audit verify`` does. The server answers only admins
and owners (403 ``team_role``). An export is checked as one hash chain, offline, before a
byte is written: a chain that does not hold together is exit 11 and no file.

It is also held against the chain heads the team vault's saves sealed (their audit
anchors): the current revision's and every kept one's, each opened by the agent with the
team keys it holds (the ``audit_anchor`` team action: only the anchor leaves it). So a
row rewritten with every later hash recomputed is caught below the newest anchor. A
revision that cannot be opened (sealed at an epoch before this member joined, say) is
noted, not fatal: the newest anchor alone covers every event up to its seq.
"""

from __future__ import annotations

import argparse
import json
import sys

from native.errors import STATE, TAMPERED, USAGE, CliError

TYPE_CHECKING = False  # see native.consumers: parsing any command loads no typing
if TYPE_CHECKING:  # the rest is loaded when the command runs, not when any command parses
    from typing import Any

    from native.audit_verify import Gathered
    from native.machine_tokens import MachineSession
    from vault_core.audit_chain import Report

MAX_LIMIT = 500  # the server's largest page
_PAGE = 500  # the server's largest history page
_TIMEOUT = 150.0  # the agent fetches and checks the team's whole log first


def add_parser(actions: Any) -> None:
    text = "the team's audit trail: who did what, when (admins and owners)"
    ap = actions.add_parser(
        "audit",
        help=text,
        description=text + ". With --export FILE, the whole chain is fetched, checked "
        "offline (as one chain, and against the audit heads the team vault's saves sealed), "
        "and written to FILE only if it holds together (else exit 11).",
    )
    ap.add_argument("team", help="the team's name (or id)")
    ap.add_argument(
        "--limit", type=_limit, default=50, metavar="N", help="the newest N events (default 50)"
    )
    ap.add_argument("--export", metavar="FILE", help="write the whole, verified chain to FILE")
    ap.add_argument("--json", action="store_true", help="machine-readable output")


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 1 to {MAX_LIMIT}")
    return int(text)


def cmd_audit(args: argparse.Namespace) -> int:
    from native import client
    from native.fsutil import atomic_write
    from vault_core.audit_chain import verify_export

    team = client.request("team", timeout=_TIMEOUT, action="members", team=args.team)
    import uuid

    team_id = uuid.UUID(hex=str(team["team_id"]))
    machine = _machine()
    if args.export:
        from native.audit_verify import Gathered

        document = _get(machine, f"/api/teams/{team_id.hex}/audit/export")
        gathered = Gathered()
        held = _anchor(team_id.hex, None, gathered)
        if held is not None:
            _gather_history(machine, team_id.hex, gathered, skip=held)
        report = verify_export(document, gathered.anchors, chain=str(team_id))
        if report.consistent:
            data = json.dumps(document, indent=1, sort_keys=True).encode() + b"\n"
            atomic_write(args.export, data)
        _print_report(report, gathered, args, team["name"])
        return 0 if report.consistent else TAMPERED
    page = _get(machine, f"/api/teams/{team_id.hex}/audit?limit={args.limit}")
    events = page.get("events")
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise CliError("the server's audit page is malformed", STATE, "bad_response")
    if args.json:
        out = {"ok": True, "team_id": team_id.hex, "name": team["name"], "events": events}
        print(json.dumps(out, separators=(",", ":")))
    else:
        print(f"{team['name']}: {len(events)} event(s), newest first")
        emails = {str(uuid.UUID(hex=m["account_id"])): m["email"] for m in team["members"]}
        for e in events:
            print(format_event(e, emails))
    return 0


def format_event(e: dict[str, Any], emails: dict[str, str]) -> str:
    """One line: seq, when (UTC, as the server stamped it), the outcome, what, on what (an
    account named by its email when it is a member now, as the verified log says), by
    whom, and the detail if any."""
    when = _shown(e.get("time", "?")).replace("T", " ")[:19]
    target = _shown(e.get("target", ""))
    email = emails.get(target.removeprefix("account:")) if target.startswith("account:") else None
    target += f" ({_shown(email)})" if email else ""
    line = (
        f"{_shown(e.get('seq', '?')):>5}  {when}  {_shown(e.get('outcome', '?')):<7}  "
        f"{_shown(e.get('action', '?'))}  {target}  by {_shown(e.get('actor', '?'))}"
    )
    detail = _shown(e.get("detail", ""))
    return f"{line}  ({detail})" if detail else line


def _shown(value: Any) -> str:
    """The server's text with its control characters escaped: what it stored must not
    move the cursor, retitle the terminal or hide a line."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in str(value))


def _machine() -> MachineSession:
    from native.api import Api
    from native.machine_tokens import MachineSession
    from native.state import StateStore

    store = StateStore()
    state = store.load()
    if not state.server:
        raise CliError("this machine is not connected to a server", USAGE, "usage")
    return MachineSession(store, Api(state.server, state.dpop_key()))


def _get(machine: MachineSession, path: str) -> dict[str, Any]:
    from native.api import ApiError
    from native.teams import api_refused

    try:
        return machine.get(path)
    except ApiError as exc:
        if exc.status == 403:
            raise CliError(
                f"only the team's admins and owners may read its audit trail ({exc.code})",
                USAGE,
                "team_permission",
            ) from None
        raise api_refused(exc, "team") from None


def _anchor(team: str, blob: str | None, gathered: Gathered) -> int | None:
    """Adds the anchor of the held vault (``blob`` None) or of a kept revision; its
    revision, or None if the agent could not open it (noted in ``gathered``)."""
    from native import client

    try:
        answer = client.request(
            "team", timeout=_TIMEOUT, action="audit_anchor", team=team, blob=blob
        )
    except CliError as exc:
        if blob is None or exc.code == "locked":
            raise  # the held vault opened already; a stopped agent is said as for any command
        gathered.unreadable.append({"revision": None, "error": exc.code})
        return None
    gathered.add(answer)
    return int(answer["revision"])


def _gather_history(machine: MachineSession, team: str, gathered: Gathered, skip: int) -> None:
    """Every kept revision, newest first, a page at a time; the held one was read already."""
    from native import protocol

    limit = protocol.MAX_MESSAGE - 256  # a blob the agent protocol carries in one request
    before = ""
    while True:
        # A JSON list comes back as {"items": [...]} (native.api).
        page = _get(machine, f"/api/teams/{team}/vault/history?limit={_PAGE}{before}").get("items")
        if not isinstance(page, list) or not all(
            isinstance(e, dict) and isinstance(e.get("revision"), int) for e in page
        ):
            raise CliError("the server's history listing is malformed", STATE, "bad_response")
        for entry in page:
            revision = int(entry["revision"])
            if revision == skip:
                continue
            try:
                blob = _get(machine, f"/api/teams/{team}/vault/history/{revision}").get("blob")
            except CliError as exc:
                if exc.code != "no_such_revision":  # pruned meanwhile: nothing to read
                    raise
                continue
            if not isinstance(blob, str) or len(blob) > limit:
                why = "too large for the agent" if isinstance(blob, str) else "not a blob"
                gathered.unreadable.append({"revision": revision, "error": why})
                continue
            before_count = len(gathered.unreadable)
            _anchor(team, blob, gathered)
            for u in gathered.unreadable[before_count:]:
                u["revision"] = revision
        if len(page) < _PAGE:
            return
        before = f"&before={int(page[-1]['revision'])}"


def _print_report(report: Report, gathered: Gathered, args: argparse.Namespace, name: str) -> None:
    from native.audit_verify import print_problems, report_dict

    if args.json:
        out = report_dict(report, gathered) | {"written": report.consistent}
        print(json.dumps(out, separators=(",", ":")))
        return
    print_problems(
        report, gathered, "note: no team vault revision holds an anchor yet: checked in itself only"
    )
    if report.consistent:
        print(f"{name}: audit trail {report.summary()}; written to {args.export}")
    else:
        print(f"{name}: audit trail {report.summary()}; nothing written", file=sys.stderr)
