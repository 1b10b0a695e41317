"""git clone and git push over SSH, with the key served by zkvault: against a real sshd whose
account runs only git-shell (ForceCommand), from a laptop (the agent's SSH socket), from a
builder under `zkvault ssh` (the session's forwarded SSH agent, allowed keys only) and from
a runner's `zkvault run` (a private SSH agent socket for the child's lifetime). After each
flow, no private key is on disk (docs/cli.md, "SSH agent"; docs/remote-builds.md)."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.native.sshd import SSHD, Sshd, start_sshd
from tests.native.support import ITEMS, Env, make_env, make_vault
from tests.support.leaks import scan
from tests.support.processes import free_ports, stop
from vault_core import Item, sshkeys

pytestmark = [
    pytest.mark.skipif(
        not os.path.exists(SSHD) or not shutil.which("git-shell"),
        reason="openssh-server or git missing: run scripts/bootstrap.sh",
    ),
    pytest.mark.slow,
]

# The account serves repositories and nothing else, as a git host's does.
GIT_SHELL = 'ForceCommand git-shell -c "$SSH_ORIGINAL_COMMAND"'
AUTHOR = {
    "GIT_AUTHOR_NAME": "Builder",
    "GIT_AUTHOR_EMAIL": "builder@example.com",
    "GIT_COMMITTER_NAME": "Builder",
    "GIT_COMMITTER_EMAIL": "builder@example.com",
}


@dataclass
class GitHost:
    sshd: Sshd
    repo: Path  # a bare repository with one commit on main
    config: Path  # ssh_config naming the host "githost"

    @property
    def url(self) -> str:
        return f"githost:{self.repo}"  # the scp-like form of git@github.com:owner/repo

    @property
    def ssh_command(self) -> str:
        return f"ssh -F {self.config}"

    def authorize(self, *secrets: str) -> None:
        lines = [sshkeys.parse_private(s).public_line() for s in secrets]
        self.sshd.authorized_keys.write_text("".join(line + "\n" for line in lines))

    def log(self) -> list[str]:
        done = subprocess.run(
            ["git", "--git-dir", str(self.repo), "log", "--format=%s", "main"],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.splitlines()


def start_git_host(directory: Path, port: int) -> GitHost:
    directory.mkdir()
    sshd = start_sshd(directory, port, extra=(GIT_SHELL,))
    sshd.authorized_keys.write_text("")  # until a test authorizes its key
    repo = directory / "repo.git"
    seed = directory / "seed"
    quiet: dict[str, object] = {"check": True, "capture_output": True}
    git_env = {**os.environ, **AUTHOR, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(repo)], **quiet)  # type: ignore[call-overload]
    subprocess.run(["git", "init", "-q", "-b", "main", str(seed)], **quiet)  # type: ignore[call-overload]
    (seed / "README").write_text("seed\n")
    for args in (["add", "README"], ["commit", "-qm", "seed"], ["push", "-q", str(repo), "main"]):
        subprocess.run(["git", "-C", str(seed), *args], env=git_env, **quiet)  # type: ignore[call-overload]
    config = directory / "ssh_config"
    config.write_text(
        f"Host githost\n    HostName 127.0.0.1\n    Port {port}\n    User {getpass.getuser()}\n"
        f"    BatchMode yes\n    UserKnownHostsFile {sshd.known_hosts}\n"
        "    StrictHostKeyChecking yes\n    LogLevel ERROR\n"
    )
    return GitHost(sshd, repo, config)


def _ssh_item(name: str, secret: str, url: str = "", **kw: object) -> Item:
    return Item(name=name, kind="ssh-key", url=url, secret=secret, **kw)  # type: ignore[arg-type]


def _clone_and_push_script(host: GitHost, work: Path, message: str) -> str:
    """Clone, commit and push; prints "pushed" when all of it worked."""
    return (
        f"git clone -q {host.url} {work} && cd {work} && echo {shlex.quote(message)} > f && "
        f"git add f && git commit -qm {shlex.quote(message)} && git push -q origin main && "
        "echo pushed"
    )


def _no_private_key_on_disk(roots: list[Path], secrets: list[str], since: float) -> None:
    """Every file under ``roots``, and /tmp's files newer than ``since``: none holds a
    byte of a private key (its Ed25519 seed or any line of its text)."""
    artefacts: dict[str, bytes] = {}
    for root in roots:
        for p in root.rglob("*"):
            with contextlib.suppress(OSError):
                if p.is_file() and not p.is_symlink() and p.stat().st_size < 5_000_000:
                    artefacts[str(p)] = p.read_bytes()
    for p in Path("/tmp").iterdir():
        with contextlib.suppress(OSError):
            if p.is_file() and p.stat().st_mtime >= since and p.stat().st_size < 5_000_000:
                artefacts[str(p)] = p.read_bytes()
    needles: dict[str, bytes | str] = {}
    for i, secret in enumerate(secrets):
        needles[f"key {i} seed"] = sshkeys.parse_private(secret).private[:32]
        needles[f"key {i} text"] = secret.splitlines()[3]
    assert scan(artefacts, needles) == []


# -- the laptop ----------------------------------------------------------------------------


@pytest.fixture
def env() -> Iterator[Env]:
    from tests.native.support import stop_agent

    environment = make_env()
    try:
        yield environment
    finally:
        stop_agent(environment)


def _unlock_with(env: Env, items: list[Item]) -> Path:
    vault = make_vault(env.root, items)
    env.zk("import", str(vault.path), "--account-id", str(vault.account_id), check=True)
    done = env.unlock()
    assert done.returncode == 0, done.stderr
    return env.runtime / "ssh-agent.sock"


def test_laptop_clones_and_pushes_with_the_agents_key(env: Env) -> None:
    since = time.time()
    deploy, stranger = sshkeys.generate_ed25519(), sshkeys.generate_ed25519()
    sock = _unlock_with(env, [_ssh_item("deploy", deploy, "githost")])
    (port,) = free_ports(1)
    host = start_git_host(env.root / "githost", port)
    try:
        host.authorize(deploy)
        git_env = {
            **env.vars,
            **AUTHOR,
            "SSH_AUTH_SOCK": str(sock),
            "GIT_SSH_COMMAND": host.ssh_command,
        }
        script = _clone_and_push_script(host, env.root / "work", "from the laptop")
        done = subprocess.run(
            ["sh", "-c", script], env=git_env, capture_output=True, text=True, timeout=120
        )
        assert (done.returncode, done.stdout) == (0, "pushed\n"), done.stderr
        assert host.log() == ["from the laptop", "seed"]
        # git-shell: the key opens repositories, not a shell.
        shell = subprocess.run(
            ["ssh", "-F", str(host.config), "githost", "echo", "a-shell"],
            env=git_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert shell.returncode != 0 and "a-shell" not in shell.stdout
        # The control: a host that takes another key refuses this agent's.
        host.authorize(stranger)
        refused = subprocess.run(
            ["git", "clone", "-q", host.url, str(env.root / "again")],
            env=git_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert refused.returncode != 0
        assert "Permission denied" in refused.stderr
        # Locked: no clone either.
        host.authorize(deploy)
        env.zk("lock", check=True)
        locked = subprocess.run(
            ["git", "clone", "-q", host.url, str(env.root / "locked")],
            env=git_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert locked.returncode != 0
    finally:
        stop(host.sshd.proc)
    _no_private_key_on_disk([env.root], [deploy], since)


def test_expired_key_is_neither_listed_nor_used(env: Env) -> None:
    old, current = sshkeys.generate_ed25519(), sshkeys.generate_ed25519()
    sock = _unlock_with(
        env,
        [
            _ssh_item("old", old, "githost", expires="2000-01-01"),
            _ssh_item("current", current, "githost", expires="2999-12-31"),
        ],
    )
    listed = subprocess.run(
        ["ssh-add", "-L"],
        env={**env.vars, "SSH_AUTH_SOCK": str(sock)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert listed.stdout.splitlines() == [sshkeys.parse_private(current).public_line("current")]
    # A signature with the expired key is refused too.
    pub = env.root / "old.pub"
    pub.write_text(sshkeys.parse_private(old).public_line() + "\n")
    message = env.root / "m"
    message.write_text("x")
    signed = subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-n", "file", "-f", str(pub), str(message)],
        env={**env.vars, "SSH_AUTH_SOCK": str(sock)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert signed.returncode != 0
    setup = env.zk("ssh-agent", "setup")
    assert setup.returncode == 0, setup.stderr
    assert "'old' expired on 2000-01-01" in setup.stdout


# -- a builder under `zkvault ssh` ---------------------------------------------------------


def test_builder_clones_with_the_allowed_key_and_no_other(env: Env) -> None:
    since = time.time()
    deploy, kept = sshkeys.generate_ed25519(), sshkeys.generate_ed25519()
    items = [
        _ssh_item("deploy key", deploy, "githost"),
        _ssh_item("kept", kept, "githost"),
        *ITEMS,
    ]
    _unlock_with(env, items)
    builder_port, git_port = free_ports(2)
    (env.root / "builder").mkdir()
    builder = start_sshd(env.root / "builder", builder_port)
    host = start_git_host(env.root / "githost", git_port)
    try:
        host.authorize(deploy, kept)  # the host would take either: the session offers one
        work = env.root / "builder" / "work"
        kept_pub = env.root / "builder" / "kept.pub"
        kept_pub.write_text(sshkeys.parse_private(kept).public_line() + "\n")
        remote = (
            f"export HOME={env.root / 'builder'} GIT_CONFIG_NOSYSTEM=1 "
            f"GIT_SSH_COMMAND={shlex.quote(host.ssh_command)} "
            + " ".join(f"{k}={shlex.quote(v)}" for k, v in AUTHOR.items())
            + "; ssh-add -L; "
            + f"ssh-keygen -Y sign -n file -f {kept_pub} {kept_pub} >/dev/null 2>&1 "
            + "|| echo other-key-refused; "
            + _clone_and_push_script(host, work, "from the builder")
        )
        done = env.zk(
            *("ssh", "--allow", "deploy key", "--allow", "ci token"),
            *builder.client_options(),
            *(builder.destination, "--", "sh", "-c", shlex.quote(remote)),
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [
            sshkeys.parse_private(deploy).public_line("deploy key"),
            "other-key-refused",
            "pushed",
        ]
        assert host.log() == ["from the builder", "seed"]
        # The session's log names the key it signed with; the other was never asked for.
        log = [json.loads(line) for line in (env.home / "ssh-audit.log").read_text().splitlines()]
        signed = [e for e in log if e.get("op") == "ssh-sign" and e["result"] == "answered"]
        assert signed and {e["item"] for e in signed} == {"deploy key"}
        assert not any(e.get("item") == "kept" for e in log)
        # The forwarded sockets went with the session, on both sides.
        assert not list(Path("/tmp").glob("zkvault-ssh-*-agent.sock"))
        assert not list(env.runtime.glob("ssh-*-agent.sock"))
    finally:
        stop(builder.proc)
        stop(host.sshd.proc)
    _no_private_key_on_disk([env.root], [deploy, kept], since)


def test_the_builders_agent_refuses_changes_and_ends_with_the_laptops_lock(env: Env) -> None:
    deploy = sshkeys.generate_ed25519()
    _unlock_with(env, [_ssh_item("deploy key", deploy, "githost"), *ITEMS])
    (builder_port,) = free_ports(1)
    (env.root / "builder").mkdir()
    builder = start_sshd(env.root / "builder", builder_port)
    hold = shlex.quote('echo "agent=$SSH_AUTH_SOCK"; exec cat >/dev/null')
    session = subprocess.Popen(
        [
            *(sys.executable, "-m", "native", "ssh", "--allow", "deploy key"),
            *(*builder.client_options(), builder.destination, "--", f"sh -c {hold}"),
        ],
        env=env.vars,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert session.stdout is not None
        line = session.stdout.readline()
        assert line.startswith("agent=/tmp/zkvault-ssh-"), line
        agent = Path(line.strip().removeprefix("agent="))
        # On the builder: the login user's socket, 0600.
        assert agent.stat().st_uid == os.getuid()
        assert stat.S_IMODE(agent.stat().st_mode) == 0o600

        def ssh_add(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["ssh-add", *args],
                env={"PATH": "/usr/bin:/bin", "SSH_AUTH_SOCK": str(agent)},
                capture_output=True,
                text=True,
                timeout=60,
            )

        listed = ssh_add("-L")
        assert listed.stdout == sshkeys.parse_private(deploy).public_line("deploy key") + "\n"
        # Keys come from the laptop's vault only: the builder can add and remove nothing.
        extra = env.root / "extra"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(extra)])
        assert ssh_add(str(extra)).returncode != 0
        assert ssh_add("-D").returncode != 0
        assert ssh_add("-L").stdout == listed.stdout
        # The laptop locks: the session's agent answers nothing from then on.
        env.zk("lock", check=True)
        assert ssh_add("-L").returncode != 0
        assert env.unlock().returncode == 0  # unlocking again does not revive the session
        assert ssh_add("-L").returncode != 0
    finally:
        assert session.stdin is not None
        session.stdin.close()
        session.wait(timeout=60)
        stop(builder.proc)
    assert not agent.exists()  # removed on the builder when the command ended
    log = [json.loads(line) for line in (env.home / "ssh-audit.log").read_text().splitlines()]
    lists = [e["result"] for e in log if e.get("op") == "ssh-list"]
    assert lists == ["answered", "answered", "refused", "refused"]
    others = [e for e in log if e.get("op") == "ssh-other"]  # the add and the remove-all
    assert len(others) >= 2 and {e["result"] for e in others} == {"refused"}


# -- a runner's `zkvault run` ------------------------------------------------------------------


@dataclass
class Runner:
    job: Env
    credential: str
    host: GitHost
    builder: Sshd  # a build machine the CI job reaches with `zkvault ssh`
    deploy: str
    withheld: str


@pytest.fixture(scope="module")
def runner() -> Iterator[Runner]:
    from tests.native.serverproc import Owner, enrol_granted_runner, start_server
    from tests.native.support import FAST_KDF, PASSPHRASE
    from vault_core import Vault

    server = start_server()
    job = make_env()
    port, builder_port = free_ports(2)
    host = start_git_host(job.root / "githost", port)
    (job.root / "builder").mkdir()
    builder = start_sshd(job.root / "builder", builder_port)
    try:
        owner = Owner(server)
        deploy, withheld = sshkeys.generate_ed25519(), sshkeys.generate_ed25519()
        vault = Vault.create(uuid.UUID(owner.account_id), PASSPHRASE, kdf=FAST_KDF)
        for item in [
            *ITEMS,
            _ssh_item("deploy key", deploy, "githost"),
            _ssh_item("withheld key", withheld, "githost"),
            _ssh_item("old key", sshkeys.generate_ed25519(), "githost", expires="2000-01-01"),
        ]:
            vault.add(item)
        owner.put_vault(0, vault.save())
        credential, _ = enrol_granted_runner(
            job, owner, vault, server.url, "ci-git", ["ci token", "deploy key", "old key"]
        )
        vault.lock()
        host.authorize(deploy, withheld)
        yield Runner(job, credential, host, builder, deploy, withheld)
    finally:
        stop(builder.proc)
        stop(host.sshd.proc)
        server.stop()
        shutil.rmtree(job.root, ignore_errors=True)


def test_runner_child_clones_through_a_private_agent_that_goes_with_it(runner: Runner) -> None:
    from tests.native.otheruser import CLOSED_ON, probe

    since = time.time()
    job = runner.job
    workdir = job.root / "ci"
    workdir.mkdir()
    script = (
        'echo "sock=$SSH_AUTH_SOCK"; read go; '
        'echo "in-env=$(env | grep -c "PRIVATE KEY")"; ssh-add -L; '
        + _clone_and_push_script(runner.host, workdir / "work", "from the runner")
    )
    child = subprocess.Popen(
        [sys.executable, "-m", "native", "run", "--", "sh", "-c", script],
        env={
            **job.vars,
            **AUTHOR,
            "ZKVAULT_RUNNER_CREDENTIAL": runner.credential,
            "GIT_SSH_COMMAND": runner.host.ssh_command,
            "SSH_AUTH_SOCK": "/nonexistent",
        },
        cwd=workdir,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        first = child.stdout.readline()
        assert first.startswith("sock="), first
        sock = Path(first.strip().removeprefix("sock="))
        # Private: a 0700 directory of its own, a 0600 socket, this user's peers only.
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
        assert sock.parent.parent == job.runtime
        assert probe(str(sock)) == "PermissionError"
        os.chmod(job.root, 0o711)
        os.chmod(job.runtime, 0o711)
        os.chmod(sock.parent, 0o711)
        assert probe(str(sock)) == "PermissionError"
        os.chmod(sock, 0o666)
        assert probe(str(sock)) in CLOSED_ON
        child.stdin.write("go\n")
        child.stdin.flush()
        out, err = child.communicate(timeout=180)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err
    granted = sshkeys.parse_private(runner.deploy).public_line("deploy key")
    assert out.splitlines() == ["in-env=0", granted, "pushed"]  # the withheld key: not here
    assert "'old key' expired on 2000-01-01" in err
    assert runner.host.log()[0] == "from the runner"
    # The socket and its directory went with the child.
    assert not sock.exists() and not sock.parent.exists()
    _no_private_key_on_disk([job.root], [runner.deploy, runner.withheld], since)


def test_runner_forwards_only_the_allowed_key_to_a_builder(runner: Runner) -> None:
    """`zkvault ssh` from the CI job: the session's agent serves the allowed key from the
    grant; the builder pushes with it and sees no other key (the withheld one is not
    granted, the expired one is granted but not offered)."""
    since = time.time()
    job = runner.job
    work = job.root / "builder" / "work"
    remote = (
        f"export HOME={job.root / 'builder'} GIT_CONFIG_NOSYSTEM=1 "
        f"GIT_SSH_COMMAND={shlex.quote(runner.host.ssh_command)} "
        + " ".join(f"{k}={shlex.quote(v)}" for k, v in AUTHOR.items())
        + "; ssh-add -L; "
        + _clone_and_push_script(runner.host, work, "from a runner's builder")
    )
    done = job.zk(
        *("ssh", "--allow", "deploy key", "--allow", "old key"),
        *runner.builder.client_options(),
        *(runner.builder.destination, "--", "sh", "-c", shlex.quote(remote)),
        extra={"ZKVAULT_RUNNER_CREDENTIAL": runner.credential},
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    granted = sshkeys.parse_private(runner.deploy).public_line("deploy key")
    assert done.stdout.splitlines() == [granted, "pushed"]
    assert "'old key' expired on 2000-01-01" in done.stderr
    assert "from a runner's builder" in runner.host.log()
    _no_private_key_on_disk([job.root], [runner.deploy, runner.withheld], since)
