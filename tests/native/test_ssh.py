"""`zkvault ssh` against a real OpenSSH server: the builder is another HOME on this machine,
reached over sshd on a loopback port, and gets only what the session shares."""

from __future__ import annotations

import json
import os
import select
import shlex
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.native.gitserver import GitServer
from tests.native.otheruser import CLOSED_ON, probe
from tests.native.sshd import SSHD, Sshd, make_builder, start_sshd
from tests.native.support import ITEMS as BASE_ITEMS
from tests.native.support import REPO, Env, make_env, make_vault, stop_agent
from tests.support import leaks
from tests.support.processes import stop
from vault_core import Item

pytestmark = [
    pytest.mark.skipif(
        not os.path.exists(SSHD), reason="openssh-server missing: run scripts/bootstrap.sh"
    ),
    pytest.mark.slow,
]

TOKEN = "glpat-" + "Bu1lderT0ken" * 2
EXIT_OUT_OF_SCOPE = 10
EXIT_LOCKED = 3


@dataclass
class World:
    laptop: Env
    sshd: Sshd
    git: GitServer
    builder: Path  # the builder's own directory: home/, tmp/, bin/env.sh
    secrets: dict[str, str]

    @property
    def env_sh(self) -> str:
        return str(self.builder / "bin" / "env.sh")

    def ssh(
        self, *flags: str, command: str, timeout: float = 120, with_key: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """`zkvault ssh FLAGS [client options] DEST -- env.sh COMMAND` on the laptop."""
        return self.laptop.zk(
            "ssh",
            *flags,
            *self.sshd.client_options(with_key=with_key),
            self.sshd.destination,
            "--",
            f"{self.env_sh} {command}",
            timeout=timeout,
        )

    def open(self, *flags: str, with_key: bool = True) -> tuple[subprocess.Popen[str], str]:
        """A session that stays open; returns it and the builder's socket path."""
        # Holds until ssh's stdin closes: when the session ends, the remote side ends too.
        remote = shlex.quote('echo "socket=$ZKVAULT_AGENT_SOCKET"; exec cat >/dev/null')
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "native", "ssh", *flags),
                *self.sshd.client_options(with_key=with_key),
                *(self.sshd.destination, "--", f"{self.env_sh} sh -c {remote}"),
            ],
            env=self.laptop.vars,
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()  # EOF (ssh failed) ends it too
        assert line.startswith("socket=/tmp/zkvault-ssh-"), (line, _close(proc))
        return proc, line.strip().removeprefix("socket=")

    def on_builder(self, socket: str, *args: str) -> subprocess.CompletedProcess[str]:
        """A process on the builder, not started by the session, using the forwarded socket."""
        return subprocess.run(
            [self.env_sh, "zkvault", *args],
            env={"PATH": "/usr/bin:/bin", "ZKVAULT_AGENT_SOCKET": socket},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


def _close(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    try:
        _out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
    return err


def _seed_repos(laptop: Env) -> Path:
    repos = laptop.root / "repos"
    seed = laptop.root / "seed"
    repos.mkdir()

    def git(*args: str, cwd: Path | None = None) -> None:
        done = subprocess.run(
            ["git", *args], env=laptop.vars, cwd=cwd, capture_output=True, check=False
        )
        assert done.returncode == 0, done.stderr

    git("init", "-q", "--bare", "-b", "main", str(repos / "proj.git"))
    git("init", "-q", "-b", "main", str(seed))
    (seed / "README").write_text("private project\n")
    git("add", "README", cwd=seed)
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "seed", cwd=seed)
    git("push", "-q", str(repos / "proj.git"), "main", cwd=seed)
    return repos


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    laptop = make_env()
    sshd = start_sshd(laptop.root)
    try:
        with GitServer(_seed_repos(laptop), TOKEN) as git_server:
            items = [
                *BASE_ITEMS,
                Item(name="local git", kind="git", url=git_server.url + "/", secret=TOKEN),
            ]
            vault = make_vault(laptop.root, items)
            laptop.zk("adopt", str(vault.path), "--account-id", str(vault.account_id), check=True)
            assert laptop.unlock().returncode == 0
            yield World(laptop, sshd, git_server, make_builder(laptop.root), vault.secrets)
    finally:
        stop(sshd.proc)
        stop_agent(laptop)


BUILD = """
zkvault git setup >/dev/null; echo "setup=$?"
git clone -q {url}/proj.git "$HOME/work"; echo "clone=$?"
cd "$HOME/work" && echo change > CHANGE && git add CHANGE &&
  git -c user.name=b -c user.email=b@e commit -qm "from the builder" &&
  git push -q origin main; echo "push=$?"
echo "get:$(zkvault get 'ci token')"
zkvault get github; echo "outside=$?"
printf 'protocol=https\\nhost=gitlab.example.com\\n\\n' | zkvault git-credential get
echo "credential_outside=$?"
zkvault run --env T=github -- true; echo "run_outside=$?"
zkvault run -- sh -c 'test -n "$CI_TOKEN" && test -z "${{GITHUB:-}}"'; echo "run=$?"
zkvault lock; echo "lock=$?"
echo "listed=$(zkvault list --json)"
echo "socket=$ZKVAULT_AGENT_SOCKET"
"""


@pytest.fixture(scope="module")
def build(world: World) -> dict[str, str]:
    """One session that builds on the builder: shares 'ci token' and git for the git host."""
    script = world.builder / "build.sh"
    script.write_text(BUILD.format(url=world.git.url))
    host = world.git.url.removeprefix("http://")
    done = world.ssh("--allow", "ci token", "--allow-host", host, command=f"sh {script}")
    assert done.returncode == 0, done.stderr + world.sshd.log()[-2000:]
    results = dict(
        line.split("=", 1) if "=" in line else line.split(":", 1)
        for line in done.stdout.splitlines()
        if "=" in line or ":" in line
    )
    results["stderr"] = done.stderr
    return results


def test_builder_clones_and_pushes_with_a_token_it_never_stores(
    world: World, build: dict[str, str]
) -> None:
    assert (build["setup"], build["clone"], build["push"]) == ("0", "0", "0"), build["stderr"]
    bare = world.laptop.root / "repos" / "proj.git"
    log = subprocess.run(
        ["git", "--git-dir", str(bare), "log", "--format=%s"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert log.stdout.split("\n")[:2] == ["from the builder", "seed"]
    assert any(not ok for _, _, ok in world.git.requests)  # challenged ...
    assert any(ok and method == "POST" for method, _, ok in world.git.requests)  # ... pushed
    home = world.builder / "home"
    for path in (home / ".gitconfig", home / "work" / ".git" / "config"):
        assert TOKEN not in path.read_text()


def test_shared_item_answered_others_refused(world: World, build: dict[str, str]) -> None:
    assert build["get"] == world.secrets["ci token"]
    assert build["run"] == "0"  # `run` without --env exports exactly the shared items
    for key in ("outside", "credential_outside", "run_outside", "lock"):
        assert build[key] == str(EXIT_OUT_OF_SCOPE), (key, build["stderr"])
    # An item or host not shared: one answer, which names nothing of the vault ('deploy'
    # is the vault's item for gitlab.example.com, not shared).
    assert sorted(set(build["stderr"].splitlines())) == [
        "zkvault: a forwarded session cannot lock the agent",
        "zkvault: not shared with this zkvault ssh session",
    ], build["stderr"]
    listed = json.loads(build["listed"])["items"]
    assert [i["name"] for i in listed] == ["ci token"]  # list shows the shared items only
    assert world.laptop.agent_pid() is not None  # the builder's `lock` did not lock


def test_each_request_is_logged_without_secrets(world: World, build: dict[str, str]) -> None:
    path = world.laptop.home / "ssh-audit.log"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = path.read_bytes()
    assert leaks.scan({"audit log": raw}, world.secrets) == []
    entries = [json.loads(line) for line in raw.splitlines()]
    requests = [e for e in entries if e["event"] == "request"]
    answered = {(e["op"], e.get("item")) for e in requests if e["result"] == "answered"}
    refused = {
        (e["op"], e.get("item") or e.get("host")) for e in requests if e["result"] != "answered"
    }
    assert ("get", "ci token") in answered
    assert ("credential", "local git") in answered
    assert ("get", "github") in refused and ("credential", "gitlab.example.com") in refused
    assert ("lock", None) in refused
    assert all("sh " in e["command"] and e["destination"] for e in entries)
    assert [e["event"] for e in entries][-1] == "ended"


def test_builder_keeps_no_secret_and_no_socket(world: World, build: dict[str, str]) -> None:
    files = {
        str(p.relative_to(world.builder)): p.read_bytes()
        for p in world.builder.rglob("*")
        if p.is_file() and not p.is_symlink()
    }
    assert len(files) > 10  # the clone, git config, the scripts: something was searched
    hits = leaks.scan(files, {**world.secrets, "local git": TOKEN})
    assert hits == [], leaks.table(files, world.secrets)
    assert not os.path.exists(build["socket"])  # the wrapper removed the forwarded socket
    leftovers = [p.name for p in world.laptop.runtime.iterdir() if _proxy_socket(p)]
    assert leftovers == []  # nor is the proxy's socket left on the laptop


def test_session_end_closes_access_at_once(world: World) -> None:
    """Also reaches the builder with a key pair made for the session only."""
    authorize = f"cat >> {world.sshd.authorized_keys}"
    proc, socket = world.open(
        "--allow", "ci token", "--session-key", "--authorize", authorize, with_key=False
    )
    try:
        keys = [p for p in world.laptop.runtime.iterdir() if p.name.startswith("ssh-key-")]
        assert len(keys) == 1
        assert "zkvault-ssh-session-" in world.sshd.authorized_keys.read_text()
        forwarded = os.stat(socket)
        assert stat.S_ISSOCK(forwarded.st_mode) and stat.S_IMODE(forwarded.st_mode) == 0o600
        assert forwarded.st_uid == os.getuid()
        got = world.on_builder(socket, "get", "ci token")
        assert got.returncode == 0 and got.stdout.strip() == world.secrets["ci token"]
    finally:
        _close(proc)
    after = world.on_builder(socket, "get", "ci token")
    assert after.returncode == EXIT_LOCKED
    assert after.stderr.strip() == (
        "zkvault: the zkvault ssh session that forwarded the agent has ended"
    )
    assert not keys[0].exists()  # the session's private key was deleted
    deadline = time.monotonic() + 30
    while os.path.exists(socket) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(socket)  # the builder side removed it when the session ended


def test_ttl_expiry_ends_access(world: World) -> None:
    proc, socket = world.open("--allow", "ci token", "--ttl", "10s")  # room for a slow start
    try:
        assert world.on_builder(socket, "get", "ci token").returncode == 0
        deadline = time.monotonic() + 30
        while True:
            later = world.on_builder(socket, "get", "ci token")
            if later.returncode != 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert later.returncode == EXIT_LOCKED, later.stderr
        assert "time limit (--ttl) has passed" in later.stderr
    finally:
        _close(proc)


def test_laptop_lock_ends_access_for_good(world: World) -> None:
    proc, socket = world.open("--allow", "ci token")
    try:
        assert world.on_builder(socket, "get", "ci token").returncode == 0
        world.laptop.zk("lock", check=True)
        locked = world.on_builder(socket, "get", "ci token")
        assert locked.returncode == EXIT_LOCKED
        assert "locked" in locked.stderr
        # Unlocking again on the laptop does not revive this session.
        assert world.laptop.unlock().returncode == 0
        again = world.on_builder(socket, "get", "ci token")
        assert again.returncode == EXIT_LOCKED
        assert "session has ended" in again.stderr
    finally:
        _close(proc)


def test_confirm_asks_at_the_terminal_once_per_item(world: World) -> None:
    remote = shlex.quote(
        'zkvault get "ci token" >/dev/null; echo "first=$?"; '
        'zkvault get "ci token" >/dev/null; echo "second=$?"; '
        'zkvault get github >/dev/null; echo "third=$?"'
    )
    master, slave = os.openpty()
    # The pty becomes the session's controlling terminal, as a developer's is.
    proc = subprocess.Popen(
        [
            *("setsid", "--ctty", sys.executable, "-m", "native", "ssh", "--confirm"),
            *("--allow", "ci token", "--allow", "github"),
            *world.sshd.client_options(),
            *(world.sshd.destination, "--", f"{world.env_sh} sh -c {remote}"),
        ],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=world.laptop.vars,
        cwd=REPO,
    )
    os.close(slave)
    seen = b""
    answers = iter([b"y\n", b"n\n"])
    prompts = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not select.select([master], [], [], 1.0)[0]:
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: every process closed the terminal
            break
        if not chunk:
            break
        seen += chunk
        if seen.count(b"Allow? [y/N]") > prompts:
            prompts += 1
            os.write(master, next(answers))
    try:
        status = proc.wait(30)
    except subprocess.TimeoutExpired:
        raise AssertionError(seen) from None
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert status == 0, seen
    text = seen.decode(errors="replace")
    assert prompts == 2, text  # 'ci token' once (the second use is not asked), then 'github'
    assert "asks for 'ci token' (get)" in text and "asks for 'github' (get)" in text
    assert "first=0" in text and "second=0" in text
    assert f"third={EXIT_OUT_OF_SCOPE}" in text
    assert "did not allow that item" in text


def _raw(socket_path: str, payload: bytes) -> bytes:
    """What the forwarded socket answers to bytes a hostile builder sends."""
    import socket as sockets

    with sockets.socket(sockets.AF_UNIX) as conn:
        conn.settimeout(20)
        conn.connect(socket_path)
        conn.sendall(payload)
        conn.shutdown(sockets.SHUT_WR)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def _message(body: dict[str, object]) -> bytes:
    data = json.dumps(body).encode()
    return len(data).to_bytes(4, "big") + data


def test_hostile_builder_gets_nothing_more(world: World) -> None:
    proc, socket = world.open("--allow", "ci token")
    try:
        assert _raw(socket, b"\x00\x00\x00\x05hello") == b""  # not JSON: closed, no answer
        assert _raw(socket, b"\xff\xff\xff\xff") == b""  # oversized: closed, no answer
        cases: list[tuple[dict[str, object], str]] = [
            ({"v": 1, "op": "lock"}, "forbidden"),
            ({"v": 1, "op": "get", "name": ["ci token"]}, "out_of_scope"),
            ({"v": 1, "op": "get", "name": "github", "field": "secret"}, "out_of_scope"),
            ({"v": 1, "op": "env", "names": ["ci token", "deploy"]}, "out_of_scope"),
            ({"v": 1, "op": "credential", "host": "github.com"}, "out_of_scope"),
        ]
        for request, code in cases:
            answer = json.loads(_raw(socket, _message(request))[4:])
            assert answer["ok"] is False, (request, answer)
            assert answer["error"] == code, (request, answer)
            assert leaks.scan({"answer": json.dumps(answer).encode()}, world.secrets) == []
        # The session and the laptop's agent still serve what is shared.
        assert world.on_builder(socket, "get", "ci token").returncode == 0
        assert world.laptop.agent_pid() is not None
    finally:
        _close(proc)


def _ask(socket_path: str, request: dict[str, object]) -> dict[str, object]:
    answer: dict[str, object] = json.loads(_raw(socket_path, _message(request))[4:])
    return answer


def test_what_is_not_shared_is_one_answer_whatever_exists(world: World) -> None:
    """The builder cannot tell an unshared item from a missing one, nor whether an item
    exists for a git host: every such request gets the same answer; a host that is not
    shared is matched among the shared items only."""
    git_host = world.git.url.removeprefix("http://")
    proc, socket = world.open("--allow", "ci token", "--allow", "local git")
    try:
        refused = [
            _ask(socket, request)
            for request in (
                {"v": 1, "op": "get", "name": "github"},  # in the vault, not shared
                {"v": 1, "op": "get", "name": "no such item"},
                {"v": 1, "op": "env", "names": ["ci token", "deploy"]},
                {"v": 1, "op": "env", "names": ["ci token", "no such item"]},
                # 'deploy' serves gitlab.example.com; nothing serves the other host
                {"v": 1, "op": "credential", "protocol": "https", "host": "gitlab.example.com"},
                {"v": 1, "op": "credential", "protocol": "https", "host": "none.example.com"},
            )
        ]
        assert all(answer == refused[0] for answer in refused), refused
        assert refused[0] == {
            "ok": False,
            "error": "out_of_scope",
            "message": "not shared with this zkvault ssh session",
        }
        # The git server's host is not shared, but a shared item serves it.
        asked = {"v": 1, "op": "credential", "protocol": "http", "host": git_host}
        answered = _ask(socket, asked)
        # Answered with the shared item's token, and without naming any item.
        assert answered == {"ok": True, "username": "zkvault", "password": TOKEN}
    finally:
        _close(proc)


def test_floods_cost_the_agent_nothing_and_are_rate_limited(world: World) -> None:
    pid = world.laptop.agent_pid()
    assert pid is not None

    def agent_cpu() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    proc, socket = world.open("--allow", "ci token")
    try:
        before = agent_cpu()
        flood = _ask(socket, {"v": 1, "op": "env", "names": ["ci token"] * 1024})
        assert flood == {"ok": True, "values": {"ci token": world.secrets["ci token"]}}
        assert agent_cpu() - before < 0.5  # one name asked of the agent, not 1,024
        too_many = _ask(socket, {"v": 1, "op": "env", "names": ["ci token"] * 1025})
        assert too_many["error"] == "bad_request"
        # Requests as fast as the builder can send them: a burst is answered, then the
        # session refuses until its rate allows again.
        answers: list[dict[str, object]] = []
        while len(answers) < 1000:
            answers.append(_ask(socket, {"v": 1, "op": "get", "name": "ci token"}))
            if answers[-1].get("error") == "rate_limited":
                break
        assert answers[-1] == {
            "ok": False,
            "error": "rate_limited",
            "message": "too many requests through this zkvault ssh session; retry in a moment",
        }
        assert all(a.get("ok") for a in answers[:90]), answers[:90]
        # The log records a flood by its first refusal, not one line per request.
        more = [_ask(socket, {"v": 1, "op": "get", "name": "ci token"}) for _ in range(20)]
        limited = 1 + sum(a.get("error") == "rate_limited" for a in more)
        log = (world.laptop.home / "ssh-audit.log").read_text().splitlines()
        logged = sum('"reason":"too many requests' in line for line in log)
        assert 1 <= logged < limited, (logged, limited)
        # The laptop's own requests are not held back.
        own = world.laptop.zk("get", "ci token")
        assert own.stdout.strip() == world.secrets["ci token"]
    finally:
        _close(proc)


def test_the_proxy_is_hardened_and_closed_to_another_user(world: World) -> None:
    proc, _socket = world.open("--allow", "ci token")
    try:
        (local,) = [
            p for p in world.laptop.runtime.iterdir() if _proxy_socket(p) and p.suffix == ".sock"
        ]
        assert stat.S_IMODE(local.stat().st_mode) == 0o600
        assert stat.S_IMODE(world.laptop.runtime.stat().st_mode) == 0o700
        # The proxy's process is hardened as the agent is: no core dumps (and undumpable).
        limits = Path(f"/proc/{proc.pid}/limits").read_text().splitlines()
        (core,) = [line for line in limits if line.startswith("Max core file size")]
        assert core.split()[4:6] == ["0", "0"]
        assert probe(str(local)) == "PermissionError"  # the 0700 directories
        os.chmod(world.laptop.root, 0o711)
        os.chmod(world.laptop.runtime, 0o711)
        assert probe(str(local)) == "PermissionError"  # the 0600 socket
        local.chmod(0o666)
        assert probe(str(local)) in CLOSED_ON  # the peer-uid check
    finally:
        os.chmod(world.laptop.runtime, 0o700)
        os.chmod(world.laptop.root, 0o700)
        _close(proc)


def _proxy_socket(path: Path) -> bool:
    """A `zkvault ssh` proxy's file in the laptop's runtime directory: ssh-*, but not the
    unlocked agent's own SSH-agent socket (docs/cli.md, "SSH agent"), which stays."""
    return path.name.startswith("ssh-") and path.name != "ssh-agent.sock"
