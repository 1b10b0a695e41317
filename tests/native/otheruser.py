"""Acting as a second, unprivileged Unix user: what another user of the machine gets from
zkvault's sockets. As root (CI) the user is created when missing and reached with
runuser; as an ordinary user, with passwordless sudo to it where that is allowed."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess

import pytest

OTHER_USER = "zkvault-peer"
SYSTEM_PYTHON = "/usr/bin/python3"  # world-executable, unlike the project's interpreter

# Connects to argv[1] and asks for an item; prints what came of it, in one word.
_PROBE = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
try:
    s.connect(sys.argv[1])
    body = b'{"v":1,"op":"get","name":"ci token"}'
    s.sendall(len(body).to_bytes(4, "big") + body)
    print("reply:" + repr(s.recv(100)))
except OSError as exc:
    print(type(exc).__name__)
"""
# What "connected, then closed on without a byte of answer" looks like.
CLOSED_ON = ("reply:b''", "ConnectionResetError", "BrokenPipeError")


def as_other_user() -> list[str]:
    """The command prefix; skips only where no second user can be reached (never as root)."""
    if os.getuid() == 0:
        try:
            pwd.getpwnam(OTHER_USER)
        except KeyError:
            made = subprocess.run(
                [
                    *("useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent"),
                    *("--shell", "/usr/sbin/nologin", OTHER_USER),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            assert made.returncode in (0, 9), made.stderr  # 9: made meanwhile by another
        return ["runuser", "-u", OTHER_USER, "--"]
    sudo = shutil.which("sudo")
    prefix = [sudo, "-n", "-u", OTHER_USER, "--"] if sudo else []
    if prefix and subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode:
        prefix = []
    if not prefix:
        pytest.skip(f"acting as {OTHER_USER} needs root or passwordless sudo to that user")
    return prefix


def probe(socket_path: str) -> str:
    """What the other user gets from ``socket_path``: an error name, or the reply."""
    assert os.path.exists(SYSTEM_PYTHON), f"{SYSTEM_PYTHON} is needed to act as another user"
    done = subprocess.run(
        [*as_other_user(), SYSTEM_PYTHON, "-I", "-c", _PROBE, socket_path],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd="/",
    )
    assert done.returncode == 0 and done.stdout, done
    return done.stdout.strip()
