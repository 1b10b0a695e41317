"""The command ssh runs on the builder: check the forwarded socket, name it in ONE
environment variable, run the user's command, remove the socket afterwards. When the
session shares ssh-key items, a second forwarded socket (an SSH agent offering only
those keys) is checked the same way and named in SSH_AUTH_SOCK.

Run by the builder's login shell as ``exec /bin/sh -c SCRIPT zkvault-ssh [COMMAND]``,
so it is POSIX sh whatever that login shell is, and needs nothing from sshd's
AcceptEnv. COMMAND is run with ``eval`` (as ssh itself hands a command to a shell).
"""

from __future__ import annotations

import shlex

ENV_VAR = "ZKVAULT_AGENT_SOCKET"
REMOTE_DIR = "/tmp"  # noqa: S108 - a random, unguessable name; checked ours and 0600 below
SOCKET_MISSING = 5  # the remote check failed: no forward, or a socket not ours

_SCRIPT = """S={socket}
A={agent}
for s in "$S" ${{A:+"$A"}}; do
  if [ ! -S "$s" ] || [ ! -O "$s" ]; then
    echo "zkvault: the forwarded agent socket $s is missing or not yours; nothing was run" >&2
    exit {missing}
  fi
  chmod 600 "$s" || exit {missing}
done
trap 'rm -f "$S" ${{A:+"$A"}}' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
{var}=$S
export {var}
if [ -n "$A" ]; then SSH_AUTH_SOCK=$A; export SSH_AUTH_SOCK; fi
if [ "$#" -gt 0 ]; then eval "$1"; else "${{SHELL:-/bin/sh}}" -l; fi"""


def remote_socket(session: str) -> str:
    return f"{REMOTE_DIR}/zkvault-ssh-{session}.sock"


def remote_ssh_agent(session: str) -> str:
    """Where the session's SSH agent (its shared ssh-key items) appears on the builder."""
    return f"{REMOTE_DIR}/zkvault-ssh-{session}-agent.sock"


def remote_command(socket_path: str, command: list[str], agent_path: str = "") -> str:
    script = _SCRIPT.format(
        socket=shlex.quote(socket_path),
        agent=shlex.quote(agent_path) if agent_path else "",
        missing=SOCKET_MISSING,
        var=ENV_VAR,
    )
    words = ["exec", "/bin/sh", "-c", shlex.quote(script), "zkvault-ssh"]
    if command:
        # As ssh does: the words joined by spaces are the command line for the shell.
        words.append(shlex.quote(" ".join(command)))
    return " ".join(words)
