"""``zkvault identity``, ``zkvault contacts`` and ``zkvault team``: the CLI side. Every
request goes to the agent, which holds the identity keys and checks each team itself
(native/teams.py, native/team_ops.py); this module parses, asks and prints."""

from __future__ import annotations

import json
import sys

from native import team_audit
from native.errors import USAGE, CliError

TYPE_CHECKING = False  # see native.consumers: the parser loads no typing
if TYPE_CHECKING:
    from typing import Any

ROLES = ("reader", "writer", "admin", "owner")
# Team requests may each fetch and verify whole logs and vaults, and save: not a read's 10 s.
TIMEOUT = 150.0


def add_parsers(command: Any) -> None:
    command("identity", "show your identity's safety number (compare it with teammates)", True)

    sp = command("contacts", "people whose identity you checked (pinned in your vault)")
    csub = sp.add_subparsers(dest="contacts_command", metavar="ACTION")
    csub.required = True
    listed = csub.add_parser("list", help="the identities you pinned and how you checked them")
    listed.add_argument("--json", action="store_true", help="machine-readable output")
    verify = csub.add_parser(
        "verify",
        help="look a person up, show their safety number, and pin it once it matches",
        description="Look a person up by email and show the safety number of the identity "
        "the server serves for them. It is pinned when you type the same number (or give it "
        "with --safety-number), or on --tofu (trust on first use, recorded as such).",
    )
    verify.add_argument("email", help="their account's email")
    _checking(verify)
    verify.add_argument("--json", action="store_true", help="machine-readable output")

    sp = command("team", "teams: shared vaults, members and invitations (docs/teams.md)")
    tsub = sp.add_subparsers(dest="team_command", metavar="ACTION")
    tsub.required = True

    def action(name: str, text: str, *positionals: tuple[str, str]) -> Any:
        ap = tsub.add_parser(name, help=text, description=text)
        for arg, arg_help in positionals:
            ap.add_argument(arg, help=arg_help, metavar=arg.removesuffix("_name"))
        ap.add_argument("--json", action="store_true", help="machine-readable output")
        return ap

    team = ("team", "the team's name (or id)")
    email = ("email", "the person's account email")
    action("create", "make a team; you are its owner", ("name", "the team's name"))
    action("list", "your teams, checked, and the invitations for you")
    action("members", "a team's members: roles, safety numbers, how each was checked", team)
    ap = action("invite", "invite a person (admins and owners)", team, email)
    ap.add_argument(
        "--role",
        required=True,
        type=_role,
        metavar="ROLE",
        help="their role once added: " + ", ".join(ROLES),
    )
    ap = action(
        "add",
        "add a person who accepted: their key is checked (safety number or --tofu), then "
        "the team key is sealed to them",
        team,
        email,
    )
    _checking(ap)
    action(
        "remove",
        "remove a member: a new team key, the vault encrypted again; prints the items to "
        "rotate at their provider",
        team,
        email,
    )
    ap = action("role", "change a member's role", team, email)
    ap.add_argument("role", type=_role, metavar="ROLE", help="the new role: " + ", ".join(ROLES))
    action("rotate", "a new team key for the same members (after someone left)", team)
    action("leave", "leave a team", team)
    action("invitations", "invitations for you, and those your teams sent")
    action("accept", "accept an invitation", ("team", "the team's name (or invitation id)"))
    action("decline", "decline an invitation", ("team", "the team's name (or invitation id)"))
    action("withdraw", "withdraw an invitation (admins and owners)", team, email)
    team_audit.add_parser(tsub)
    # Not "runner": args.runner is the runner identity native.cli hands down.
    runner = ("runner_name", "one of your runners: its name as pinned at approval, or its id")
    ap = action(
        "grant",
        "seal items of the team to one of your runners (admins and owners); they replace "
        "what it held of this team, so name every item it should read; granting again "
        "also gives it the items' current values",
        team,
        runner,
    )
    ap.add_argument("items", nargs="+", metavar="ITEM", help="a team item's name")
    action("grants", "the team's runner grants and who granted each (admins and owners)", team)
    action("ungrant", "end your runner's grant of the team's items", team, runner)


def _role(text: str) -> str:
    """A role, checked here (argparse's choices would list them where ROLE is shown)."""
    import argparse

    if text not in ROLES:
        raise argparse.ArgumentTypeError(f"{text!r} is not a role: {', '.join(ROLES)}")
    return text


def _checking(sp: Any) -> None:
    group = sp.add_mutually_exclusive_group()
    group.add_argument(
        "--safety-number",
        metavar="NUMBER",
        help="the safety number they read you from `zkvault identity` (else asked on a terminal)",
    )
    group.add_argument(
        "--tofu", action="store_true", help="trust the key on first use (recorded as such)"
    )


def _ask(request: dict[str, Any], op: str = "team") -> dict[str, Any]:
    from native import client

    return client.request(op, timeout=TIMEOUT, **request)


def _print(args: Any, answer: dict[str, Any]) -> bool:
    """JSON output when asked: True when printed."""
    if args.json:
        print(json.dumps({**answer, "ok": True}, separators=(",", ":")))
    return bool(args.json)


def dispatch(args: Any) -> int:
    if args.command == "identity":
        answer = _ask({}, "identity")
        if not _print(args, answer):
            print(f"your safety number: {answer['safety_number']}")
            print(f"account {answer['account_id']} ({answer.get('email') or '?'})")
            if not answer.get("published"):
                print("zkvault: the server does not serve this identity for you", file=sys.stderr)
        return 0
    if args.command == "contacts":
        return _contacts(args)
    return _team(args)


