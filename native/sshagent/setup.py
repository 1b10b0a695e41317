"""``zkvault ssh-agent setup`` and ``zkvault git setup --signing NAME``.

Both read the public keys from the running agent's SSH socket (the item name is each
key's comment) and the hosts and users from its item list: no private key is read here,
and nothing written holds one.

The right key for the right host (docs/cli.md, "SSH agent"): for every host an ssh-key
item names, ``~/.ssh/zkvault/config`` gets a ``Host`` block with ``IdentityAgent`` (this
socket), one ``IdentityFile`` per key (a public-key stub, ``~/.ssh/zkvault/<hash>.pub``)
and ``IdentitiesOnly yes``: ssh then offers those keys alone, first, so a server that
allows few attempts (MaxAuthTries) never sees the other keys.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import socket
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from native import client
from native.errors import FAILURE, LOCKED, NOT_FOUND, USAGE, CliError
from native.fsutil import private_dir
from native.sshagent import socket_path
from vault_core import sshkeys

INCLUDE_WORD = "Include"
PROFILE_MARK = "# zkvault ssh-agent"


@dataclass(frozen=True)
class Key:
    name: str
    blob: bytes
    hosts: tuple[str, ...]
    username: str

    @property
    def stub_name(self) -> str:
        return hashlib.sha256(self.blob).hexdigest()[:16] + ".pub"

    @property
    def public_line(self) -> str:
        return sshkeys.public_line(self.blob, self.name)


def agent_identities(path: str | None = None) -> list[tuple[bytes, str]]:
    """REQUEST_IDENTITIES on zkvault's SSH socket: (public blob, item name) pairs."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10.0)
    try:
        sock.connect(path or socket_path())
        sock.sendall(struct.pack(">IB", 1, 11))
        header = _recv(sock, 4)
        body = _recv(sock, struct.unpack(">I", header)[0])
    except OSError:
        raise CliError(
            "the vault is locked; run `zkvault unlock` first", LOCKED, "locked"
        ) from None
    finally:
        sock.close()
    if body[:1] != b"\x0c":
        raise CliError("the SSH agent refused to list keys", FAILURE, "ssh_agent")
    count, pos, found = struct.unpack(">I", body[1:5])[0], 5, []
    for _ in range(count):
        parts = []
        for _ in range(2):
            (n,) = struct.unpack(">I", body[pos : pos + 4])
            parts.append(body[pos + 4 : pos + 4 + n])
            pos += 4 + n
        found.append((parts[0], parts[1].decode("utf-8", "replace")))
    return found


