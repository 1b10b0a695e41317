"""zkvault's SSH agent with real OpenSSH and git: ssh-add, ssh-keygen -Y, a real sshd on
20 ports (one key each), confirm-each-use through SSH_ASKPASS, commit and tag signing, and
nothing served or signed while locked (docs/cli.md, "SSH agent")."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from native.errors import CliError
from native.sshagent import keys
from tests.native.sshd import SSHD
from tests.native.support import Env, git, make_vault
from tests.support.leaks import scan
from tests.support.processes import free_ports, stop
from tests.vectors.sshkeys import ECDSA_P256, ED25519_ENCRYPTED, RSA_2048, RSA_3072
from vault_core import Item, sshkeys


def _ssh_item(name: str, secret: str, url: str = "", **kw: object) -> Item:
    return Item(name=name, kind="ssh-key", url=url, secret=secret, **kw)  # type: ignore[arg-type]


def _unlock_with(env: Env, items: list[Item], extra: dict[str, str] | None = None) -> Path:
    vault = make_vault(env.root, items)
    env.zk("adopt", str(vault.path), "--account-id", str(vault.account_id), check=True)
    done = env.unlock(extra=extra)
    assert done.returncode == 0, done.stderr
    return env.runtime / "ssh-agent.sock"


def _run(env: Env, *args: str, sock: Path, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        list(args),
        env={**env.vars, "SSH_AUTH_SOCK": str(sock)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        **kw,
    )


def _sign(env: Env, sock: Path, public: str, message: Path) -> subprocess.CompletedProcess[str]:
    key_file = env.root / "signing.pub"
    key_file.write_text(public + "\n")
    Path(str(message) + ".sig").unlink(missing_ok=True)
    return _run(
        env, "ssh-keygen", "-Y", "sign", "-n", "file", "-f", str(key_file), str(message), sock=sock
    )


def _verify(env: Env, public: str, message: Path) -> bool:
    signers = env.root / "signers"
    signers.write_text(f"me {public}\n")
    with message.open("rb") as data:
        done = subprocess.run(
            [
                *("ssh-keygen", "-Y", "verify", "-f", str(signers), "-I", "me", "-n", "file"),
                *("-s", f"{message}.sig"),
            ],
            stdin=data,
            capture_output=True,
            timeout=30,
            check=False,
        )
    return done.returncode == 0


def test_agent_lists_signs_refuses_and_goes_with_the_lock(env: Env) -> None:
    ed25519 = sshkeys.generate_ed25519()
    items = [
        _ssh_item("ed key", ed25519, "git.example.com"),
        _ssh_item("rsa key", RSA_3072),
        _ssh_item("ecdsa key", ECDSA_P256),
        Item(name="token", kind="generic", url="", secret="tok-" + "q" * 20),
    ]
    sock = _unlock_with(env, items)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    listed = _run(env, "ssh-add", "-L", sock=sock)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    expected = {sshkeys.parse_private(item.secret).public_line(item.name) for item in items[:3]}
    assert set(lines) == expected  # the token is no SSH key
    message = env.root / "message"
    message.write_text("sign me\n")
    for line in lines:
        public = " ".join(line.split()[:2])
        done = _sign(env, sock, public, message)
        assert done.returncode == 0, done.stderr
        assert _verify(env, public, message), line
    # Keys come only from the vault: adding, removing, locking from a client all fail.
    extra = env.root / "extra"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(extra)], check=True)
    for args in (["ssh-add", str(extra)], ["ssh-add", "-D"], ["ssh-add", "-d", str(extra)]):
        assert _run(env, *args, sock=sock).returncode != 0, args
    assert _run(env, "ssh-add", "-x", sock=sock, input="pw\npw\n").returncode != 0
    assert len(_run(env, "ssh-add", "-L", sock=sock).stdout.splitlines()) == 3
    # Locked: no socket, nothing listed, nothing signed.
    env.zk("lock", check=True)
    assert not sock.exists()
    assert _run(env, "ssh-add", "-L", sock=sock).returncode == 2
    public = " ".join(lines[0].split()[:2])
    assert _sign(env, sock, public, message).returncode != 0
    assert not Path(str(message) + ".sig").exists()


def test_another_user_gets_nothing(env: Env) -> None:
    """As a second Unix user: the 0700 directory, the 0600 socket, then (both opened up)
    the peer-uid check each refuse it, as for the agent's own socket."""
    from tests.native.otheruser import CLOSED_ON, probe

    sock = _unlock_with(env, [_ssh_item("k", sshkeys.generate_ed25519())])
    assert probe(str(sock)) == "PermissionError"
    os.chmod(env.root, 0o711)
    os.chmod(env.runtime, 0o711)
    assert probe(str(sock)) == "PermissionError"
    os.chmod(sock, 0o666)
    assert probe(str(sock)) in CLOSED_ON
    assert _run(env, "ssh-add", "-L", sock=sock).returncode == 0  # our own uid is answered


