"""The issue's acceptance checks with a real browser and the real CLI (tests share one page,
in order): a person creates a vault in the web app, pairs this machine by opening the
one-time link the CLI prints (the page shows the same fingerprint), unlocks and clones over
HTTP with only the helper; a runner is approved and granted two of three items in the
browser and reads exactly those; revoking in the browser refuses the runner and wipes the
machine's running agent."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.native.browser import driver
from tests.native.browser.driver import BrowserThread
from tests.native.gitserver import GitServer
from tests.native.support import Env, git, make_env, start_pairing, stop_agent, wait_gone

pytestmark = pytest.mark.slow
PASSPHRASE = "orbit velvet crater mango lantern"
TOKEN = "glpat-" + "Br0wserT0ken" * 3
OTHER = {"ci-cache": "cache-" + "K3y" * 8, "deploy-key": "dk-" + "Zz9" * 9}


@pytest.fixture(scope="module")
def machine() -> Iterator[Env]:
    env = make_env()
    env.vars["ZKVAULT_CHECK_INTERVAL"] = "1"
    yield env
    stop_agent(env)


@pytest.fixture(scope="module")
def git_server(machine: Env) -> Iterator[GitServer]:
    repos = machine.root / "repos"
    repos.mkdir()
    assert git(machine, "init", "-q", "--bare", str(repos / "private.git")).returncode == 0
    with GitServer(repos, TOKEN) as srv:
        yield srv


def start(env: Env, *args: str) -> tuple[subprocess.Popen[str], str, str]:
    """Start a pairing command; return it with the one-time URL and fingerprint it printed."""
    return start_pairing(env, *args, show=r"^\s+(http\S+/pair#code=\S+)$")


@pytest.fixture(scope="module")
def vault(
    browser_thread: BrowserThread, server: Any, idp: str, git_server: GitServer
) -> BrowserThread:
    """Grace's vault, made in the browser: the token of the test's git server and two
    more. Each test starts from it, so each passes alone and in any order."""
    page = browser_thread.page
    browser_thread.run(driver.sign_in_and_create(page, server.url, idp, "grace", PASSPHRASE))
    browser_thread.run(driver.add_item(page, "private git", TOKEN, "git", git_server.url, "grace"))
    for name, secret in OTHER.items():
        browser_thread.run(driver.add_item(page, name, secret, "generic", "https://example.test"))
    return browser_thread


def pair_by_link(vault: BrowserThread, server: Any, machine: Env, name: str) -> None:
    """`zkvault connect` approved by following its one-time link, then unlocked."""
    proc, url, fingerprint = start(machine, "connect", "--server", server.url, "--name", name)
    shown = vault.run(driver.approve_link(vault.page, url, PASSPHRASE))
    assert shown == fingerprint
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert machine.unlock(passphrase=PASSPHRASE).returncode == 0


def test_pair_by_link_unlock_and_clone(
    vault: BrowserThread, server: Any, machine: Env, git_server: GitServer
) -> None:
    pair_by_link(vault, server, machine, "grace-laptop")
    assert machine.zk("git", "setup").returncode == 0
    clone = git(machine, "clone", "-q", git_server.url + "/private.git", str(machine.root / "w"))
    assert clone.returncode == 0, clone.stderr
    assert any(ok for _, _, ok in git_server.requests)


def test_runner_granted_two_of_three(vault: BrowserThread, server: Any) -> None:
    browser_thread = vault
    runner = make_env()
    try:
        owner = browser_thread.run(driver.owner_fingerprint(browser_thread.page))
        proc, code, fingerprint = start_pairing(
            runner,
            *("runner", "enroll", "--name", "ci-1", "--server", server.url),
            *("--owner-fingerprint", owner),
            show=r"enter the code (\S+) ",
        )
        # Typed by hand this time, with a space inside and around (docs/pairing.md).
        typed = f"  {code[:5]} {code[6:].lower()} "
        shown = browser_thread.run(driver.approve_code(browser_thread.page, typed))
        assert shown == fingerprint
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert f"pinned the owner's grant key {owner}" in err
        ci = {"ZKVAULT_RUNNER_CREDENTIAL": out.strip()}

        browser_thread.run(driver.grant(browser_thread.page, "ci-1", ["private git", "ci-cache"]))
        listed = runner.zk("list", "--json", extra=ci)
        assert listed.returncode == 0, listed.stderr
        names = sorted(i["name"] for i in json.loads(listed.stdout)["items"])
        assert names == ["ci-cache", "private git"]
        assert runner.zk("get", "ci-cache", extra=ci).stdout == OTHER["ci-cache"] + "\n"
        assert runner.zk("get", "deploy-key", extra=ci).returncode == 4

        browser_thread.run(driver.revoke(browser_thread.page, "ci-1"))
        refused = runner.zk("get", "ci-cache", extra=ci)
        assert refused.returncode == 8, refused.stderr
    finally:
        stop_agent(runner)


def test_revoking_the_machine_wipes_the_agent(vault: BrowserThread, server: Any) -> None:
    laptop = make_env()
    try:
        pair_by_link(vault, server, laptop, "grace-spare")
        pid = laptop.agent_pid()
        assert pid is not None
        vault.run(driver.revoke(vault.page, "grace-spare"))
        assert wait_gone(pid, 20)  # the agent is told at once (its long poll), then wipes
        after = laptop.zk("get", "private git")
        # It says why nothing is served, and what to do: not "locked" (docs/cli.md).
        assert after.returncode == 8 and after.stderr.startswith("zkvault: revoked: "), after.stderr
        assert "`zkvault connect --clean`" in after.stderr
    finally:
        stop_agent(laptop)
