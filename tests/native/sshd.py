"""A real OpenSSH server for tests: Debian's sshd as the current user, on a free loopback
port, with its own host key, config and authorized key (scripts/bootstrap.sh installs it)."""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import free_port, stop

SSHD = "/usr/sbin/sshd"


@dataclass
class Sshd:
    directory: Path
    port: int
    proc: subprocess.Popen[bytes]
    client_key: Path
    authorized_keys: Path
    known_hosts: Path

    @property
    def destination(self) -> str:
        return f"{getpass.getuser()}@127.0.0.1"

    def client_options(self, *, with_key: bool = True) -> list[str]:
        """What a client needs to reach this server and trust only its host key."""
        options = ["-F", "/dev/null", "-p", str(self.port), "-o", "BatchMode=yes"]
        options += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        options += ["-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR"]
        if with_key:
            options += ["-i", str(self.client_key), "-o", "IdentitiesOnly=yes"]
        return options

    def log(self) -> str:
        return (self.directory / "sshd.log").read_text(errors="replace")


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )


def start_sshd(directory: Path, port: int | None = None, *, extra: tuple[str, ...] = ()) -> Sshd:
    """``port``: one of free_ports() when several servers start together; ``extra``: more
    sshd_config lines (a ForceCommand, say)."""
    if os.getuid() == 0:
        # sshd refuses to start as root without its privilege separation directory, which
        # the package's init script would create (no init system runs here).
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    port = port or free_port()
    _keygen(directory / "host_key")
    _keygen(directory / "client_key")
    authorized = directory / "authorized_keys"
    authorized.write_bytes((directory / "client_key.pub").read_bytes())
    authorized.chmod(0o600)
    host_public = (directory / "host_key.pub").read_text().strip()
    known = directory / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {host_public}\n")
    config = directory / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {directory / 'host_key'}",
                f"AuthorizedKeysFile {authorized}",
                "UsePAM no",
                "StrictModes no",  # the temporary directory's modes are not a home's
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "AllowStreamLocalForwarding yes",
                "PidFile none",
                "LogLevel VERBOSE",
                *extra,
                "",
            ]
        )
    )
    with (directory / "sshd.log").open("ab") as log:
        proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((directory / "sshd.log").read_text()[-2000:])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                if conn.recv(8).startswith(b"SSH-2.0"):
                    break
        except OSError:
            time.sleep(0.05)
    else:
        stop(proc)
        raise RuntimeError("sshd did not come up")
    return Sshd(directory, port, proc, directory / "client_key", authorized, known)


def make_builder(root: Path) -> Path:
    """The builder: its own home/ and tmp/, and bin/env.sh that runs a command there."""
    builder = root / "builder"
    for sub in ("home", "tmp", "bin"):
        (builder / sub).mkdir(parents=True)
    venv_bin = Path(sys.executable).parent
    # Only what a build machine would have; the one zkvault variable is passed through.
    (builder / "bin" / "env.sh").write_text(
        "#!/bin/sh\n"
        f"exec env -i HOME={builder / 'home'} TMPDIR={builder / 'tmp'} "
        f"PATH={venv_bin}:/usr/bin:/bin "
        'ZKVAULT_AGENT_SOCKET="${ZKVAULT_AGENT_SOCKET:-}" '
        "ZKVAULT_KEYRING=off GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 "
        'PYTHONDONTWRITEBYTECODE=1 "$@"\n'
    )
    (builder / "bin" / "env.sh").chmod(0o755)
    return builder
