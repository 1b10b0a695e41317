"""``zkvault add | edit | rename | rm | rotate``: changing items through the unlocked agent.

The agent applies the change and saves it through the server (native.write); this module
parses, reads the secret and prints. A secret is read without echo from the terminal
(asked twice) or, with ``--secret-stdin``, from the whole of stdin less one final line
break: never from the command line or the environment, where other processes (and shell
history) would see it (docs/cli.md, "Changing items").
"""

from __future__ import annotations

import argparse
import json
import sys

from native.errors import NETWORK, STATE, USAGE, CliError

TYPE_CHECKING = False  # see native.consumers: the parser loads no typing
if TYPE_CHECKING:
    from typing import Any

COMMANDS = ("add", "edit", "rename", "rm", "rotate")
# The agent answers with a code; the exit codes (docs/cli.md) of those native.client does
# not already map: bad input, the server out of reach, the local state.
_USAGE = frozenset(
    {"exists", "reserved_name", "invalid_item", "limit_exceeded", "no_server", "usage"}
)
_NETWORK = frozenset(
    {"unreachable", "server_error", "bad_response", "cannot_verify", "rate_limited"}
)
_STATE = frozenset({"write_failed", "replayed_token"})
_MAX_SECRET = 1 << 16  # more than an item takes (vault_core checks the exact bound)
_NO_TERMINAL = "no terminal to ask for the secret; use --secret-stdin"


# vault_core.items.KINDS, here so that building the parser loads nothing of vault_core
# (tests/unit/test_cli_parser.py holds the two equal).
KINDS = ("github", "github-enterprise", "gitlab", "bitbucket", "git", "generic", "ssh-key")


def add_parsers(command: Any) -> None:
    """Register the commands through cli._parser's ``command(name, help, json_flag)``."""
    sp = command("add", "add an item (the secret is asked for, or read from stdin)", True)
    vault_option(sp, "write this team's vault (writers, admins and owners)")
    sp.add_argument("name", help="the new item's name")
    sp.add_argument(
        "--kind",
        type=_kind,
        metavar="KIND",
        help=f"what the secret is for: {', '.join(KINDS)}"
        " (default: guessed from the token's format, else generic)",
    )
    _item_options(sp)
    _secret_stdin(sp)
    from native.sshagent import add as ssh_add

    ssh_add.add_options(sp)

    sp = command("edit", "change an item's fields (and, with --secret, its secret)", True)
    vault_option(sp, "write this team's vault (writers, admins and owners)")
    sp.add_argument("name", help="item name (or id)")
    sp.add_argument("--kind", type=_kind, metavar="KIND", help="what the secret is for")
    _item_options(sp)
    sp.add_argument(
        "--secret", action="store_true", help="replace the secret too (asked for, no echo)"
    )
    _secret_stdin(sp, "replace the secret with stdin (all of it, less one final line break)")

    sp = command("rename", "rename an item", True)
    vault_option(sp, "write this team's vault (writers, admins and owners)")
    sp.add_argument("old", help="item name (or id)")
    sp.add_argument("new", help="its new name")

    sp = command("rm", "remove an item (asks first on a terminal)", True)
    vault_option(sp, "write this team's vault (writers, admins and owners)")
    sp.add_argument("name", help="item name (or id)")
    sp.add_argument("--yes", "-y", action="store_true", help="do not ask")

    sp = command("rotate", "store a new secret for an item; the old one stays in history", True)
    vault_option(sp, "write this team's vault (writers, admins and owners)")
    sp.add_argument("name", help="item name (or id)")
    _secret_stdin(sp)


def vault_option(sp: Any, text: str) -> None:
    sp.add_argument("--vault", metavar="TEAM", help=text)


def _kind(text: str) -> str:
    if text not in KINDS:
        raise argparse.ArgumentTypeError(f"one of {', '.join(KINDS)}")
    return text


