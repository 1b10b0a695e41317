"""Read commands: status, lock, list, get, run, git-credential.

They ask a source for data: the local agent over its socket, or, when ``main`` took a
runner credential (``args.runner``, native.runner_identity), this runner's own grants
(native.runner). The agent path imports only the standard library.
"""

from __future__ import annotations

import sys

from native.errors import NOT_FOUND, REVOKED, STATE, USAGE, CliError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (fast path)
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from native.runner_identity import RunnerIdentity


def request(runner_id: RunnerIdentity | None, op: str, **fields: Any) -> dict[str, Any]:
    if runner_id is not None:
        from native import runner

        return runner.request(runner_id, op, fields)
    from native import client

    try:
        return client.request(op, **fields)
    except CliError as exc:
        if exc.code != "locked":
            raise
        raise _why_no_agent() or exc from None


def _why_no_agent() -> CliError | None:
    """No agent answers: say so more precisely when this machine's state tells why (never
    set up, or revoked), else None ("locked"). Only on this failure path is the state read."""
    import os

    if os.environ.get("ZKVAULT_AGENT_SOCKET"):
        return None  # a builder under `zkvault ssh`: its state is not this machine's
    from native.state import StateStore

    store = StateStore()
    if not store.exists():
        return CliError(
            "not set up: this machine has no vault and no agent yet; run `zkvault connect "
            "--server URL` to pair it, then `zkvault unlock`",
            STATE,
            "not_set_up",
        )
    try:
        revoked_at = store.load().revoked_at
    except CliError:
        return None  # a damaged state says so on the commands that need it
    if not revoked_at:
        return None
    return CliError(
        f"revoked: this machine is no longer authorised (since {_utc(revoked_at)}) and "
        "serves nothing; run `zkvault connect --clean` to pair it again",
        REVOKED,
        "revoked",
    )


def _print_json(value: Any) -> None:
    import json  # only for --json: json imports re, which -S start-ups do without

    print(json.dumps(value, indent=None, separators=(",", ":")))


def cmd_status(args: argparse.Namespace) -> int:
    try:
        status = request(args.runner, "status")
    except CliError as exc:
        if exc.code in ("revoked", "not_set_up") and args.runner is None:
            return _status_not_served(exc, args.json)
        if exc.code != "locked":
            raise
        fork = _recorded_fork() if args.runner is None else None
        if args.json:
            _print_json({"ok": True, "unlocked": False, **({"fork": fork} if fork else {})})
        else:
            print("locked" + (f"\n{_fork_line(fork)}" if fork else ""))
        return exc.exit_code
    status.pop("ok", None)
    fork = status.get("fork")
    if args.json:
        _print_json({"ok": True, "unlocked": True, **status})
        return STATE if fork else 0
    mode = "runner" if args.runner is not None else f"agent pid {status.get('pid')}"
    lines = [f"unlocked ({mode}): revision {status.get('revision')}, {status.get('items')} items"]
    if fork:
        lines.append(_fork_line(fork))
    if "expires_in" in status:
        lines.append(
            f"locks in {_duration(status['idle_expires_in'])} if unused, "
            f"{_duration(status['expires_in'])} at most"
        )
    if status.get("server"):
        lines.append(f"server {status['server']}" + (" (strict)" if status.get("strict") else ""))
    if "confirmed" in status:  # the agent's vault; a runner holds a grant, not a vault
        lines.append(_last_save_line(status.get("last_saved"), bool(status["confirmed"])))
    if status.get("trouble"):
        lines.append(f"cannot check with the server right now, retrying: {status['trouble']}")
    lines += [f"warning: {w}" for w in status.get("warnings") or ()]
    print("\n".join(lines))
    return STATE if fork else 0


def _status_not_served(exc: CliError, as_json: bool) -> int:
    """`zkvault status` on a machine revoked or never set up: the state, not a failure
    (printed on stdout, and as JSON with --json); the exit code still says which."""
    if as_json:
        _print_json({"ok": True, "unlocked": False, exc.code: True, "message": exc.message})
    else:
        print(exc.message)
    return exc.exit_code


def _fork_line(fork: dict[str, Any]) -> str:
    return f"fork detected at {_utc(str(fork.get('at')))}: {fork.get('message')}"


def _last_save_line(saved: dict[str, Any] | None, confirmed: bool) -> str:
    what = (
        "last saved: not recorded (a format 1 vault)"
        if not saved
        else f"last saved {_utc(str(saved.get('at')))} by {saved.get('by')}"
    )
    if confirmed:
        return f"{what}; confirmed on this machine"
    return (
        f"{what}; NOT confirmed on this machine as your current vault "
        "(`zkvault lock`, then `zkvault unlock --confirm`)"
    )


