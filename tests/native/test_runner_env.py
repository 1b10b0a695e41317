"""A runner's credential stays in the runner process: taken first thing from a file, an
inherited descriptor or the environment, scrubbed, the process hardened, and never handed
to a child. `zkvault run` masks the credential, its key seed and every secret in their
encoded forms. The /proc checks run as an unprivileged user (support.unprivileged), as a
CI runner's processes do: a process of the same user started before the runner, the
command `run` starts, and a hardening step that fails."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from native.runner import RunnerCredential
from tests.native.serverproc import Server, enrol_granted_runner, start_server
from tests.native.support import (
    ITEMS,
    PROBE,
    REPO,
    Env,
    unprivileged,
    write_needles,
)
from tests.native.test_server import new_vault
from tests.support.leaks import scan
from vault_core.b64url import b64url_encode

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runner() -> Iterator[tuple[Server, str]]:
    """A server and the credential of a runner granted the `github` item."""
    from tests.native.serverproc import Owner
    from tests.native.support import make_env

    server = start_server()
    try:
        owner = Owner(server)
        vault, _ = new_vault(owner)
        credential, _ = enrol_granted_runner(
            make_env(), owner, vault, server.url, "ci-env", ["github"]
        )
        yield server, credential
    finally:
        server.stop()


def _needles(env: Env, credential: str) -> Path:
    decoded = RunnerCredential.decode(credential)
    seed = b64url_encode(decoded.seed)
    return write_needles(env.root, [credential, decoded.credential, seed, decoded.seed.hex()])


# The command `run` starts: its environment, then what it can read of its parent.
CHILD = (
    "import json, os, sys; print(json.dumps(dict(os.environ)), flush=True); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


def test_run_hands_the_command_no_credential_in_any_form(
    env: Env, runner: tuple[Server, str]
) -> None:
    _, credential = runner
    needles = _needles(env, credential)
    ran = subprocess.run(
        [
            *(*unprivileged(), sys.executable, "-m", "native", "run", "--no-mask", "--"),
            *(sys.executable, "-c", CHILD, PROBE, str(needles), "parent"),
        ],
        env={**env.vars, "ZKVAULT_RUNNER_CREDENTIAL": credential},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    child_env, parent = (json.loads(line) for line in ran.stdout.splitlines())
    assert [k for k in child_env if k.startswith("ZKVAULT_")] == []
    assert child_env["GITHUB"] == ITEMS[0].secret  # the secret asked for is there
    decoded = RunnerCredential.decode(credential)
    hits = scan(
        {"child env": json.dumps(child_env).encode()},
        {"credential": credential, "server credential": decoded.credential, "seed": decoded.seed},
    )
    assert hits == [], hits
    # Its parent, the runner process, is closed to it: environment, memory, descriptors.
    assert (parent["environ"], parent["mem"]) == ("PermissionError", "PermissionError"), parent
    assert not any(str(v).startswith("LEAK") for v in parent["fd"].values()), parent


# The command of the runner below: names its parent (the runner process) and itself and the
# pipes it holds, then waits until the test is done looking.
HOLD = """
import os, sys
pipes = []
for fd in os.listdir("/proc/self/fd"):
    try:
        if os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
            pipes.append(os.fstat(int(fd)).st_ino)
    except OSError:  # the listing's own descriptor, closed by now
        pass
