"""``zkvault git setup``: make git ask zkvault for credentials."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys

from native.errors import FAILURE, CliError


def helper_command() -> str:
    """How git should call us: this interpreter without ``site`` on native/fast.py, which
    needs only the standard library and this package (docs/performance.md, "Start-up
    without site": about half the helper's time); the installed script if this
    interpreter cannot find the package by itself.

    git runs ``store`` after every successful use; answering that from the shell
    saves a Python start-up per fetch (the vault is never changed from git).
    """
    fast = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fast.py")
    exe = shutil.which("zkvault")
    if os.path.isfile(fast) and sys.executable:
        command = f"{shlex.quote(sys.executable)} -S {shlex.quote(fast)} git-credential"
    elif exe:
        command = f"{shlex.quote(os.path.abspath(exe))} git-credential"
    else:
        command = f"{shlex.quote(sys.executable)} -m native git-credential"
    return f'!f() {{ case "$1" in get|erase) exec {command} "$1";; *) cat >/dev/null;; esac; }}; f'


def cmd_setup(args: argparse.Namespace) -> int:
    scope = f"--{args.scope or 'global'}"
    helper = helper_command()
    for key, value in (("credential.helper", helper),):
        done = subprocess.run(  # noqa: S603
            ["git", "config", scope, "--replace-all", key, value, "git-credential"],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise CliError(
                f"git config failed: {done.stderr.strip() or done.returncode}",
                FAILURE,
                "git_config",
            )
    if getattr(args, "json", False):
        import json

        answer = {"ok": True, "scope": scope[2:], "credential_helper": helper}
        print(json.dumps(answer, separators=(",", ":")))
        return 0
    print(f"git ({scope[2:]}) now asks zkvault for credentials: credential.helper = {helper}")
    print("for per-repository tokens also run: git config --global credential.useHttpPath true")
    return 0
