"""Helpers shared by the native CLI tests: a private environment and a real CLI."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from vault_core import Item, KdfParams, Vault

REPO = Path(__file__).resolve().parents[2]
FAST_KDF = KdfParams(ops=2, mem_kib=19456)  # the floor: keeps Argon2id quick in tests
PASSPHRASE = "correct horse battery staple"


@dataclass
class Env:
    """One isolated machine: its own HOME, state, key and runtime directories."""

    root: Path
    vars: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return Path(self.vars["ZKVAULT_HOME"])

    @property
    def key_dir(self) -> Path:
        return Path(self.vars["ZKVAULT_KEY_DIR"])

    @property
    def runtime(self) -> Path:
        return Path(self.vars["ZKVAULT_RUNTIME_DIR"])

    @property
    def socket(self) -> Path:
        return self.runtime / "agent.sock"

    def zk(
        self,
        *args: str,
        input: str | None = None,
        check: bool = False,
        timeout: float = 30,
        extra: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real CLI (``python -m native``) in this environment."""
        done = subprocess.run(
            [sys.executable, "-m", "native", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**self.vars, **(extra or {})},
            cwd=REPO,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"zkvault {args} -> {done.returncode}: {done.stderr}")
        return done

    def unlock(
        self, *flags: str, passphrase: str = PASSPHRASE, extra: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.zk("unlock", "--passphrase-stdin", *flags, input=passphrase + "\n", extra=extra)

    def agent_pid(self) -> int | None:
        done = self.zk("status", "--json")
        if done.returncode != 0:
            return None
        import json

        return int(json.loads(done.stdout)["pid"])


def git(env: Env, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args],
        env=env.vars,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def make_env() -> Env:
    # Short paths: a unix socket path must fit in 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="zkn"))
    home = root / "h"
    home.mkdir()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ZKVAULT_", "GIT_", "XDG_"))}
    env = Env(
        root,
        {
            **base,
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "ZKVAULT_HOME": str(root / "state"),
            "ZKVAULT_KEY_DIR": str(root / "key"),
            "ZKVAULT_RUNTIME_DIR": str(root / "run"),
            "ZKVAULT_KEYRING": "off",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
        },
    )
    return env


def stop_agent(env: Env) -> None:
    """Lock through the CLI; if that fails, kill whatever agent is left."""
    pid = env.agent_pid()
    env.zk("lock")
    if pid is not None:
        wait_gone(pid, 5)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    shutil.rmtree(env.root, ignore_errors=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes (the agent is reparented to init).
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return not alive(pid)


@dataclass
class VaultFile:
    path: Path
    account_id: uuid.UUID
    secrets: dict[str, str]
    blobs: list[bytes]  # every saved revision, oldest first


ITEMS = [
    Item(
        name="github",
        kind="github",
        url="",
        secret="ghp_" + "A1b2C3d4" * 4,
        username="",
        scopes=("repo",),
    ),
    Item(name="ci token", kind="generic", url="", secret="ci-" + "Zq9" * 10),
    Item(
        name="deploy",
        kind="gitlab",
        url="https://gitlab.example.com/group",
        secret="glpat-" + "xY7" * 7,
        username="deployer",
    ),
]


def make_vault(directory: Path, items: list[Item] | None = None, revisions: int = 1) -> VaultFile:
    """A real vault file, saved ``revisions`` times (each save is one revision)."""
    account = uuid.uuid4()
    vault = Vault.create(account, PASSPHRASE, kdf=FAST_KDF)
    chosen = ITEMS if items is None else items
    for item in chosen:
        vault.add(item)
    blobs = [vault.save() for _ in range(revisions)]
    path = directory / "vault.zkv"
    path.write_bytes(blobs[-1])
    vault.lock()
    return VaultFile(path, account, {i.name: i.secret for i in chosen}, blobs)


def start_pairing(env: Env, *args: str, show: str) -> tuple[subprocess.Popen[str], str, str]:
    """Start `connect` or `runner enroll`; return the process, the first group of ``show`` (a
    multi-line regex for the code or the one-time URL) and the fingerprint it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "native", *args],
        env=env.vars,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    shown = ""
    while "Waiting for approval" not in shown:
        line = proc.stderr.readline()
        assert line, f"pairing ended early: {shown}"
        shown += line
    wanted = re.search(show, shown, re.M)
    fingerprint = re.search(r"fingerprint: (\S+)", shown)
    assert wanted and fingerprint, shown
    return proc, wanted.group(1), fingerprint.group(1)


PROBE = str(REPO / "tests" / "native" / "procprobe.py")


def unprivileged() -> list[str]:
    """A command prefix: this user without root's capabilities. Two processes of an
    ordinary CI user are then what the kernel's same-user checks see (root would read any
    process's /proc files); the suite may run as root, the runners it models do not."""
    if os.getuid() != 0:
        return []
    return ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"]


def write_needles(directory: Path, needles: list[str | bytes]) -> Path:
    """The strings procprobe.py looks for, one per line, in a private file."""
    path = directory / "needles"
    lines = [n if isinstance(n, bytes) else n.encode() for n in needles]
    path.write_bytes(b"\n".join(lines) + b"\n")
    path.chmod(0o600)
    return path
