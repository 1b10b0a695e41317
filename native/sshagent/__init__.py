"""zkvault as an SSH agent: ``ssh-key`` items answered on a socket of their own
(docs/cli.md, "SSH agent")."""

from __future__ import annotations

import os

from native import paths


def socket_path() -> str:
    """The SSH agent socket (SSH_AUTH_SOCK), beside the agent's own."""
    return os.environ.get("ZKVAULT_SSH_AGENT_SOCKET") or os.path.join(
        paths.runtime_dir(), "ssh-agent.sock"
    )
