"""native.paths finds the agent's socket without ``os`` as os would have found it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from native import paths
from tests.native.support import REPO


def _old_socket_path(environ: dict[str, str]) -> str:
    """native.paths.socket_path as it was, on os.path and os.environ."""
    explicit = environ.get("ZKVAULT_RUNTIME_DIR")
    if explicit:
        runtime = explicit
    else:
        xdg = environ.get("XDG_RUNTIME_DIR", "")
        if xdg and os.path.isabs(xdg):
            runtime = os.path.join(xdg, "zkvault")
        else:
            runtime = f"/tmp/zkvault-{os.getuid()}"
    return environ.get("ZKVAULT_AGENT_SOCKET") or os.path.join(runtime, "agent.sock")


CASES = [
    {},
    {"ZKVAULT_AGENT_SOCKET": "/fwd/agent.sock", "ZKVAULT_RUNTIME_DIR": "/r"},
    {"ZKVAULT_RUNTIME_DIR": "/r"},
    {"ZKVAULT_RUNTIME_DIR": "/r/"},
    {"ZKVAULT_RUNTIME_DIR": "relative"},
    {"ZKVAULT_RUNTIME_DIR": "", "XDG_RUNTIME_DIR": "/run/user/1"},
    {"XDG_RUNTIME_DIR": "/run/user/1/"},
    {"XDG_RUNTIME_DIR": "relative/dir"},
    {"XDG_RUNTIME_DIR": "/"},
    {"ZKVAULT_AGENT_SOCKET": ""},
]


@pytest.mark.parametrize("extra", CASES)
def test_socket_path_is_the_old_one(monkeypatch: pytest.MonkeyPatch, extra: dict[str, str]) -> None:
    for name in ("ZKVAULT_AGENT_SOCKET", "ZKVAULT_RUNTIME_DIR", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    assert paths.socket_path() == _old_socket_path(dict(os.environ))


def test_without_os_the_environment_reads_as_os_environ_would() -> None:
    # Read before os is imported (posix.environ), then through os.environ: the same,
    # for a value that is not UTF-8 too (os decodes it with surrogateescape).
    code = (
        "import sys; from native import paths; "
        "names = ('ZK_T_ASCII', 'ZK_T_UTF8', 'ZK_T_BYTES', 'ZK_T_EMPTY', 'ZK_T_UNSET'); "
        "before = [paths.getenv(n) for n in names]; "
        "assert 'os' not in sys.modules, 'os was imported'; "
        "import os; print(before == [os.environ.get(n) for n in names], "
        "before[2] == os.fsdecode(b'caf\\xe9'))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZK_T_")}
    env.update({"ZK_T_ASCII": "plain", "ZK_T_UTF8": "café 中", "ZK_T_EMPTY": ""})
    env_bytes = {k.encode(): v.encode() for k, v in env.items()}
    env_bytes[b"ZK_T_BYTES"] = b"caf\xe9"
    done = subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=REPO,
        env=env_bytes,  # bytes keys and values: POSIX takes them as they are
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
