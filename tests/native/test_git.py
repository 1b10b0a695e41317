"""Real git clones and pushes over HTTP, authenticated only by the credential helper."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.native.gitserver import GitServer
from tests.native.support import Env, git, make_vault
from vault_core import Item

TOKEN = "glpat-" + "R3alT0ken" * 3


@pytest.fixture
def server(env: Env) -> Iterator[GitServer]:
    repos = env.root / "repos"
    repos.mkdir()
    assert git(env, "init", "-q", "--bare", "-b", "main", str(repos / "proj.git")).returncode == 0
    seed = env.root / "seed"
    assert git(env, "init", "-q", "-b", "main", str(seed)).returncode == 0
    (seed / "README").write_text("hello from the server\n")
    for args in (
        ("add", "README"),
        ("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "seed"),
        ("push", "-q", str(repos / "proj.git"), "main"),
    ):
        assert git(env, *args, cwd=seed).returncode == 0
    with GitServer(repos, TOKEN) as srv:
        yield srv


def _unlock_with(env: Env, items: list[Item]) -> None:
    vf = make_vault(env.root, items)
    env.zk("adopt", str(vf.path), "--account-id", str(vf.account_id), check=True)
    assert env.unlock().returncode == 0


def test_clone_and_push_with_only_the_helper(env: Env, server: GitServer) -> None:
    _unlock_with(
        env,
        [
            Item(name="local git", kind="git", url=server.url + "/", secret=TOKEN, username="ci"),
            Item(name="elsewhere", kind="git", url="https://git.example.org/", secret="nope-" * 5),
        ],
    )
    setup = env.zk("git", "setup")
    assert setup.returncode == 0, setup.stderr
    gitconfig = (Path(env.vars["HOME"]) / ".gitconfig").read_text()
    assert "git-credential" in gitconfig and TOKEN not in gitconfig

    work = env.root / "work"
    clone = git(env, "clone", "-q", server.url + "/proj.git", str(work))
    assert clone.returncode == 0, clone.stderr
    assert (work / "README").read_text() == "hello from the server\n"
    assert any(not ok for _, _, ok in server.requests)  # challenged first ...
    assert any(ok for _, _, ok in server.requests)  # ... then the helper's token was accepted

    (work / "CHANGE").write_text("pushed through zkvault\n")
    git(env, "add", "CHANGE", cwd=work)
    git(env, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "change", cwd=work)
    push = git(env, "push", "-q", "origin", "main", cwd=work)
    assert push.returncode == 0, push.stderr
    log = git(env, "--git-dir", str(env.root / "repos" / "proj.git"), "log", "--format=%s")
    assert log.stdout.split() == ["change", "seed"]
    for path in (env.root / "work" / ".git" / "config", Path(env.vars["HOME"]) / ".gitconfig"):
        assert TOKEN not in path.read_text()  # the token was used, never stored by git


def test_locked_vault_means_no_access(env: Env, server: GitServer) -> None:
    _unlock_with(env, [Item(name="g", kind="git", url=server.url, secret=TOKEN)])
    env.zk("git", "setup", check=True)
    env.zk("lock", check=True)
    clone = git(env, "clone", "-q", server.url + "/proj.git", str(env.root / "w"))
    assert clone.returncode != 0
    assert "zkvault: the vault is locked" in clone.stderr
    assert not any(ok for _, _, ok in server.requests)


def test_wrong_token_is_rejected_by_the_server(env: Env, server: GitServer) -> None:
    _unlock_with(env, [Item(name="g", kind="git", url=server.url, secret="wrong-" * 5)])
    env.zk("git", "setup", check=True)
    clone = git(env, "clone", "-q", server.url + "/proj.git", str(env.root / "w"))
    assert clone.returncode != 0
    assert "rejected the token" in clone.stderr  # git called `erase`; we said what to do


def test_path_specific_items(env: Env, server: GitServer) -> None:
    _unlock_with(
        env,
        [
            Item(name="other repo", kind="git", url=server.url + "/other.git", secret="other-" * 5),
            Item(name="this repo", kind="git", url=server.url + "/proj.git", secret=TOKEN),
        ],
    )
    env.zk("git", "setup", check=True)
    # Two items for the host and no path from git: ambiguous, so zkvault answers nothing.
    ambiguous = git(env, "clone", "-q", server.url + "/proj.git", str(env.root / "a"))
    assert ambiguous.returncode != 0
    git(env, "config", "--global", "credential.useHttpPath", "true")
    clone = git(env, "clone", "-q", server.url + "/proj.git", str(env.root / "b"))
    assert clone.returncode == 0, clone.stderr


def test_helper_protocol_directly(env: Env, server: GitServer) -> None:
    _unlock_with(env, [Item(name="g", kind="github", url="", secret=TOKEN)])
    got = env.zk("git-credential", "get", input="protocol=https\nhost=github.com\n\n")
    assert got.returncode == 0
    assert got.stdout == f"username=x-access-token\npassword={TOKEN}\n"
    other = env.zk("git-credential", "get", input="protocol=https\nhost=gitlab.com\n\n")
    assert other.returncode == 0 and other.stdout == ""
    assert env.zk("git-credential", "store", input="protocol=https\nhost=x\n\n").stdout == ""


def test_item_without_port_serves_the_port_git_asks_for(env: Env, server: GitServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")  # a non-default port
    _unlock_with(env, [Item(name="loopback", kind="git", url="127.0.0.1", secret=TOKEN)])
    env.zk("git", "setup", check=True)
    clone = git(env, "clone", "-q", server.url + "/proj.git", str(env.root / "w"))
    assert clone.returncode == 0, clone.stderr


def test_nothing_matches_says_so_on_stderr(env: Env, server: GitServer) -> None:
    _unlock_with(
        env,
        [Item(name="other port", kind="git", url="http://127.0.0.1:1/", secret="other-" * 5)],
    )
    env.zk("git", "setup", check=True)
    clone = git(env, "clone", "-q", server.url + "/proj.git", str(env.root / "w"))
    assert clone.returncode != 0
    said = [line for line in clone.stderr.splitlines() if line.startswith("zkvault:")]
    assert said == [
        f"zkvault: no item matches {server.url}; closest: 'other port' (http://127.0.0.1:1)"
        "; `zkvault list` shows the items and their URLs"
    ], clone.stderr
    assert not any(ok for _, _, ok in server.requests)