def _utc(stamp: str) -> str:
    """2026-01-02T03:04:05Z as 2026-01-02 03:04:05 UTC."""
    return stamp.replace("T", " ").removesuffix("Z") + " UTC"


def _recorded_fork() -> dict[str, Any] | None:
    """A fork the last agent or unlock recorded in the state (kept until an unlock
    succeeds), so that status still shows it once the agent has gone."""
    from native.state import StateStore

    store = StateStore()
    if not store.exists():
        return None
    try:
        return store.load().fork
    except CliError:
        return None  # a damaged state says so on the commands that need it


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def cmd_lock(args: argparse.Namespace) -> int:
    from native import client

    try:
        client.request("lock")
    except CliError as exc:
        if exc.code != "locked":
            raise
        if args.json:
            _print_json({"ok": True, "already": True})
        else:
            print("already locked")
        return 0
    if args.json:
        _print_json({"ok": True, "already": False})
    else:
        print("locked: the agent wiped the vault and stopped")
    return 0


def _where(args: Any) -> dict[str, Any]:
    """``--vault NAME`` (a team, or "personal"), only when given: the fast path has none."""
    chosen = getattr(args, "vault", None)
    return {"vault": chosen} if chosen else {}


def cmd_list(args: argparse.Namespace) -> int:
    items: list[dict[str, Any]] = request(args.runner, "list", **_where(args))["items"]
    if args.json:
        _print_json({"ok": True, "items": items})
        return 0
    if not items:
        print("no items")
        return 0
    width = max(len(str(i["name"])) for i in items)
    for i in sorted(items, key=lambda i: str(i["name"])):
        print(f"{i['name']!s:<{width}}  {i.get('kind') or '':<17}  {i.get('url') or ''}")
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    value: str = request(args.runner, "get", name=args.name, field=args.field, **_where(args))[
        "value"
    ]
    if args.json:
        _print_json({"ok": True, "name": args.name, "field": args.field, "value": value})
    else:
        sys.stdout.write(value + "\n")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from native import run

    command = list(args.cmd)
    if command and command[0] == "--":
        command = command[1:]
    mapping = run.parse_env_specs(args.env)
    if not command:
        run.run(command, {})  # raises the usage error
    wanted = sorted(set(mapping.values())) if mapping else None
    ssh_items: list[Any] = []
    if args.runner is not None:  # one grant for the values and the ssh keys
        from native import runner

        values, ssh_items = runner.run_material(args.runner, wanted)
    else:
        values = request(args.runner, "env", names=wanted, **_where(args))["values"]
    if mapping:
        secrets = {var: values[item] for var, item in mapping.items()}
    else:
        secrets = {}
        owner: dict[str, str] = {}
        for name, value in values.items():
            var = run.env_name(name)
            if var in owner:
                raise CliError(
                    f"items {owner[var]!r} and {name!r} would both be ${var}; "
                    "choose with --env VAR=ITEM",
                    USAGE,
                    "usage",
                )
            owner[var] = name
            secrets[var] = value
    also_mask = args.runner.secret_values() if args.runner is not None else []
    mask_known = bool(getattr(args, "mask_known", False))
    if mask_known and args.no_mask:
        raise CliError("--mask-known needs masking; drop --no-mask", USAGE, "usage")
    if not ssh_items:
        return run.run(
            command, secrets, mask=not args.no_mask, also_mask=also_mask, mask_known=mask_known
        )
    # A runner's ssh keys: a private SSH agent for the child's lifetime (docs/cli.md).
    from native.sshagent import private

    with private.serving(private.usable_keys(ssh_items)) as agent_socket:
        plain = {"SSH_AUTH_SOCK": agent_socket} if agent_socket else {}
        return run.run(
            command,
            secrets,
            mask=not args.no_mask,
            also_mask=also_mask,
            mask_known=mask_known,
            plain=plain,
        )


def cmd_git_credential(args: argparse.Namespace) -> int:
    from native import gitcred

    attrs = gitcred.parse(sys.stdin.read(1 << 16))
    if args.action != "get":
        # The vault is changed in the browser only; a rejected token must be fixed there.
        if args.action == "erase" and attrs.get("host"):
            print(
                f"zkvault: {attrs['host']} rejected the token; update it in the vault",
                file=sys.stderr,
            )
        return 0
    try:
        answer = request(
            args.runner,
            "credential",
            protocol=attrs.get("protocol", ""),
            host=attrs.get("host", ""),
            path=attrs.get("path"),
        )
    except CliError as exc:
        if exc.exit_code == NOT_FOUND:
            # Not ours: git tries its next helper or prompts, and shows this line.
            print(f"zkvault: {exc.message}", file=sys.stderr)
            return 0
        raise
    sys.stdout.write(gitcred.format_reply(answer["username"], answer["password"]))
    return 0