def _recv(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data


def expired_notes(listed: list[dict[str, Any]]) -> list[str]:
    """One line per expired ssh-key item: the agent neither lists nor uses it."""
    from native.sshagent.side import expired

    return [
        f"# not offered: {i['name']!r} expired on {i['expires']} "
        "(`zkvault edit NAME --expires YYYY-MM-DD` renews it)"
        for i in listed
        if i.get("kind") == "ssh-key" and expired(i.get("expires"))
    ]


def vault_keys(listed: list[dict[str, Any]] | None = None) -> list[Key]:
    if listed is None:
        listed = client.request("list").get("items", [])
    by_name: dict[str, list[dict[str, Any]]] = {}
    for info in listed:
        if info.get("kind") == "ssh-key":
            by_name.setdefault(info["name"], []).append(info)
    keys = []
    for blob, name in agent_identities():
        info = _item_of(blob, by_name.get(name, []))
        keys.append(
            Key(name, blob, tuple(sshkeys.hosts(info.get("url", ""))), info.get("username", ""))
        )
    return keys


def _item_of(blob: bytes, listed: list[dict[str, Any]]) -> dict[str, Any]:
    """The listed item holding the key ``blob``. A team's key is listed as TEAM/NAME, which
    a personal item may also be called: a name alone could lend one key the host another
    (chosen by a team writer) names, so the item's own fingerprint decides."""
    wanted = sshkeys.fingerprint(blob)
    for info in listed:
        team = info.get("vault")
        name = info["name"].removeprefix(f"{team}/") if team else info["name"]
        held = client.request("get", name=name, field="fingerprint", vault=team or "personal")
        if held.get("value") == wanted:
            return info
    return {}


def _quote(path: str) -> str:
    return f'"{path}"' if " " in path else path


def ssh_config(keys: list[Key], agent_path: str, stub_dir: str) -> str:
    """The text of ~/.ssh/zkvault/config: one block per host, keys in item-name order."""
    by_host: dict[str, list[Key]] = {}
    for key in sorted(keys, key=lambda k: k.name):
        for host in key.hosts:
            by_host.setdefault(host, []).append(key)
    lines = ["# Written by `zkvault ssh-agent setup`; run it again after adding keys."]
    for host, host_keys in by_host.items():
        lines += [f"Host {host}", f"    IdentityAgent {_quote(agent_path)}"]
        lines += [
            f"    IdentityFile {_quote(os.path.join(stub_dir, k.stub_name))}" for k in host_keys
        ]
        lines.append("    IdentitiesOnly yes")
        user = next((k.username for k in host_keys if k.username), "")
        if user:
            lines.append(f"    User {user}")
    return "\n".join(lines) + "\n"


def _write(path: str, text: str, mode: int = 0o644) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w") as out:
        out.write(text)
    os.replace(tmp, path)


def cmd_setup(args: argparse.Namespace) -> int:
    home = os.path.expanduser("~")
    ssh_dir = os.path.join(home, ".ssh")
    stub_dir = os.path.join(ssh_dir, "zkvault")
    agent_path = socket_path()
    listed = client.request("list").get("items", [])
    keys = vault_keys(listed)
    config = ssh_config(keys, agent_path, stub_dir)
    profile_line = f"export SSH_AUTH_SOCK={_quote(agent_path)}  {PROFILE_MARK}"
    profile = args.profile or os.path.join(home, ".profile")
    # Absolute: ssh expands ~ with the password database's home, which $HOME may not be.
    include = f"{INCLUDE_WORD} {_quote(os.path.join(stub_dir, 'config'))}"
    print(f"# for your shell ({profile}): ssh-add, git signing and any host below")
    print(profile_line)
    print(f"# first line of {os.path.join(ssh_dir, 'config')}:")
    print(include)
    print(f"# {os.path.join(stub_dir, 'config')}:")
    print(config, end="")
    for key in keys:
        print(f"# {os.path.join(stub_dir, key.stub_name)}: {key.public_line}")
    for line in expired_notes(listed):
        print(line)
    if not args.write:
        print("# nothing written; `zkvault ssh-agent setup --write` writes these files")
        return 0
    private_dir(ssh_dir)
    private_dir(stub_dir)
    wanted = {k.stub_name for k in keys}
    for name in os.listdir(stub_dir):  # stubs of keys no longer in the vault
        if name.endswith(".pub") and name not in wanted:
            os.unlink(os.path.join(stub_dir, name))
    for key in keys:
        _write(os.path.join(stub_dir, key.stub_name), key.public_line + "\n")
    _write(os.path.join(stub_dir, "config"), config)
    user_config = os.path.join(ssh_dir, "config")
    old = Path(user_config).read_text() if os.path.exists(user_config) else ""
    if include not in old.splitlines():
        _write(user_config, f"{include}\n{old}", 0o600)
    old = Path(profile).read_text() if os.path.exists(profile) else ""
    kept = [line for line in old.splitlines() if not line.endswith(PROFILE_MARK)]
    _write(profile, "\n".join([*kept, profile_line]) + "\n")
    print(f"# written: {stub_dir}, {user_config}, {profile}")
    return 0


# -- git commit and tag signing ----------------------------------------------


def _git(scope: str, *words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        ["git", "config", scope, *words],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )


def allowed_signers_path() -> str:
    from native import paths

    return os.path.join(paths.state_dir(), "allowed_signers")


def cmd_signing(args: argparse.Namespace) -> int:
    """gpg.format=ssh, user.signingkey = key::<public key> (no file holds a private key),
    and an allowed-signers file so git verify-commit and verify-tag check it."""
    scope = f"--{args.scope or 'global'}"
    found = [blob for blob, name in agent_identities() if name == args.signing]
    if not found:
        raise CliError(
            f"no ssh-key item named {args.signing!r} in the unlocked vault", NOT_FOUND, "not_found"
        )
    public = sshkeys.public_line(found[0])
    email = args.email or _git(scope, "--get", "user.email").stdout.strip()
    if not email:
        email = _git("--includes", "--get", "user.email").stdout.strip()
    if not email or any(c.isspace() for c in email):
        raise CliError(
            "give --email (the committer address the allowed-signers file names)",
            USAGE,
            "no_email",
        )
    signers = allowed_signers_path()
    private_dir(os.path.dirname(signers))
    entry = f'{email} namespaces="git" {public}'
    old = Path(signers).read_text().splitlines() if os.path.exists(signers) else []
    if entry not in old:
        _write(signers, "\n".join([*old, entry]) + "\n")
    for key, value in (
        ("gpg.format", "ssh"),
        ("user.signingkey", f"key::{public}"),
        ("gpg.ssh.allowedSignersFile", signers),
    ):
        done = _git(scope, key, value)
        if done.returncode != 0:
            raise CliError(
                f"git config failed: {done.stderr.strip() or done.returncode}",
                FAILURE,
                "git_config",
            )
    if getattr(args, "json", False):
        import json

        answer = {
            "ok": True,
            "scope": scope[2:],
            "signing": args.signing,
            "signing_key": f"key::{public}",
            "allowed_signers_file": str(signers),
            "ssh_auth_sock": socket_path(),
        }
        print(json.dumps(answer, separators=(",", ":")))
        return 0
    print(f"git ({scope[2:]}) signs with {args.signing!r} through zkvault's SSH agent:")
    print(f"  user.signingkey = key::{public}")
    print(f"  gpg.ssh.allowedSignersFile = {signers}")
    print(f"  SSH_AUTH_SOCK must be {socket_path()} (`zkvault ssh-agent setup`)")
    print("sign with `git commit -S` and `git tag -s`; git config commit.gpgsign true signs all")
    return 0