def _askpass(env: Env) -> tuple[Path, Path]:
    answer, asked = env.root / "answer", env.root / "asked"
    script = env.root / "askpass.sh"
    script.write_text(
        f'#!/bin/sh\nprintf "%s|%s\\n" "$SSH_ASKPASS_PROMPT" "$1" >> {asked}\n'
        f'[ "$(cat {answer})" = yes ] && exit 0\nexit 1\n'
    )
    script.chmod(0o755)
    return answer, asked


def test_confirm_asks_before_each_use(env: Env) -> None:
    answer, asked = _askpass(env)
    secret = sshkeys.generate_ed25519()
    sock = _unlock_with(
        env,
        [_ssh_item("careful", secret, scopes=("confirm",)), _ssh_item("plain", RSA_3072)],
        extra={"SSH_ASKPASS": str(env.root / "askpass.sh")},
    )
    public = sshkeys.parse_private(secret).public_line()
    message = env.root / "m"
    message.write_text("x")
    answer.write_text("yes")
    assert _sign(env, sock, public, message).returncode == 0
    assert _verify(env, public, message)
    answer.write_text("no")
    assert _sign(env, sock, public, message).returncode != 0
    answer.write_text("yes")
    assert _sign(env, sock, public, message).returncode == 0
    prompts = [p for p in asked.read_text().splitlines() if p.startswith("confirm|")]
    assert prompts == ["confirm|Allow use of zkvault key 'careful'?"] * 3  # each use asked
    # The key without confirm is never asked about.
    rsa_public = sshkeys.parse_private(RSA_3072).public_line()
    answer.write_text("no")
    assert _sign(env, sock, rsa_public, message).returncode == 0
    assert asked.read_text().count("confirm|") == 3


def _sshd_on_ports(
    directory: Path, publics: list[str]
) -> tuple[list[subprocess.Popen[bytes]], list[int], Path]:
    """Real sshds listening on one port per key, ten ports each (sshd takes at most 16);
    each port accepts only its own key (Match LocalPort with its own AuthorizedKeysFile).
    MaxAuthTries stays at its default, 6.

    The ports are distinct and free when chosen; if another process takes one before
    sshd binds it (sshd then logs the failure and serves the others), start again on
    new ports rather than let a host answer on someone else's port."""
    if os.getuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    host_key = directory / "host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    for attempt in range(3):
        log_path = directory / f"sshd_{attempt}.log"
        procs, ports = _start_sshds(directory, host_key, publics, log_path)
        if "Address already in use" not in log_path.read_text(errors="replace"):
            break
        for proc in procs:
            stop(proc)
    else:
        raise AssertionError("another process took one of the chosen ports three times")
    known = directory / "known_hosts"
    kind, key = (directory / "host_key.pub").read_text().split()[:2]
    known.write_text("".join(f"[127.0.0.1]:{p} {kind} {key}\n" for p in ports))
    return procs, ports, known