def _item_options(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--url", help="where the secret is used (a git host, an API)")
    sp.add_argument("--username", help="the account name, if the service needs one")
    sp.add_argument(
        "--scope",
        action="append",
        dest="scopes",
        metavar="S",
        help="a scope the token has (repeatable)",
    )
    sp.add_argument("--expires", metavar="YYYY-MM-DD", help="when the secret expires")
    sp.add_argument("--note", metavar="TEXT", help="a note (not secret: never put one here)")


def _secret_stdin(sp: argparse.ArgumentParser, text: str = "") -> None:
    sp.add_argument(
        "--secret-stdin",
        action="store_true",
        help=text or "read the secret from stdin (all of it, less one final line break)",
    )


# -- reading the secret ----------------------------------------------------------------------


def read_secret(from_stdin: bool, name: str) -> str:
    if from_stdin:
        data = sys.stdin.buffer.read(_MAX_SECRET + 1)
        if len(data) > _MAX_SECRET:
            raise CliError("the secret on stdin is too long", USAGE, "usage")
        try:
            text = data.decode()
        except UnicodeDecodeError:
            raise CliError("the secret on stdin is not UTF-8 text", USAGE, "usage") from None
        secret = text.removesuffix("\n").removesuffix("\r")
    else:
        if not sys.stdin.isatty():
            raise CliError(_NO_TERMINAL, USAGE, "usage")
        import getpass

        secret = getpass.getpass(f"secret for {name}: ")
        if secret and getpass.getpass("again: ") != secret:
            raise CliError("the two entries differ; nothing was saved", USAGE, "mismatch")
    if not secret:
        raise CliError("empty secret; nothing was saved", USAGE, "empty_secret")
    return secret


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    """The options given (an option left out is not changed)."""
    fields: dict[str, Any] = {}
    for key in ("kind", "url", "username", "expires", "note"):
        value = getattr(args, key, None)
        if value is not None:
            fields[key] = value
    if getattr(args, "scopes", None) is not None:
        fields["scopes"] = list(args.scopes)
    if fields.get("expires") == "":
        fields["expires"] = None  # --expires '' clears it
    return fields


# -- the commands ----------------------------------------------------------------------------


_VAULT: list[str | None] = [None]  # --vault of the command being run (one per process)


def _write(action: str, name: str, fields: dict[str, Any], secret: str | None) -> dict[str, Any]:
    from native import client

    request: dict[str, Any] = {"action": action, "name": name, "fields": fields}
    if _VAULT[0]:
        request["vault"] = _VAULT[0]
    if secret is not None:
        request["secret"] = secret
    try:
        # A save may wait for the server, a merge and a retry: far longer than a read.
        return client.request("write", timeout=150.0, **request)
    except CliError as exc:
        for codes, exit_code in ((_USAGE, USAGE), (_NETWORK, NETWORK), (_STATE, STATE)):
            if exc.code in codes:
                exc.exit_code = exit_code
        raise


def cmd_add(args: argparse.Namespace) -> int:
    from native.sshagent import add as ssh_add

    if ssh_add.wanted(args):  # --generate / --import: the key is made or read here
        secret = ssh_add.make_secret(args)
        fields = {**_fields(args), "kind": ssh_add.sshkeys_kind()}
        answer = _write("add", args.name, fields, secret)
        lines = ssh_add.describe(secret, args.url or "", answer)
        code = _report(args, answer)
        if not args.json:
            print("\n".join(lines))
        return code
    secret = read_secret(args.secret_stdin, args.name)
    return _report(args, _write("add", args.name, _fields(args), secret))


def cmd_edit(args: argparse.Namespace) -> int:
    fields = _fields(args)
    secret = None
    if args.secret or args.secret_stdin:
        secret = read_secret(args.secret_stdin, args.name)
    elif not fields:
        raise CliError(
            "nothing to change: give --kind, --url, --username, --scope, --expires, --note "
            "or --secret",
            USAGE,
            "usage",
        )
    return _report(args, _write("edit", args.name, fields, secret))


def cmd_rename(args: argparse.Namespace) -> int:
    return _report(args, _write("rename", args.old, {"name": args.new}, None))


def cmd_rm(args: argparse.Namespace) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError("no terminal to confirm the removal; add --yes", USAGE, "usage")
        sys.stderr.write(f"Remove {args.name!r} from the vault? [y/N] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            if args.json:
                print(json.dumps({"ok": True, "action": "remove", "removed": False}))
            else:
                print("nothing removed")
            return 0
    return _report(args, _write("remove", args.name, {}, None))


def cmd_rotate(args: argparse.Namespace) -> int:
    secret = read_secret(args.secret_stdin, args.name)
    return _report(args, _write("rotate", args.name, {}, secret))


_DONE = {
    "add": "added {name!r}",
    "edit": "updated {name!r}",
    "rename": "renamed {previous_name!r} to {name!r}",
    "remove": "removed {name!r}",
    "rotate": "rotated {name!r}: the new secret is saved",
}


def _report(args: argparse.Namespace, answer: dict[str, Any]) -> int:
    answer.pop("ok", None)
    action = str(answer["action"])
    runners = list(answer.get("runners") or [])
    history = action in ("rotate", "remove") and bool(answer.get("saved"))
    if args.json:
        out = {"ok": True, **answer, "reseal_needed": bool(runners)}
        if action == "remove":
            out["removed"] = True
        if history:
            out["in_history"] = True
        print(json.dumps(out, separators=(",", ":")))
    else:
        if not answer.get("saved"):
            print(f"{answer['name']!r} was already removed elsewhere; nothing to save")
            return 0
        line = _DONE[action].format(**answer) + f" (revision {answer['revision']})"
        print(line)
        if history:
            what = "the old secret" if action == "rotate" else "the item"
            print(
                f"{what.capitalize()} stays in the vault's history: the revisions before "
                f"{answer['revision']}, kept by the server until they age out, still hold it. "
                + ("Revoke the old token at its provider." if action == "rotate" else "")
            )
    if answer.get("merged"):
        print(
            "zkvault: another device changed the vault meanwhile; this change was merged on top",
            file=sys.stderr,
        )
    for note in answer.get("notes") or []:
        print(f"zkvault: {note}", file=sys.stderr)
    if runners:
        names = ", ".join(repr(r) for r in runners)
        print(
            f"zkvault: runner(s) {names} hold a grant of this item sealed before the change; "
            "the CLI does not seal grants: reseal them in the web app (Machines & runners, "
            "Save grant)",
            file=sys.stderr,
        )
    return 0


def dispatch(args: argparse.Namespace) -> int:
    _VAULT[0] = getattr(args, "vault", None)
    handler = {
        "add": cmd_add,
        "edit": cmd_edit,
        "rename": cmd_rename,
        "rm": cmd_rm,
        "rotate": cmd_rotate,
    }[args.command]
    return handler(args)
