"""``zkvault add NAME --kind ssh-key --generate | --import FILE``: the key is made or read in
the CLI process and stored through the agent's write request, as any secret is (docs/cli.md,
"SSH agent", "Adding keys from the CLI").

Only the public key and its fingerprint are printed. An import file's passphrase is asked
without echo (or read from the first line of stdin with ``--passphrase-stdin``), used once
to read the file, and never stored or sent: the vault keeps the key unencrypted inside its
own encryption.
"""

from __future__ import annotations

import argparse
import os
import sys

from native.errors import NOT_FOUND, USAGE, CliError

TYPE_CHECKING = False  # see native.consumers: the parser loads no typing
if TYPE_CHECKING:
    from typing import Any

TYPES = ("ed25519", "rsa", "ecdsa")
_MAX_FILE = 1 << 16  # far above an RSA 16384 key's text
# Where a host's provider takes a public key: per repository (a deploy key) or per account.
DEPLOY_PAGES = {
    "github.com": (
        "https://github.com/OWNER/REPO/settings/keys/new",
        "https://github.com/settings/ssh/new",
    ),
    "gitlab.com": (
        "https://gitlab.com/GROUP/PROJECT/-/settings/repository (Deploy keys)",
        "https://gitlab.com/-/user_settings/ssh_keys",
    ),
    "bitbucket.org": (
        "https://bitbucket.org/WORKSPACE/REPO/admin/access-keys/",
        "https://bitbucket.org/account/settings/ssh-keys/",
    ),
}


def add_options(sp: argparse.ArgumentParser) -> None:
    """``add``'s ssh-key options (registered by native.edit_commands)."""
    source = sp.add_mutually_exclusive_group()
    source.add_argument(
        "--generate", action="store_true", help="ssh-key: make a new key (Ed25519 by default)"
    )
    source.add_argument(
        "--import",
        dest="import_file",
        metavar="FILE",
        help="ssh-key: read an OpenSSH or PEM private key file (asks its passphrase if any)",
    )
    sp.add_argument(
        "--type",
        dest="key_type",
        choices=TYPES,
        metavar="TYPE",
        help="with --generate: ed25519 (default), rsa (4096 bits) or ecdsa (P-256)",
    )
    sp.add_argument(
        "--passphrase-stdin",
        action="store_true",
        help="with --import: read the key file's passphrase from the first line of stdin",
    )
    sp.add_argument(
        "--confirm-each-use",
        action="store_true",
        help="ssh-key: the agent asks (SSH_ASKPASS) before each signature",
    )


def wanted(args: argparse.Namespace) -> bool:
    """Whether this ``add`` makes or reads an ssh key (after checking the options agree)."""
    ssh = bool(args.generate or args.import_file)
    if args.key_type and not args.generate:
        raise CliError("--type goes with --generate", USAGE, "usage")
    if args.passphrase_stdin and not args.import_file:
        raise CliError("--passphrase-stdin goes with --import", USAGE, "usage")
    if ssh and args.secret_stdin:
        raise CliError("--secret-stdin cannot be given with --generate or --import", USAGE)
    if ssh and args.kind not in (None, sshkeys_kind()):
        raise CliError("--generate and --import make an ssh-key item", USAGE, "usage")
    if args.confirm_each_use:
        if not ssh and args.kind != sshkeys_kind():
            raise CliError("--confirm-each-use is for ssh-key items", USAGE, "usage")
        if args.scopes:
            raise CliError("--confirm-each-use sets the scopes; drop --scope", USAGE, "usage")
        from vault_core import sshkeys

        args.scopes = [sshkeys.CONFIRM_SCOPE]
    return ssh


def sshkeys_kind() -> str:
    from vault_core.items import SSH_KEY

    return SSH_KEY


def make_secret(args: argparse.Namespace) -> str:
    from native.sshagent import keys

    if args.generate:
        return keys.generate(args.key_type or "ed25519")
    data = _read_file(args.import_file)
    try:
        return keys.import_key(data)
    except CliError as exc:
        if exc.code != "ssh_key_passphrase":
            raise
    passphrase = _passphrase(args.passphrase_stdin, args.import_file)
    try:
        return keys.import_key(data, passphrase)
    finally:
        del passphrase


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_FILE + 1)
    except FileNotFoundError:
        raise CliError(f"no such key file: {path}", NOT_FOUND, "no_such_file") from None
    except IsADirectoryError:
        raise CliError(f"{path} is a directory, not a key file", USAGE, "bad_ssh_key") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CliError(f"cannot read {path}: {reason}", USAGE, "unreadable_file") from None
    if len(data) > _MAX_FILE:
        raise CliError(f"{path} is too large to be a private key", USAGE, "bad_ssh_key")
    return data


def _passphrase(from_stdin: bool, path: str) -> bytes:
    if from_stdin:
        line = sys.stdin.buffer.readline(4097)
        text = line.removesuffix(b"\n").removesuffix(b"\r")
    else:
        if not sys.stdin.isatty():
            raise CliError(
                "the key file is passphrase-protected and there is no terminal to ask; "
                "use --passphrase-stdin",
                USAGE,
                "ssh_key_passphrase",
            )
        import getpass

        text = getpass.getpass(f"passphrase for {os.path.basename(path)}: ").encode()
    if not text:
        raise CliError(
            "the key file is passphrase-protected; give its passphrase",
            USAGE,
            "ssh_key_passphrase",
        )
    return text


def describe(secret: str, url: str, answer: dict[str, Any]) -> list[str]:
    """Add the public key and fingerprint to the write's answer (JSON shows them); the
    lines printed after the usual one."""
    from vault_core import sshkeys

    key = sshkeys.parse_private(secret)
    answer["public_key"] = key.public_line(str(answer["name"]))
    answer["fingerprint"] = key.fingerprint
    lines = [answer["public_key"], f"fingerprint: {key.fingerprint}"]
    for host in sshkeys.hosts(url):
        pages = DEPLOY_PAGES.get(host.lower())
        if pages:
            lines.append(f"{host}: add it as a deploy key at {pages[0]}")
            lines.append(f"    (or to your account at {pages[1]})")
    return lines