def _start_sshds(
    directory: Path, host_key: Path, publics: list[str], log_path: Path
) -> tuple[list[subprocess.Popen[bytes]], list[int]]:
    ports = free_ports(len(publics))
    procs = []
    for start in range(0, len(ports), 10):
        chunk = list(zip(ports, publics, strict=True))[start : start + 10]
        lines = [f"Port {port}" for port, _ in chunk]
        lines += [
            "ListenAddress 127.0.0.1",
            f"HostKey {host_key}",
            "AuthorizedKeysFile none",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PidFile none",
            "LogLevel VERBOSE",
        ]
        for port, public in chunk:
            keys_file = directory / f"authorized_{port}"
            keys_file.write_text(public + "\n")
            lines += [f"Match LocalPort {port}", f"    AuthorizedKeysFile {keys_file}"]
        config = directory / f"sshd_config_{start}"
        config.write_text("\n".join(lines) + "\n")
        log = log_path.open("ab")
        procs.append(
            subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
        )
    deadline = time.monotonic() + 20
    for port in ports:
        while True:
            assert all(p.poll() is None for p in procs), log_path.read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                    if conn.recv(8).startswith(b"SSH-2.0"):
                        break
            except OSError:
                if "Address already in use" in log_path.read_text(errors="replace"):
                    return procs, ports  # the caller starts again on other ports
                assert time.monotonic() < deadline, "sshd did not come up"
                time.sleep(0.05)
    return procs, ports


