"""``zkvault``: argument parsing, dispatch, and the one place errors are printed.

Command modules are imported inside their handlers so that ``get`` and
``git-credential`` load only the standard library (docs/cli.md, Performance).
"""

from __future__ import annotations

import sys

from native.errors import FAILURE, INTERRUPTED, USAGE, CliError
from native.paths import getenv  # os.environ.get without importing os (native.paths)

TYPE_CHECKING = False  # see native.consumers: typing and argparse stay off the fast path
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any

EPILOG = """exit codes: 0 ok, 1 failure, 2 usage, 3 locked, 4 not found, 5 local state or
vault integrity, 6 wrong passphrase, 7 server unreachable, 8 revoked, 9 timed out,
10 outside a `zkvault ssh` session's scope, 11 the served web app differs from this
version's build (`web verify`) or the audit trail was rewritten, truncated or
reordered (`audit verify`), 12 not a zkvault server or another version, 20
plaintext credentials found (`scan`), 21 a check failed (`doctor`), 130
interrupted; `run` returns its command's status.
runner mode: `zkvault --credential-file PATH COMMAND ...`, or ZKVAULT_RUNNER_CREDENTIAL_FILE,
ZKVAULT_RUNNER_CREDENTIAL_FD or ZKVAULT_RUNNER_CREDENTIAL (docs/cli.md, Runners).
environment: ZKVAULT_SERVER, ZKVAULT_HOME, ZKVAULT_IDLE_TIMEOUT, ZKVAULT_MAX_LIFETIME,
ZKVAULT_STRICT, ZKVAULT_OFFLINE_MAX_AGE and more: docs/cli.md"""


class FastArgs:
    """The parsed form of the few argument shapes handled without argparse."""

    def __init__(self, command: str, action: str = "") -> None:
        self.command = command
        self.action = action
        self.json = False
        self.name: str | None = None
        self.field = "secret"
        self.env: list[str] = []
        self.no_mask = False
        self.mask_known = False
        self.cmd: list[str] = []


def _fast_parse(argv: list[str]) -> FastArgs | None:
    """``get NAME [--field F] [--json]``, ``git-credential ACTION`` and
    ``run [--env VAR=ITEM ...] [--no-mask] [--mask-known] -- CMD...`` without argparse
    (argparse and what it imports cost ~8 ms). Anything else, including any doubt, goes to
    argparse."""
    if len(argv) == 2 and argv[0] == "git-credential" and argv[1] in ("get", "store", "erase"):
        return FastArgs("git-credential", action=argv[1])
    if argv and argv[0] == "run":
        return _fast_run(argv[1:])
    if argv and argv[0] == "ssh":  # ssh's own options pass through: native.remote.args
        args = FastArgs("ssh")
        args.cmd = argv[1:]
        return args
    if not argv or argv[0] != "get":
        return None
    args = FastArgs("get")
    rest = argv[1:]
    while rest:
        word = rest.pop(0)
        if word == "--json":
            args.json = True
        elif word == "--field" and rest and not rest[0].startswith("-"):
            args.field = rest.pop(0)
        elif word.startswith("--field=") and len(word) > 8:
            args.field = word[8:]
        elif word.startswith("-") or args.name is not None:
            return None
        else:
            args.name = word
    return args if args.name is not None else None


def _fast_run(rest: list[str]) -> FastArgs | None:
    args = FastArgs("run")
    while rest:
        word = rest.pop(0)
        if word == "--":
            args.cmd = ["--", *rest]  # as argparse's REMAINDER gives it
            return args if rest else None
        if word == "--no-mask":
            args.no_mask = True
        elif word == "--mask-known":
            args.mask_known = True
        elif word == "--env" and rest:
            args.env.append(rest.pop(0))
        elif word.startswith("--env=") and len(word) > 6:
            args.env.append(word[6:])
        else:
            return None
    return None