def _checked(args: Any, request: dict[str, Any], op: str = "team") -> dict[str, Any]:
    """A request that pins a key: with --safety-number or --tofu as given; else the agent
    names the number, and on a terminal the person types what they were read."""
    if args.safety_number or args.tofu:
        request.update(safety_number=args.safety_number, tofu=args.tofu)
        return _ask(request, op)
    try:
        return _ask(request, op)
    except CliError as exc:
        if exc.code != "identity_not_pinned" or not sys.stdin.isatty():
            raise
        print(f"zkvault: {exc.message}", file=sys.stderr)
    typed = input("Type the safety number they read you (empty: cancel): ").strip()
    if not typed:
        raise CliError("cancelled: nothing was pinned", USAGE, "cancelled")
    return _ask({**request, "safety_number": typed}, op)


def _contacts(args: Any) -> int:
    if args.contacts_command == "list":
        answer = _ask({"action": "list"}, "contacts")
        if not _print(args, answer):
            for c in answer["contacts"]:
                print(f"{c['email']}  {c['safety_number']}  {c['verified']} ({c['at']})")
            if not answer["contacts"]:
                print("no contacts pinned")
        return 0
    answer = _checked(args, {"action": "verify", "email": args.email}, "contacts")
    if not _print(args, answer):
        how = "now pinned" if answer["pinned_now"] else "already pinned"
        print(f"{answer['email']}: {answer['safety_number']} ({how}, {answer['verified']})")
    return 0


def _team(args: Any) -> int:
    verb = args.team_command
    if verb == "audit":
        return team_audit.cmd_audit(args)
    request: dict[str, Any] = {"action": verb}
    for key in ("name", "team", "email", "role", "items"):
        if getattr(args, key, None) is not None:
            request[key] = getattr(args, key)
    if getattr(args, "runner_name", None) is not None:
        request["runner"] = args.runner_name
    answer = _checked(args, request) if verb == "add" else _ask(request)
    if _print(args, answer):
        return 0
    _SHOW.get(verb, _show_done)(answer)
    return 0


def _show_done(answer: dict[str, Any]) -> None:
    shown = {k: v for k, v in answer.items() if k != "ok" and not isinstance(v, dict | list)}
    print(", ".join(f"{k}: {v}" for k, v in shown.items()))


def _show_list(answer: dict[str, Any]) -> None:
    for t in answer["teams"]:
        print(
            f"{t['name']}  {t['role']}  {t['members']} members  {t['items']} items  "
            f"(epoch {t['epoch']}, log {t['log_seq']}, revision {t['revision']})"
        )
    for t in answer["refused"]:
        print(f"{t['name'] or t['team_id']}  REFUSED ({t['error']}): {t['message']}")
    for i in answer["invitations"]:
        print(f"invited to {i['team_name']} as {i['role']} ({i['status']}): `zkvault team accept`")
    if not (answer["teams"] or answer["refused"] or answer["invitations"]):
        print("no teams")


def _show_members(answer: dict[str, Any]) -> None:
    print(f"{answer['name']} (epoch {answer['epoch']})")
    for m in answer["members"]:
        you = " (you)" if m["you"] else ""
        print(f"  {m['email']}{you}  {m['role']}  {m['safety_number']}  verified: {m['verified']}")
    if answer["left_since_rotation"]:
        print("someone left since the key last changed: an admin runs `zkvault team rotate`")


def _show_invitations(answer: dict[str, Any]) -> None:
    for i in answer["received"]:
        print(f"for you: {i['team_name']} as {i['role']} ({i['status']})")
    for i in answer["sent"]:
        print(f"sent: {i['team_name']} to {i['email']} as {i['role']} ({i['status']})")
    if not (answer["received"] or answer["sent"]):
        print("no open invitations")


def _show_added(answer: dict[str, Any]) -> None:
    print(
        f"added {answer['email']} to {answer['team']} as {answer['role']} "
        f"(safety number {answer['safety_number']}, {answer['verified']})"
    )


def _show_removed(answer: dict[str, Any]) -> None:
    print(
        f"removed {answer['removed']} from {answer['team']}; new team key (epoch {answer['epoch']})"
    )
    if answer["rotate"]:
        print("They could read these items: rotate each secret at its provider now:")
        for item in answer["rotate"]:
            where = item["rotate_at"] or item["url"] or "(no link known)"
            print(f"  {item['name']} ({item['kind']}): {where}")


def _show_invitation(answer: dict[str, Any]) -> None:
    i = answer["invitation"]
    print(f"{i['team_name']}: {i['email']} as {i['role']} ({i['status']})")


def _show_granted(answer: dict[str, Any]) -> None:
    print(
        f"granted {answer['runner']} {len(answer['items'])} item(s) of {answer['team']} "
        f"(revision {answer['revision']}): {', '.join(answer['items'])}"
    )


def _show_grants(answer: dict[str, Any]) -> None:
    for g in answer["grants"]:
        grantor = g["grantor"] or f"{g['grantor_id']} (no longer a member)"
        print(
            f"{g['runner'] or g['runner_id']}  granted by {grantor}  "
            f"revision {g['revision']}  {g['size']} bytes  {g['updated_at']}"
        )
    if not answer["grants"]:
        print(f"no runner holds a grant of {answer['team']}")


def _show_ungranted(answer: dict[str, Any]) -> None:
    print(f"{answer['runner']} no longer holds a grant of {answer['team']}")


_SHOW = {
    "grant": _show_granted,
    "grants": _show_grants,
    "ungrant": _show_ungranted,
    "list": _show_list,
    "members": _show_members,
    "invitations": _show_invitations,
    "add": _show_added,
    "remove": _show_removed,
    "invite": _show_invitation,
    "accept": _show_invitation,
    "decline": _show_invitation,
    "withdraw": _show_invitation,
}
