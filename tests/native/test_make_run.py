"""`make run` stops cleanly whichever process gets SIGINT or SIGTERM: make, the script,
or the server alone. Run from a temporary copy of the repository's Makefile and
scripts/run.sh (set-up steps stubbed: they are tested by the fresh-clone run), with
free ports and the real IdP and server processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import ROOT, free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def copy(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "tools").mkdir()
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(ROOT / "scripts" / "run.sh", tmp_path / "scripts" / "run.sh")
    (tmp_path / "scripts" / "bootstrap.sh").write_text("#!/bin/sh\nexit 0\n")
    (tmp_path / "scripts" / "bootstrap.sh").chmod(0o755)
    (tmp_path / "tools" / "build_web.py").write_text("")
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    yield tmp_path


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _comm(pid: int) -> str:
    """A process's command line; "" if it has ended meanwhile (run.sh starts short-lived
    helpers, a `sleep` among them)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.parametrize(
    ("target", "sig"),
    [
        ("make", signal.SIGINT),
        ("make", signal.SIGTERM),
        ("script", signal.SIGINT),
        ("server", signal.SIGTERM),
        ("server", signal.SIGINT),
    ],
)
def test_make_run_stops_cleanly(copy: Path, target: str, sig: signal.Signals) -> None:
    port, idp_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZKVAULT_")}
    env |= {
        "ZKVAULT_PORT": str(port),
        "ZKVAULT_DEV_IDP_PORT": str(idp_port),
        "ZKVAULT_DATABASE_URL": f"sqlite:///{copy / 'var' / 'zkvault.sqlite3'}",
    }
    make = subprocess.Popen(
        ["make", "-s", "run"],
        cwd=copy,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # nothing reaches it but the signal this test sends
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert make.poll() is None and time.monotonic() < deadline, "make run did not start"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        (script,) = _children(make.pid)
        services = {p: _comm(p) for p in _children(script)}
        (server,) = [p for p, cmd in services.items() if "zkvault-server" in cmd]
        (idp,) = [p for p, cmd in services.items() if "oidc_provider_mock" in cmd]
        os.kill({"make": make.pid, "script": script, "server": server}[target], sig)
        make.wait(30)
        gone = time.monotonic() + 10
        while any(_alive(p) for p in (script, server, idp)) and time.monotonic() < gone:
            time.sleep(0.1)
        assert not [p for p in (script, server, idp) if _alive(p)]
        for p in (port, idp_port):
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://127.0.0.1:{p}/", timeout=1)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait(5)
