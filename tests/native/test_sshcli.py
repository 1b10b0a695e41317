"""``zkvault add --kind ssh-key --generate | --import`` against the real server, OIDC
provider and agent, with real OpenSSH: the key made or read in the CLI is stored through
the agent, listed by ``ssh-add -L`` through zkvault's SSH agent, its public half printed by
``get --field public-key``, and its private half never in an argv, an environment or a file
under HOME or /tmp (docs/cli.md, "SSH agent")."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.native.serverproc import Owner, Server
from tests.native.support import REPO, Env
from tests.native.test_write import _everywhere, connect, new_vault, server_vault
from tests.support.leaks import scan
from vault_core import sshkeys

pytestmark = pytest.mark.slow


def _ssh_add_list(env: Env) -> list[str]:
    done = subprocess.run(
        ["ssh-add", "-L"],
        env={**env.vars, "SSH_AUTH_SOCK": str(env.runtime / "ssh-agent.sock")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def _files_under(*roots: Path, since: float) -> dict[str, bytes]:
    found = {}
    for root in roots:
        for dirpath, _, names in os.walk(root):
            for name in names:
                path = Path(dirpath, name)
                with contextlib.suppress(OSError):
                    info = path.lstat()
                    if path.is_file() and info.st_mtime >= since and info.st_size < 5_000_000:
                        found[str(path)] = path.read_bytes()
    return found


def _secrets(text: str) -> dict[str, str | bytes]:
    """What must never leak of a stored key: its text's base64 lines that hold private
    numbers (every line after the public part), and the Ed25519 seed."""
    key = sshkeys.parse_private(text)
    lines = text.splitlines()[1:-1]
    out: dict[str, str | bytes] = {f"line {i}": line for i, line in enumerate(lines[-3:-1])}
    if key.private:
        out["seed"] = key.private[:32]
    return out


def test_generate_each_type_lists_through_ssh_add(env: Env, server: Server) -> None:
    owner = Owner(server)
    new_vault(owner)
    connect(env, owner, server.url)
    assert env.unlock().returncode == 0
    started = time.time() - 1
    stored = {}
    expected = {"ed25519": "ssh-ed25519", "rsa": "ssh-rsa", "ecdsa": "ecdsa-sha2-nistp256"}
    for key_type, wire in expected.items():
        name = f"deploy-{key_type}"
        done = env.zk(
            *("add", name, "--kind", "ssh-key", "--generate", "--type", key_type),
            *("--url", "github.com", "--username", "git"),
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].startswith(f"added {name!r} (revision ")
        assert lines[1].startswith(wire + " ") and lines[1].endswith(" " + name)
        assert lines[2].startswith("fingerprint: SHA256:")
        assert "https://github.com/OWNER/REPO/settings/keys/new" in done.stdout
        assert "PRIVATE KEY" not in done.stdout + done.stderr
        held = server_vault(owner)
        item = held.get(held.lookup(name).id)
        assert (item.kind, item.url, item.username, item.scopes) == (
            "ssh-key",
            "github.com",
            "git",
            (),
        )
        key = sshkeys.parse_private(item.secret)
        assert key.public_line(name) == lines[1]
        assert f"fingerprint: {key.fingerprint}" == lines[2]
        stored[name] = item.secret
        held.lock()
        public = env.zk("get", name, "--field", "public-key")
        assert public.stdout == lines[1] + "\n", public.stderr
        assert env.zk("get", name, "--field", "fingerprint").stdout == key.fingerprint + "\n"
    # Default Ed25519, confirm-each-use, JSON carries the public half only.
    code_json = env.zk(
        "add", "plain", "--kind", "ssh-key", "--generate", "--confirm-each-use", "--json"
    )
    answer = json.loads(code_json.stdout)
    assert code_json.returncode == 0 and answer["public_key"].startswith("ssh-ed25519 ")
    assert answer["fingerprint"].startswith("SHA256:") and "secret" not in answer
    assert env.zk("get", "plain", "--field", "scopes").stdout == "confirm\n"
    listed = _ssh_add_list(env)
    for name in stored:
        assert sshkeys.parse_private(stored[name]).public_line(name) in listed
    assert answer["public_key"] in listed
    # Another kind of item has no public key: a typed error, never its secret.
    bad = env.zk("get", "github", "--field", "public-key")
    assert bad.returncode == 2 and "only an ssh-key item" in bad.stderr
    assert "ghp_" not in bad.stdout + bad.stderr
    # Nowhere on disk under HOME or /tmp, nor in any process's argv or environment.
    artefacts = _files_under(env.root, Path("/tmp"), since=started)
    secrets: dict[str, str | bytes] = {}
    for name, text in stored.items():
        secrets.update({f"{name} {k}": v for k, v in _secrets(text).items()})
    assert scan(artefacts, secrets) == []
    for value in secrets.values():
        needle = value.encode() if isinstance(value, str) else value
        assert _everywhere(needle) == []


def test_import_protected_key_asks_once_and_stores_it_unencrypted(env: Env, server: Server) -> None:
    owner = Owner(server)
    new_vault(owner)
    connect(env, owner, server.url)
    assert env.unlock().returncode == 0
    started = time.time() - 1
    key_file = env.root / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "pass", "-C", "me", "-f", str(key_file)],
        check=True,
        timeout=30,
    )
    derived = subprocess.run(
        ["ssh-keygen", "-y", "-P", "pass", "-f", str(key_file)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.split()[:2]

    # Wrong passphrase: refused, typed, nothing stored.
    wrong = env.zk(
        "add",
        "gh",
        "--kind",
        "ssh-key",
        "--import",
        str(key_file),
        "--passphrase-stdin",
        input="nope\n",
    )
    assert wrong.returncode == 6 and "wrong passphrase for the key file" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    assert env.zk("get", "gh", "--field", "kind").returncode == 4
    # No passphrase and no terminal: says how to give one.
    none = env.zk("add", "gh", "--kind", "ssh-key", "--import", str(key_file))
    assert none.returncode == 2 and "--passphrase-stdin" in none.stderr

    done = env.zk(
        "add",
        "gh",
        "--kind",
        "ssh-key",
        "--import",
        str(key_file),
        "--passphrase-stdin",
        "--url",
        "gitlab.com bitbucket.org",
        input="pass\n",
    )
    assert done.returncode == 0, done.stderr
    public = done.stdout.splitlines()[1]
    assert public.split()[:2] == derived and public.endswith(" gh")
    assert "gitlab.com: add it as a deploy key" in done.stdout
    assert "bitbucket.org: add it as a deploy key" in done.stdout
    held = server_vault(owner)
    stored = held.get(held.lookup("gh").id).secret
    held.lock()
    assert sshkeys.parse_private(stored).public_line() == " ".join(derived)  # unencrypted
    assert " ".join(derived) + " gh" in _ssh_add_list(env)
    assert env.zk("get", "gh", "--field", "public-key").stdout.split()[:2] == derived

    # The unencrypted private key never reached a file, an argv or an environment.
    artefacts = _files_under(env.root, Path("/tmp"), since=started)
    assert scan(artefacts, _secrets(stored)) == []
    for value in _secrets(stored).values():
        needle = value.encode() if isinstance(value, str) else value
        assert _everywhere(needle) == []


def test_bad_imports_are_typed_errors(env: Env, server: Server, tmp_path: Path) -> None:
    owner = Owner(server)
    new_vault(owner)
    connect(env, owner, server.url)
    assert env.unlock().returncode == 0
    small = tmp_path / "rsa2048"
    p384 = tmp_path / "p384"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(small)], check=True
    )
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ecdsa", "-b", "384", "-N", "", "-f", str(p384)], check=True
    )
    not_key = tmp_path / "notes"
    not_key.write_text("hello\n")
    cases = [
        (str(tmp_path / "missing"), 4, "no such key file"),
        (str(small), 2, "3072"),
        (str(p384), 2, "ecdsa-sha2-nistp256"),
        (str(not_key), 2, "not a private key file"),
        (str(tmp_path), 2, "is a directory"),
    ]
    for path, code, text in cases:
        done = env.zk("add", "k", "--kind", "ssh-key", "--import", path, "--json")
        assert done.returncode == code, (path, done.stderr)
        assert text in done.stderr and "Traceback" not in done.stderr
        assert json.loads(done.stdout)["ok"] is False
    misuse = [
        ("--kind", "generic", "--generate"),
        ("--generate", "--secret-stdin"),
        ("--type", "rsa"),
        ("--kind", "ssh-key", "--generate", "--confirm-each-use", "--scope", "x"),
        ("--generate", "--import", str(small)),
    ]
    for args in misuse:
        done = env.zk("add", "k", *args, input="")
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert env.zk("get", "k", "--field", "kind").returncode == 4


def test_zsh_and_fish_complete_the_ssh_key_options(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "zkvault").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m native "$@"\n')
    (bindir / "zkvault").chmod(0o755)
    shell_env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "PYTHONPATH": str(REPO)}

    def run(*argv: str) -> list[str]:
        done = subprocess.run(argv, capture_output=True, text=True, env=shell_env, timeout=60)
        assert done.returncode == 0, done.stderr
        return sorted(line.split("\t")[0] for line in done.stdout.splitlines() if line)

    zsh = (
        "compdef() { :; }\n"
        'compadd() { [[ $1 == -a ]] && print -l -- ${(P)2} || { shift; print -l -- "$@"; } }\n'
        'eval "$(zkvault completion zsh)"\n'
        "words=(zkvault add k --type ''); CURRENT=5; _zkvault\n"
        "words=(zkvault get k --field ''); CURRENT=5; _zkvault\n"
        "words=(zkvault add k ''); CURRENT=4; _zkvault\n"
    )
    fish = (
        "zkvault completion fish | source\n"
        'complete -C "zkvault add k --type "\n'
        'complete -C "zkvault add k --gen"\n'
        'complete -C "zkvault add k --confirm"\n'
    )
    for shell in ("zsh", "fish"):
        if not any(os.access(Path(d, shell), os.X_OK) for d in os.environ["PATH"].split(":")):
            pytest.skip(f"{shell} is not installed")
    offered = run("zsh", "-f", "-c", zsh)
    assert {"ed25519", "rsa", "ecdsa", "public-key", "fingerprint"} <= set(offered)
    assert {"--generate", "--import", "--passphrase-stdin", "--confirm-each-use"} <= set(offered)
    assert run("fish", "--no-config", "-c", fish) == sorted(
        ["ecdsa", "ed25519", "rsa", "--generate", "--confirm-each-use"]
    )


def test_the_import_passphrase_is_asked_on_the_terminal_without_echo(env: Env) -> None:
    """Asked before anything is sent (so no agent is needed to see it): once, no echo; a
    wrong one is refused with exit 6 before the agent is asked."""
    key_file = env.root / "id_ecdsa"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ecdsa", "-N", "s3cret-pw", "-f", str(key_file)],
        check=True,
        timeout=30,
    )
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(REPO)
        argv = [sys.executable, "-m", "native", "add", "k", "--import", str(key_file)]
        os.execve(sys.executable, argv, env.vars)
    transcript = bytearray()

    def until(text: bytes) -> None:
        deadline = time.monotonic() + 60
        while text not in transcript:
            assert time.monotonic() < deadline, bytes(transcript)
            ready, _, _ = select.select([fd], [], [], 1)
            if ready:
                with contextlib.suppress(OSError):
                    transcript.extend(os.read(fd, 4096))

    until(b"passphrase for id_ecdsa: ")
    os.write(fd, b"not-the-pw\n")
    until(b"wrong passphrase for the key file")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 6
    assert b"not-the-pw" not in transcript and transcript.count(b"passphrase for id_ecdsa:") == 1
