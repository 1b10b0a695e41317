"""The command line itself: help, usage errors, shell completion."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.native.support import REPO, Env

COMMANDS = [
    "connect",
    "adopt",
    "import",
    "scan",
    "unlock",
    "lock",
    "status",
    "list",
    "get",
    "add",
    "edit",
    "rename",
    "rm",
    "rotate",
    "run",
    "doctor",
    "git-credential",
    "git",
    "runner",
    "web",
    "audit",
    "completion",
    "identity",
    "contacts",
    "team",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(env: Env, command: str) -> None:
    done = env.zk(command, "--help")
    assert done.returncode == 0 and done.stdout.startswith(f"usage: zkvault {command}")
    assert done.stderr == ""


def test_usage_errors_exit_2_without_traceback(env: Env) -> None:
    for args in ([], ["get"], ["git-credential", "fetch"], ["unlock", "--bogus"]):
        done = env.zk(*args)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert done.stderr.startswith("usage: zkvault")


def test_bash_completion_script_loads_and_completes() -> None:
    script = (
        f'zkvault() {{ "{sys.executable}" -m native "$@"; }}\n'
        'eval "$(zkvault completion bash)"\n'
        'COMP_WORDS=(zkvault g); COMP_CWORD=1; _zkvault; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault get --field u); COMP_CWORD=3; _zkvault; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault --cred); COMP_CWORD=1; _zkvault; echo "${COMPREPLY[*]}"\n'
        "COMP_WORDS=(zkvault --credential-file f.txt r); COMP_CWORD=3; _zkvault;"
        ' echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault ssh --allow-h); COMP_CWORD=2; _zkvault; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault w); COMP_CWORD=1; _zkvault; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault web v); COMP_CWORD=2; _zkvault; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault unlock --con); COMP_CWORD=2; _zkvault; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault au); COMP_CWORD=1; _zkvault; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault audit verify --e); COMP_CWORD=3; _zkvault; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault add x --k); COMP_CWORD=3; _zkvault; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault edit x --kind gitl); COMP_CWORD=4; _zkvault; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault rm x --y); COMP_CWORD=3; _zkvault; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault completion z); COMP_CWORD=2; _zkvault; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault add k --gen); COMP_CWORD=3; _zkvault; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault add k --type r); COMP_CWORD=4; _zkvault; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault add k --kind ss); COMP_CWORD=4; _zkvault; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault get k --field pu); COMP_CWORD=4; _zkvault; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault te); COMP_CWORD=1; _zkvault; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault team inv); COMP_CWORD=2; _zkvault; echo "${COMPREPLY[*]}"\n'
        "COMP_WORDS=(zkvault team invite ops a@b --role w); COMP_CWORD=6; _zkvault;"
        ' echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault team role ops a@b r); COMP_CWORD=5; _zkvault; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault get k --v); COMP_CWORD=3; _zkvault; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(zkvault contacts v); COMP_CWORD=2; _zkvault; echo "${COMPREPLY[*]}"\n'
    )
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, cwd=REPO, timeout=30, check=False
    )
    assert done.stdout.splitlines() == [
        "get git-credential git",
        "username url",
        "--credential-file",
        "rename rm rotate run runner",
        "--allow-host",
        "web",
        "verify",
        "--confirm",
        "audit",
        "--export",
        "--kind",
        "gitlab",
        "--yes",
        "zsh",
        "--generate",
        "rsa",
        "ssh-key",
        "public-key",
        "team",
        "invite invitations",
        "writer",
        "reader",
        "--vault",
        "verify",
    ], done.stderr