print(os.getppid(), os.getpid(), *pipes, flush=True)
sys.stdin.read()
"""


@pytest.mark.parametrize("source", ["environment", "descriptor", "file"])
def test_a_leftover_process_of_the_same_user_reads_nothing(
    env: Env, runner: tuple[Server, str], source: str
) -> None:
    """A process left over from an earlier build step, started before the runner command,
    looks at it once it runs its command; and the command holds no credential pipe."""
    _, credential = runner
    needles = _needles(env, credential)
    extra: dict[str, str] = {}
    flag: list[str] = []
    pass_fds: tuple[int, ...] = ()
    pipe_inode = -1
    if source == "environment":
        extra["ZKVAULT_RUNNER_CREDENTIAL"] = credential
    elif source == "descriptor":
        read_end, write_end = os.pipe()
        os.write(write_end, credential.encode() + b"\n")
        os.close(write_end)
        pipe_inode = os.fstat(read_end).st_ino
        pass_fds = (read_end,)
        extra["ZKVAULT_RUNNER_CREDENTIAL_FD"] = str(read_end)
    else:
        path = env.root / "credential"
        path.write_text(credential + "\n")
        path.chmod(0o600)
        flag = ["--credential-file", str(path)]
    leftover = subprocess.Popen(
        [*unprivileged(), sys.executable, PROBE, str(needles), "--wait"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    run = None
    try:
        assert leftover.stdin is not None and leftover.stdout is not None
        assert leftover.stdout.readline() == "ready\n"
        run = subprocess.Popen(
            [
                *(*unprivileged(), sys.executable, "-m", "native", *flag, "run", "--no-mask"),
                *("--", sys.executable, "-c", HOLD),
            ],
            env={**env.vars, **extra},
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            pass_fds=pass_fds,
        )
        assert run.stdout is not None and run.stdin is not None
        line = run.stdout.readline()  # the command runs: the runner's start is behind it
        assert line, run.communicate(timeout=30)
        runner_pid, command_pid, *command_pipes = (int(w) for w in line.split())
        looked = []
        for pid in (runner_pid, command_pid):
            leftover.stdin.write(f"{pid}\n")
            leftover.stdin.flush()
            looked.append(json.loads(leftover.stdout.readline()))
        seen_runner, seen_command = looked
        assert pipe_inode not in command_pipes  # the credential's pipe was not inherited
    finally:
        if pass_fds:
            os.close(pass_fds[0])
        leftover.kill()
        leftover.wait()
        if run is not None:
            run.communicate(timeout=30)
    assert run.returncode == 0
    assert seen_runner["environ"] == "PermissionError", seen_runner
    assert seen_runner["mem"] == "PermissionError", seen_runner
    assert not any(str(v).startswith("LEAK") for v in seen_runner["fd"].values()), seen_runner
    # The leftover can read a process of its user that is not hardened: the command's
    # environment, which holds the granted secret but nothing of the credential.
    assert seen_command["environ"] == "clean", seen_command


def test_run_masks_secrets_and_the_credential_in_encoded_forms(
    env: Env, runner: tuple[Server, str]
) -> None:
    _, credential = runner
    token = ITEMS[0].secret
    seed = RunnerCredential.decode(credential).seed
    script = (
        "import base64, os, sys, urllib.parse\n"
        "t = os.environ['GITHUB'].encode()\n"
        "print(base64.b64encode(b'x-access-token:' + t).decode())\n"
        "print(urllib.parse.quote(t.decode() + '/&=', safe=''))\n"
        f"print({credential!r})\n"
        f"print({b64url_encode(seed)!r}, {seed.hex()!r})\n"
    )
    ran = env.zk(
        "run",
        "--",
        sys.executable,
        "-c",
        script,
        extra={"ZKVAULT_RUNNER_CREDENTIAL": credential},
    )
    assert ran.returncode == 0, ran.stderr
    out = ran.stdout.encode()
    for leaked in (
        base64.b64encode(token.encode())[4:-4],
        quote(token, safe="").encode(),
        credential.encode(),
        b64url_encode(seed).encode(),
        seed.hex().encode(),
    ):
        assert leaked not in out, ran.stdout
    assert out.count(b"****") >= 5


def _as_runner(
    env: Env,
    *args: str,
    extra: dict[str, str],
    prelude: str = "",
    pass_fds: tuple[int, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """``zkvault ARGS`` as the installed script runs it, after ``prelude`` (a sandbox that
    refuses a hardening step, say)."""
    code = f"{prelude}\nimport sys\nfrom native.cli import main\nsys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**env.vars, **extra},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        pass_fds=pass_fds,
    )


def test_credential_file_open_to_others_is_refused(env: Env, runner: tuple[Server, str]) -> None:
    _, credential = runner
    path = env.root / "credential"
    path.write_text(credential + "\n")
    path.chmod(0o640)
    use = {"ZKVAULT_RUNNER_CREDENTIAL_FILE": str(path)}
    refused = env.zk("get", "github", extra=use)
    assert refused.returncode == 5, refused.stderr
    assert refused.stderr == (
        f"zkvault: the runner credential file {path} is open to other users (mode 0640, "
        f"owner uid {os.getuid()}); make it yours and `chmod 600` it\n"
    )
    assert refused.stdout == ""
    path.chmod(0o600)
    got = env.zk("get", "github", extra=use)
    assert (got.returncode, got.stdout) == (0, ITEMS[0].secret + "\n"), got.stderr
    missing = env.zk("--credential-file", str(env.root / "none"), "get", "github")
    assert missing.returncode == 2 and "cannot read the runner credential file" in missing.stderr
    both = env.zk("get", "github", extra={**use, "ZKVAULT_RUNNER_CREDENTIAL": credential})
    assert both.returncode == 2 and "one way only" in both.stderr


def test_credential_from_an_inherited_descriptor(env: Env, runner: tuple[Server, str]) -> None:
    _, credential = runner
    read_end, write_end = os.pipe()
    try:
        # One line, the writer still open (a secret tool feeding a pipe): a line is enough.
        os.write(write_end, credential.encode() + b"\n")
        got = _as_runner(
            env,
            "get",
            "github",
            extra={"ZKVAULT_RUNNER_CREDENTIAL_FD": str(read_end)},
            pass_fds=(read_end,),
        )
    finally:
        os.close(read_end)
        os.close(write_end)
    assert (got.returncode, got.stdout) == (0, ITEMS[0].secret + "\n"), got.stderr
    bad = env.zk("get", "github", extra={"ZKVAULT_RUNNER_CREDENTIAL_FD": "1"})
    assert bad.returncode == 2
    assert bad.stderr == (
        "zkvault: ZKVAULT_RUNNER_CREDENTIAL_FD must name an open file descriptor, 3 or above\n"
    )


def test_a_failed_hardening_step_is_reported_never_swallowed(
    env: Env, runner: tuple[Server, str]
) -> None:
    _, credential = runner
    extra = {"ZKVAULT_RUNNER_CREDENTIAL": credential}
    no_prctl = "import ctypes\ndef refuse(*a, **k):\n    raise OSError('no')\nctypes.CDLL = refuse"
    refused = _as_runner(env, "get", "github", extra=extra, prelude=no_prctl)
    assert refused.returncode == 5 and refused.stdout == "", refused.stderr
    assert refused.stderr == (
        "zkvault: hardening: could not mark this runner process undumpable (no prctl on this "
        "system); other processes of this user may read its memory; refusing to hold the "
        "runner credential (docs/cli.md, Runners)\n"
    )
    no_rlimit = "import resource\ndef refuse(*a):\n    raise OSError('no')\n"
    no_rlimit += "resource.setrlimit = refuse"
    warned = _as_runner(env, "status", "--json", extra=extra, prelude=no_rlimit)
    assert warned.returncode == 0, warned.stderr
    line = (
        "hardening: core dumps could not be disabled (OSError); other processes of this user "
        "may read its memory"
    )
    assert warned.stderr == f"zkvault: warning: {line}\n"
    assert json.loads(warned.stdout)["warnings"] == [line]