@pytest.mark.slow
def test_twenty_hosts_each_logs_in_with_its_key_on_the_first_try(env: Env) -> None:
    secrets = [sshkeys.generate_ed25519() for _ in range(20)]
    hosts = [f"h{i:02d}" for i in range(20)]
    items = [
        _ssh_item(f"key {h}", s, h, username="root" if os.getuid() == 0 else "")
        for h, s in zip(hosts, secrets, strict=True)
    ]
    sock = _unlock_with(env, items)
    publics = [sshkeys.parse_private(s).public_line() for s in secrets]
    procs, ports, known = _sshd_on_ports(env.root, publics)
    try:
        setup = env.zk("ssh-agent", "setup", "--write")
        assert setup.returncode == 0, setup.stderr
        home = Path(env.vars["HOME"])
        config = home / ".ssh" / "config"
        assert config.read_text().startswith(f"Include {home}/.ssh/zkvault/config\n")
        routes = "".join(
            f"Host {h}\n    HostName 127.0.0.1\n    Port {p}\n"
            for h, p in zip(hosts, ports, strict=True)
        )
        common = (
            f"Host *\n    BatchMode yes\n    UserKnownHostsFile {known}\n"
            "    StrictHostKeyChecking yes\n"
        )
        with config.open("a") as out:
            out.write(routes + common)
        assert f"export SSH_AUTH_SOCK={sock}" in (home / ".profile").read_text()
        # No private key anywhere: the stubs are public keys.
        for stub in (home / ".ssh" / "zkvault").glob("*.pub"):
            assert stub.read_text().split()[1] in " ".join(publics)
        user = "root" if os.getuid() == 0 else os.environ.get("USER", "")
        for host in hosts:
            # SSH_AUTH_SOCK points nowhere: the Host block's IdentityAgent finds the agent.
            done = subprocess.run(
                ["ssh", "-v", "-F", str(config), host, "echo", f"on-{host}"],
                env={**env.vars, "SSH_AUTH_SOCK": "/nonexistent"},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, done.stderr[-1500:]
            assert done.stdout == f"on-{host}\n"
            offered = re.findall(r"Offering public key: (.*)", done.stderr)
            assert len(offered) == 1, offered  # the right key, first, alone
            assert f"key {host}" in offered[0] or "zkvault" in offered[0], offered
        assert user  # (the login user the items name)
        # The control: the same agent without the per-host config offers keys in turn and
        # a host whose key is not among the first six is refused (MaxAuthTries).
        plain = env.root / "plain_config"
        plain.write_text(routes + common)
        last = subprocess.run(
            ["ssh", "-F", str(plain), "-l", user, hosts[-1], "true"],
            env={**env.vars, "SSH_AUTH_SOCK": str(sock)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert last.returncode != 0
        assert (
            "Too many authentication failures" in last.stderr or "Permission denied" in last.stderr
        )
    finally:
        for proc in procs:
            stop(proc)


def test_git_signs_commits_and_tags_through_the_agent(env: Env) -> None:
    secret = sshkeys.generate_ed25519()
    sock = _unlock_with(env, [_ssh_item("signing", secret), _ssh_item("rsa", RSA_3072)])
    repo = env.root / "repo"
    assert git(env, "init", "-q", str(repo)).returncode == 0
    for key, value in (("user.name", "Dev"), ("user.email", "dev@example.com")):
        git(env, "config", "--global", key, value)
    setup = env.zk("git", "setup", "--signing", "signing")
    assert setup.returncode == 0, setup.stderr
    public = sshkeys.parse_private(secret).public_line()
    assert git(env, "config", "--global", "user.signingkey").stdout.strip() == f"key::{public}"
    assert git(env, "config", "--global", "gpg.format").stdout.strip() == "ssh"
    signed_env = {**env.vars, "SSH_AUTH_SOCK": str(sock)}

    def g(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args],
            cwd=repo,
            env=signed_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    (repo / "f").write_text("one\n")
    g("add", "f")
    commit = g("commit", "-q", "-S", "-m", "signed")
    assert commit.returncode == 0, commit.stderr
    assert g("verify-commit", "HEAD").returncode == 0
    tag = g("tag", "-s", "-m", "v1", "v1")
    assert tag.returncode == 0, tag.stderr
    assert g("verify-tag", "v1").returncode == 0
    # An unsigned commit does not verify: the check can fail.
    (repo / "f").write_text("two\n")
    g("commit", "-q", "-am", "unsigned")
    assert g("verify-commit", "HEAD").returncode != 0
    # Locked: nothing is signed.
    env.zk("lock", check=True)
    (repo / "f").write_text("three\n")
    locked = g("commit", "-q", "-S", "-am", "while locked")
    assert locked.returncode != 0
    assert g("log", "--format=%s", "-1").stdout.strip() == "unsigned"
    # No private key in HOME, the state, the runtime directory or /tmp's new files.
    artefacts = {
        str(p): p.read_bytes()
        for p in env.root.rglob("*")
        if p.is_file() and not p.is_symlink() and p.stat().st_size < 5_000_000
    }
    for p in Path("/tmp").iterdir():
        if p.is_file() and time.time() - p.stat().st_mtime < 600 and p.stat().st_size < 5_000_000:
            with contextlib.suppress(OSError):
                artefacts[str(p)] = p.read_bytes()
    private = sshkeys.parse_private(secret).private
    hits = scan(artefacts, {"ed25519 seed": private[:32], "rsa key": RSA_3072.splitlines()[5]})
    assert hits == []


def test_import_reads_protected_and_pem_keys_and_refuses_weak_ones(tmp_path: Path) -> None:
    text = keys.import_key(ED25519_ENCRYPTED.encode(), b"vector")
    assert sshkeys.parse_private(text).key_type == sshkeys.ED25519
    with pytest.raises(CliError) as wrong:
        keys.import_key(ED25519_ENCRYPTED.encode(), b"wrong")
    assert wrong.value.code == "wrong_key_passphrase"
    with pytest.raises(CliError) as missing:
        keys.import_key(ED25519_ENCRYPTED.encode())
    assert missing.value.code == "ssh_key_passphrase"
    pem = tmp_path / "k.pem"
    subprocess.run(
        [
            "openssl",
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-aes256",
            "-pass",
            "pass:pw",
            "-out",
            str(pem),
        ],
        check=True,
        capture_output=True,
    )
    imported = keys.import_key(pem.read_bytes(), b"pw")
    assert sshkeys.parse_private(imported).key_type == sshkeys.ECDSA_P256
    again = sshkeys.parse_private(keys.import_key(ECDSA_P256.encode()))
    assert again.public_blob == sshkeys.parse_private(ECDSA_P256).public_blob
    with pytest.raises(CliError):
        keys.import_key(RSA_2048.encode())
    for kind in ("ed25519", "rsa", "ecdsa"):
        made = keys.generate(kind)
        key_file = tmp_path / kind
        key_file.write_text(made)
        key_file.chmod(0o600)
        derived = subprocess.run(
            ["ssh-keygen", "-y", "-f", str(key_file)], capture_output=True, text=True, check=True
        ).stdout.split()[:2]
        assert " ".join(derived) == sshkeys.parse_private(made).public_line()
