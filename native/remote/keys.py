"""``--session-key``: a fresh ed25519 key pair for one session, deleted when it ends.

The public key is handed to the ``--authorize`` command (on stdin and in
``$ZKVAULT_SSH_PUBLIC_KEY``), which installs it on the builder however the builder is
provisioned (cloud-init, a CI API, a bootstrap account). The private key never leaves
this machine's private runtime directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess

from native import paths
from native.errors import FAILURE, NOT_FOUND, CliError
from native.fsutil import private_dir


class SessionKey:
    def __init__(self, session: str) -> None:
        self.directory = os.path.join(private_dir(paths.runtime_dir()), f"ssh-key-{session}")
        self.private = os.path.join(self.directory, "id_ed25519")
        self.comment = f"zkvault-ssh-session-{session}"

    def make(self) -> str:
        """Generate the pair; return the public key line."""
        keygen = shutil.which("ssh-keygen")
        if keygen is None:
            raise CliError("ssh-keygen not found; install OpenSSH's client", NOT_FOUND)
        os.mkdir(self.directory, 0o700)
        done = subprocess.run(  # noqa: S603 - fixed arguments
            [keygen, "-q", "-t", "ed25519", "-N", "", "-C", self.comment, "-f", self.private],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise CliError(f"ssh-keygen failed ({done.returncode})", FAILURE, "keygen")
        with open(self.private + ".pub") as public:
            return public.read().strip()

    def authorize(self, command: str, public: str, env: dict[str, str]) -> None:
        done = subprocess.run(  # noqa: S602 - the user's own command, as given to --authorize
            command,
            shell=True,
            input=public + "\n",
            text=True,
            env={**env, "ZKVAULT_SSH_PUBLIC_KEY": public},
            check=False,
        )
        if done.returncode != 0:
            raise CliError(
                f"the --authorize command failed (exit {done.returncode}); nothing was run",
                FAILURE,
                "authorize",
            )

    def ssh_options(self) -> list[str]:
        return ["-i", self.private, "-o", "IdentitiesOnly=yes"]

    def delete(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            size = os.path.getsize(self.private)
            with open(self.private, "r+b") as private:  # overwrite before unlinking
                private.write(b"\0" * size)
        shutil.rmtree(self.directory, ignore_errors=True)