def _parser() -> argparse.ArgumentParser:
    import argparse

    p = argparse.ArgumentParser(
        prog="zkvault",
        description="Unlock your zkvault once; give builds and git the tokens they need.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def command(name: str, help_text: str, json_flag: bool = False) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if json_flag:
            sp.add_argument("--json", action="store_true", help="machine-readable output")
        return sp

    sp = command(
        "connect", "pair this machine with a zkvault server (browser approval)", json_flag=True
    )
    sp.add_argument("--server", help="server URL (default: $ZKVAULT_SERVER)")
    sp.add_argument("--name", help="machine name shown in the browser (default: host name)")
    sp.add_argument("--clean", action="store_true", help="forget local state and pair again")
    sp.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for approval")

    sp = command(
        "adopt", "store a vault file as this machine's local copy (no server)", json_flag=True
    )
    sp.add_argument("file", help="an encrypted vault file, as exported by the web app")
    sp.add_argument("--account-id", required=True, help="the account UUID the vault belongs to")

    from native import import_parser  # moving plaintext tokens in; `import FILE --account-id`

    import_parser.add_parser(command)

    sp = command("unlock", "unlock the vault and start the agent", json_flag=True)
    sp.add_argument(
        "--passphrase-stdin",
        action="store_true",
        help="read the passphrase from the first line of stdin (automation)",
    )
    sp.add_argument(
        "--idle-timeout",
        metavar="DURATION",
        help="lock after this long unused, e.g. 900, 15m, 1h (default $ZKVAULT_IDLE_TIMEOUT or 1h)",
    )
    sp.add_argument(
        "--max-lifetime",
        metavar="DURATION",
        help="lock this long after unlocking (default $ZKVAULT_MAX_LIFETIME or 8h)",
    )
    sp.add_argument(
        "--strict",
        action="store_true",
        help="also lock when the server cannot be reached (default $ZKVAULT_STRICT)",
    )
    sp.add_argument(
        "--confirm",
        action="store_true",
        help="on a machine new to the vault: confirm that the last save shown is your "
        "current vault (on a terminal, unlock asks instead)",
    )

    command("lock", "wipe the unlocked vault from memory and stop the agent", json_flag=True)
    command("status", "show whether the vault is unlocked, and for how long", json_flag=True)
    from native.edit_commands import vault_option

    sp = command("list", "list item names and metadata (never secrets)", json_flag=True)
    vault_option(sp, 'list only this vault: a team\'s name, or "personal"')

    sp = command("get", "print one item's secret (or another field)", json_flag=True)
    sp.add_argument("name", help="item name (or id; TEAM/ITEM for a team's)")
    vault_option(sp, 'look only in this vault: a team\'s name, or "personal"')
    sp.add_argument(
        "--field",
        default="secret",
        help="secret (default), username, url, name, kind, note, scopes, expires, id; "
        "for an ssh-key item also public-key, fingerprint",
    )

    from native import edit_commands  # add, edit, rename, rm, rotate

    edit_commands.add_parsers(command)

    sp = command("run", "run a command with secrets in its environment, masked in its output")
    sp.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="VAR=ITEM",
        help="put ITEM's secret in VAR (repeatable); without any, every item "
        "available is exported under its upper-cased name",
    )
    sp.add_argument(
        "--no-mask",
        action="store_true",
        help="give the command this terminal directly (no masking of its output)",
    )
    sp.add_argument(
        "--mask-known",
        action="store_true",
        help="also mask any token of a published format (GitHub, GitLab, npm...: "
        "docs/tokens.md), not only the vault's values",
    )
    vault_option(sp, 'take the items from this vault only: a team\'s name, or "personal"')
    sp.add_argument("cmd", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")

    from native import team_commands  # identity, contacts, team

    team_commands.add_parsers(command)

    sp = command("scan", "find plaintext credentials on disk (reports where, never values)")
    sp.add_argument("paths", nargs="*", metavar="PATH", help="files and directories to scan")
    sp.add_argument(
        "--home",
        action="store_true",
        help="also check the home directory's credential files (the default without PATH)",
    )
    sp.add_argument("--json", action="store_true", help="machine-readable output")

    command(
        "doctor",
        "check this machine's set-up: agent, server, clock, git, expiring tokens, "
        "plaintext credentials, the web app",
        json_flag=True,
    )

    sp = command("git-credential", "git credential helper (configure with `zkvault git setup`)")
    sp.add_argument("action", choices=["get", "store", "erase"])

    sp = command("git", "configure git to use zkvault", json_flag=True)
    sp.add_argument("action", choices=["setup"])
    scope = sp.add_mutually_exclusive_group()
    scope.add_argument(
        "--global",
        dest="scope",
        action="store_const",
        const="global",
        help="in ~/.gitconfig (default)",
    )
    scope.add_argument(
        "--local", dest="scope", action="store_const", const="local", help="in this repository only"
    )
    sp.add_argument(
        "--signing",
        metavar="NAME",
        help="sign commits and tags with the ssh-key item NAME through zkvault's SSH agent",
    )
    sp.add_argument("--email", help="with --signing: the address allowed to sign with it")

    sp = command("ssh-agent", "zkvault's SSH agent: ssh-key items for ssh and git signing")
    sp.add_argument("action", choices=["setup"])
    sp.add_argument("--write", action="store_true", help="write the files shown (else print)")
    sp.add_argument("--profile", metavar="FILE", help="shell profile (default ~/.profile)")

    sp = command("completion", 'shell completion: eval "$(zkvault completion bash)"')
    sp.add_argument("shell", choices=["bash", "zsh", "fish"])

    sp = command("ssh", "ssh to a builder with a scoped agent forwarded (docs/remote-builds.md)")
    sp.add_argument("args", nargs=argparse.REMAINDER, help="see `zkvault ssh --help`")

    sp = command("audit", "the account's audit trail")
    asub = sp.add_subparsers(dest="audit_command", metavar="ACTION")
    asub.required = True
    verify = asub.add_parser(
        "verify",
        help="check the audit trail against the chain heads sealed in the vault's revisions",
        description="Check the account's audit trail (fetched, or --export FILE) against "
        "the chain heads sealed in the vault and every kept revision. Exit 0 consistent, "
        "11 rewritten, truncated or reordered.",
    )
    verify.add_argument("--export", metavar="FILE", help="an export saved earlier (JSON)")
    verify.add_argument("--json", action="store_true", help="machine-readable output")

    sp = command("runner", "unattended CI runners")
    rsub = sp.add_subparsers(dest="runner_command", metavar="ACTION")
    rsub.required = True
    enroll = rsub.add_parser("enroll", help="make a key pair and ask the owner to approve it")
    enroll.add_argument("--name", required=True, help="runner name shown in the browser")
    enroll.add_argument("--server", help="server URL (default: $ZKVAULT_SERVER)")
    enroll.add_argument("--timeout", type=float, default=600.0)
    enroll.add_argument(
        "--json", action="store_true", help="machine-readable output (the credential in it)"
    )
    enroll.add_argument(
        "--owner-fingerprint",
        metavar="FP",
        help="the owner's grant-key fingerprint, as the web app shows it (needed without a "
        "terminal; on a terminal the runner asks you to confirm it instead)",
    )

    sp = command("web", "the web app a server sends browsers")
    wsub = sp.add_subparsers(dest="web_command", metavar="ACTION")
    wsub.required = True
    verify = wsub.add_parser(
        "verify",
        help="compare what a server sends browsers with this version's build",
        description="Fetch the page, scripts, worker, wasm, Pyodide files and snapshot a "
        "server sends browsers, with their security headers, and compare each with the "
        "web app built from this zkvault's own source (docs/cli.md).",
    )
    verify.add_argument("url", nargs="?", help="server URL (default: $ZKVAULT_SERVER)")
    verify.add_argument(
        "--fresh",
        action="store_true",
        help="build the web app into a temporary directory even when web/dist is this "
        "source's build",
    )
    verify.add_argument("--json", action="store_true", help="machine-readable output")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    wants_json = "--json" in args_list
    try:
        runner = None
        if _runner_identity_offered(args_list):
            _load_site()  # a runner opens its grant with nacl
            from native import runner_identity

            # First thing, before any parsing, request or child process.
            runner = runner_identity.take(args_list, own_process=argv is None)
        args: Any = _fast_parse(args_list)
        if args is None or args.command == "ssh":
            _load_site()  # the other commands may need third-party modules
        if args is None:
            args = _parser().parse_args(args_list)
        args.runner = runner  # the one runner identity, passed down (None: the agent)
        try:
            return _dispatch(args)
        except ModuleNotFoundError:
            # Under -S, a rare path of get, git-credential or run (a local-state error's
            # report) needed a third-party module: before any output or child process.
            if not sys.flags.no_site or "site" in sys.modules:
                raise
            _load_site()
            return _dispatch(args)
    except CliError as exc:
        return _fail(exc, wants_json)
    except KeyboardInterrupt:
        print("\nzkvault: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # `zkvault list | head -1`: the reader left; say nothing more
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return FAILURE
    except SystemExit as exc:  # argparse: --help (0) or bad usage (2)
        return exc.code if isinstance(exc.code, int) else USAGE
    except Exception as exc:
        # Never a traceback: it could name paths or values a user would paste publicly.
        if getenv("ZKVAULT_DEBUG") == "1":
            raise
        code = getattr(exc, "code", None)
        if isinstance(code, str):  # a vault_core error that escaped a mapping
            from native.vaulterrors import translate

            return _fail(translate(exc), wants_json)
        return _fail(
            CliError(
                f"internal error ({type(exc).__name__}); rerun with ZKVAULT_DEBUG=1 and report it",
                FAILURE,
                "internal",
            ),
            wants_json,
        )


def _load_site() -> None:
    """Under ``python -S`` (native/fast.py: the hot paths' entry), add site-packages and
    its ``.pth`` files now: every other command may import nacl, httpx or cryptography."""
    if sys.flags.no_site:
        import site

        site.main()


def _runner_identity_offered(args_list: list[str]) -> bool:
    """Whether a runner credential source is given: native.runner_identity's flag and
    variables, named here so that the agent's fast path does not import that module."""
    return bool(args_list[:1] and args_list[0].partition("=")[0] == "--credential-file") or any(
        getenv(name)
        for name in (
            "ZKVAULT_RUNNER_CREDENTIAL",
            "ZKVAULT_RUNNER_CREDENTIAL_FILE",
            "ZKVAULT_RUNNER_CREDENTIAL_FD",
        )
    )


def _fail(exc: CliError, wants_json: bool) -> int:
    if wants_json:
        import json

        print(
            json.dumps(
                {"ok": False, "error": exc.code, "message": exc.message}, separators=(",", ":")
            )
        )
    print(f"zkvault: {exc.message}", file=sys.stderr)
    return exc.exit_code


def _dispatch(args: Any) -> int:
    command: str = args.command
    if command in ("get", "list", "status", "lock", "git-credential", "run"):
        from native import consumers

        handler: Any = getattr(consumers, "cmd_" + command.replace("-", "_"))
        return int(handler(args))
    if command in ("add", "edit", "rename", "rm", "rotate"):
        from native import edit_commands

        if args.runner is not None:
            raise CliError("a runner reads its grant; items are changed by the owner", USAGE)
        return edit_commands.dispatch(args)
    if command in ("identity", "contacts", "team"):
        from native import team_commands

        if args.runner is not None:
            raise CliError("a runner reads its grant; teams are its owner's", USAGE, "usage")
        return team_commands.dispatch(args)
    if command in ("unlock", "adopt"):
        from native import unlock

        return int(getattr(unlock, "cmd_" + command)(args))
    if command == "import":
        from native import import_cmd

        if args.runner is not None:
            raise CliError("a runner reads its grant; items are imported by the owner", USAGE)
        return import_cmd.cmd_import(args)
    if command == "git":
        from native import gitsetup

        if args.signing:
            from native.sshagent import setup

            return setup.cmd_signing(args)
        return gitsetup.cmd_setup(args)
    if command == "ssh-agent":
        from native.sshagent import setup

        return setup.cmd_setup(args)
    if command == "scan":
        from native import scan

        return scan.cmd_scan(args)
    if command == "doctor":
        from native import doctor

        if args.runner is not None:
            raise CliError("`doctor` checks a machine's agent, not a runner", USAGE, "usage")
        return doctor.cmd_doctor(args)
    if command == "completion":
        from native import completion

        return completion.cmd_completion(args.shell)
    if command == "connect":
        from native import connect

        return int(connect.cmd_connect(args))
    if command == "ssh":
        from native.remote import ssh_run

        return ssh_run.cmd_ssh(args.cmd, args.runner)
    if command == "web":
        from native import webverify

        return webverify.cmd_verify(args)
    if command == "audit":
        from native import audit_verify

        return audit_verify.cmd_verify(args)
    if command == "runner":
        from native import runner

        return int(runner.cmd_enroll(args))
    raise CliError(f"unknown command {command}", USAGE, "usage")
