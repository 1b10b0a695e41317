"""``zkvault ssh``: one session = one proxy, one ssh process, one log, one optional key.

Order matters for failing closed: the proxy listens before ssh starts and is closed
(its socket removed) the moment ssh exits, whatever happened; the session key is
deleted in the same ``finally``.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import signal
import subprocess
import sys
from typing import Any

from native import consumers, hardening, run
from native.errors import LOCKED, NOT_FOUND, CliError
from native.remote import wrapper
from native.remote.args import USAGE_LINE, SshArgs, parse
from native.remote.audit import AuditLog
from native.remote.confirm import Confirmer
from native.remote.keys import SessionKey
from native.remote.proxy import AgentGone, Proxy
from native.remote.scope import Scope
from native.runner_identity import RunnerIdentity

# First obtained value wins in ssh: these come before the user's options.
_FIXED_OPTIONS = [
    "-o", "ExitOnForwardFailure=yes",  # no forward, no session
    "-o", "SessionType=default",  # a command runs (no -N, -s from a config file) ...
    "-o", "ForkAfterAuthentication=no",  # ... in the foreground (no -f)
    "-o", "ClearAllForwardings=no",
    "-o", "ControlMaster=no",  # a shared master would keep the forward past this session
    "-o", "ControlPath=none",
]  # fmt: skip


def child_environment() -> dict[str, str]:
    """What ssh and the --authorize command get: ours without any ZKVAULT_* variable. (A
    runner's credential left this process's environment when main took it; it stays in
    this process, which answers for it.)"""
    return run.child_environment({})


def cmd_ssh(argv: list[str], runner_id: RunnerIdentity | None = None) -> int:
    args = parse(argv)
    if args.help:
        print(USAGE_LINE + "\nsee docs/remote-builds.md")
        return 0
    if runner_id is None:  # a runner process was hardened by main already
        # Answers pass through this process: keep it as closed as the agent. A failure is
        # said, not fatal: the secrets it handles are the agent's, which anyone of this
        # user may ask for anyway.
        for line in hardening.harden("zkvault ssh").warnings:
            print(f"zkvault: warning: {line}", file=sys.stderr)
    ssh = shutil.which("ssh")
    if ssh is None:
        raise CliError("ssh not found; install OpenSSH's client", NOT_FOUND, "not_found")
    keys = _check_items(args.allow, runner_id)
    session = secrets.token_hex(16)
    command_text = " ".join(args.command)
    audit = AuditLog(session[:12], args.destination, command_text)
    confirmer = Confirmer() if args.confirm else None
    try:
        scope = Scope.of(args.allow, args.allow_hosts, keys)
        proxy = Proxy(scope, args.ttl, audit, confirmer, runner_id)
    except AgentGone:
        audit.close()
        raise CliError(
            "the vault is locked; run `zkvault unlock` first", LOCKED, "locked"
        ) from None
    key = SessionKey(session) if args.session_key else None
    ssh_side = None
    try:
        audit.write(
            "started", items=sorted(args.allow), hosts=sorted(args.allow_hosts), ttl=args.ttl
        )
        local = proxy.bind(session)
        proxy.start()
        options = list(_FIXED_OPTIONS)
        remote_agent = ""
        if scope.keys:  # the shared ssh keys: an SSH agent of the session's own, forwarded
            from native.remote import sshagent

            path = proxy.path.removesuffix(".sock") + "-agent.sock"
            ssh_side = sshagent.open_for(proxy, scope.keys, path)
            remote_agent = wrapper.remote_ssh_agent(session)
            options += ["-R", f"{remote_agent}:{ssh_side.path}"]
        if key is not None:
            assert args.authorize is not None
            key.authorize(args.authorize, key.make(), child_environment())
            options += key.ssh_options()
        remote = wrapper.remote_socket(session)
        return _run_ssh(ssh, options, args, remote, local, confirmer, remote_agent)
    finally:
        if ssh_side is not None:
            ssh_side.close()
        proxy.close("session ended")
        if key is not None:
            key.delete()
        audit.close()


def _check_items(names: list[str], runner_id: RunnerIdentity | None) -> frozenset[str]:
    """Refuse a locked vault, and a typo, now rather than on the builder: every --allow
    must name an item. Returns the allowed ssh-key items (an expired one is said now: it
    will not be offered)."""
    try:
        items = consumers.request(runner_id, "list")["items"]  # the agent, or a runner's grant
    except CliError as exc:
        if exc.code == "locked":
            raise CliError(
                "the vault is locked; run `zkvault unlock` first", LOCKED, "locked"
            ) from None
        raise
    known = {str(i.get("name")) for i in items}
    missing = [n for n in names if n not in known]
    if missing:
        raise CliError(
            f"no item named {missing[0]!r} to allow; `zkvault list` shows the names",
            NOT_FOUND,
            "not_found",
        )
    from native.sshagent.side import expired

    keys = set()
    for item in items:
        name = str(item.get("name"))
        if name not in names or item.get("kind") != "ssh-key":
            continue
        if expired(item.get("expires")):
            print(
                f"zkvault: ssh-key item {name!r} expired on {item.get('expires')}; it is not "
                "offered to the builder (`zkvault edit NAME --expires YYYY-MM-DD` renews it)",
                file=sys.stderr,
            )
        keys.add(name)
    return frozenset(keys)


def _run_ssh(
    ssh: str,
    options: list[str],
    args: SshArgs,
    remote: str,
    local: str,
    confirmer: Confirmer | None,
    remote_agent: str = "",
) -> int:
    argv = [ssh, *options, "-R", f"{remote}:{local}", *args.ssh_options]
    if not args.command and sys.stdin.isatty():
        argv.append("-t")  # an interactive shell, as plain `ssh host` would give
    argv += [args.destination, wrapper.remote_command(remote, args.command, remote_agent)]
    child = subprocess.Popen(argv, env=child_environment())  # noqa: S603 - the user's ssh
    if confirmer is not None:
        confirmer.ssh_pid = child.pid

    def forward(signum: int, frame: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    # ssh gets Ctrl-C from the terminal itself; we must live on to close the proxy.
    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGHUP)}
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
