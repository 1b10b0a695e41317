"""Messages that say why and what next (docs/cli.md): a revoked machine says "revoked" (get,
status, git's helper), a machine never set up says so, a name not found suggests the
closest ones (and a runner says "not granted"), `connect` waits through a server restart,
and a server URL without a scheme is taken for loopback or refused with the exact fix.

Against the real server and OIDC provider processes, the real agent and real git.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from tests.native.serverproc import Owner, Server, enrol_granted_runner
from tests.native.serverproc import start_server as start_server_pair
from tests.native.support import ITEMS, PASSPHRASE, Env, make_vault, start_pairing, wait_gone
from tests.native.test_server import connect, machine_id, new_vault
from tests.support import processes
from vault_core.b64url import b64url_encode

pytestmark = pytest.mark.slow

FAST = {"ZKVAULT_CHECK_INTERVAL": "0.5"}


def fill(env: Env, host: str) -> subprocess.CompletedProcess[str]:
    """`git credential fill` for https://host, through the helper `zkvault git setup` set."""
    return subprocess.run(
        ["git", "credential", "fill"],
        input=f"protocol=https\nhost={host}\n\n",
        env=env.vars,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_revoked_machine_says_revoked_everywhere(env: Env, server: Server) -> None:
    owner = Owner(server)
    new_vault(owner)
    connect(env, owner, server.url)
    assert env.zk("git", "setup").returncode == 0
    assert env.unlock(extra=FAST).returncode == 0
    assert fill(env, "github.com").stdout.endswith(f"password={ITEMS[0].secret}\n")
    pid = env.agent_pid()
    assert pid is not None

    assert owner.call("DELETE", f"/api/machines/{machine_id(owner)}").status_code == 200
    assert wait_gone(pid, 10), "the agent did not stop at the revocation"

    got = env.zk("get", "github")
    assert got.returncode == 8, got.stderr
    assert got.stderr.startswith("zkvault: revoked: this machine is no longer authorised")
    assert "`zkvault connect --clean`" in got.stderr and "locked" not in got.stderr
    status = env.zk("status")
    assert status.returncode == 8 and status.stdout.startswith("revoked: "), status.stdout
    assert "`zkvault connect --clean`" in status.stdout
    as_json = json.loads(env.zk("status", "--json").stdout)
    assert as_json["revoked"] is True and as_json["unlocked"] is False
    # git shows the helper's line, then fails to find a credential (no prompt in tests).
    helper = fill(env, "github.com")
    assert helper.returncode != 0 and "password=" not in helper.stdout
    assert "zkvault: revoked: " in helper.stderr and "connect --clean" in helper.stderr
    for shown in (got.stderr, status.stdout, helper.stderr):
        assert ITEMS[0].secret not in shown and PASSPHRASE not in shown

    plain = env.zk("connect")
    assert plain.returncode == 5
    assert f"this machine was connected to {server.url} and revoked (since " in plain.stderr
    assert plain.stderr.rstrip().endswith("use `zkvault connect --clean` to pair again")
    # The fix it names: pairing again clears it.
    proc, code, _ = start_pairing(env, "connect", "--clean", show=r"enter the code (\S+) ")
    owner.approve(code)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    again = env.zk("status")
    assert again.returncode == 3 and again.stdout == "locked\n"


def test_a_machine_never_set_up_says_so(env: Env) -> None:
    for args in (("get", "github"), ("list",), ("run", "--", "true")):
        done = env.zk(*args)
        assert done.returncode == 5, (args, done.stderr)
        assert done.stderr == (
            "zkvault: not set up: this machine has no vault and no agent yet; run "
            "`zkvault connect --server URL` to pair it, then `zkvault unlock`\n"
        )
    status = env.zk("status", "--json")
    assert status.returncode == 5 and json.loads(status.stdout)["not_set_up"] is True
    assert env.zk("git", "setup").returncode == 0
    helper = fill(env, "github.com")
    assert "zkvault: not set up: " in helper.stderr and "zkvault connect" in helper.stderr


def test_not_found_names_the_closest_items(env: Env) -> None:
    vault = make_vault(env.root)
    env.zk("adopt", str(vault.path), "--account-id", str(vault.account_id), check=True)
    assert env.unlock().returncode == 0
    typo = env.zk("get", "githb")
    assert typo.returncode == 4
    assert typo.stderr == (
        "zkvault: no item named 'githb' (did you mean 'github'?); `zkvault list` shows the names\n"
    )
    case = env.zk("get", "CI Tokn", "--json")
    assert json.loads(case.stdout)["error"] == "not_found"
    assert "(did you mean 'ci token'?)" in case.stderr
    nothing = env.zk("get", "zzzzzz")
    assert nothing.stderr == "zkvault: no item named 'zzzzzz'; `zkvault list` shows the names\n"
    run = env.zk("run", "--env", "T=deplyo", "--", "true")
    assert run.returncode == 4 and "(did you mean 'deploy'?)" in run.stderr
    near_host = env.zk("git-credential", "get", input="protocol=https\nhost=gitlab.exmaple.com\n\n")
    assert near_host.returncode == 0 and near_host.stdout == ""
    assert "closest: 'deploy' (https://gitlab.example.com/group)" in near_host.stderr
    assert "`zkvault list` shows the items and their URLs" in near_host.stderr
    for done in (typo, case, nothing, run, near_host):
        assert not any(s in done.stderr for s in vault.secrets.values())


def test_a_runner_says_not_granted(env: Env, server: Server) -> None:
    owner = Owner(server)
    vault, _ = new_vault(owner)
    credential, _ = enrol_granted_runner(env, owner, vault, server.url, "ci-msg", ["github"])
    runner = {"ZKVAULT_RUNNER_CREDENTIAL": credential}
    # "deploy" is in the vault, "nope" is not: the runner cannot tell them apart, and says
    # the same of both.
    answers = [env.zk("get", name, "--json", extra=runner) for name in ("deploy", "nope")]
    for done, name in zip(answers, ("deploy", "nope"), strict=True):
        assert done.returncode == 4
        assert json.loads(done.stdout)["error"] == "not_granted"
        assert done.stderr == (
            f"zkvault: no item named {name!r} is granted to this runner; a runner sees only "
            "its granted items, so if it exists in the vault, ask the owner to grant it (web "
            "app, Machines & runners); `zkvault list` shows what is granted\n"
        )
    typo = env.zk("get", "gthub", extra=runner)
    assert typo.returncode == 4 and "(did you mean 'github'?)" in typo.stderr
    helper = env.zk(
        "git-credential", "get", input="protocol=https\nhost=gitlab.example.com\n\n", extra=runner
    )
    assert helper.returncode == 0 and helper.stdout == ""
    assert "no item granted to this runner matches https://gitlab.example.com" in helper.stderr
    assert "ask the owner to grant it to this runner" in helper.stderr
    assert "deploy" not in helper.stderr  # not granted: the runner never knew its name


def test_connect_waits_through_a_server_restart(env: Env, tmp_path: Path) -> None:
    """The server process stops while `connect` waits for approval and starts again on the
    same port and database: connect carries on and pairs. The URL is given without a
    scheme: a loopback address means http."""
    signing = json.dumps([b64url_encode(secrets.token_bytes(32))])
    tokens = json.dumps([b64url_encode(secrets.token_bytes(32))])
    server = start_server_pair(ZKVAULT_SIGNING_KEYS=signing, ZKVAULT_TOKEN_SECRETS=tokens)
    try:
        owner = Owner(server)
        new_vault(owner)
        where = server.url.removeprefix("http://")
        proc, code, _ = start_pairing(
            env, "connect", "--server", where, "--timeout", "120", show=r"enter the code (\S+) "
        )
        assert proc.stderr is not None
        server.proc.terminate()
        server.proc.wait(20)
        line = proc.stderr.readline()  # waits until connect notices the server is gone
        assert line.startswith("The server cannot be reached right now"), line
        assert "retrying until the 120s timeout" in line
        port = int(server.url.rsplit(":", 1)[1])
        restarted = processes.start_server(
            server.idp,
            server.workdir,
            port,
            ZKVAULT_SIGNING_KEYS=signing,
            ZKVAULT_TOKEN_SECRETS=tokens,
        )
        server.proc = restarted.proc
        owner.approve(code)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "The server answers again; still waiting for approval" in err
        assert out.startswith(f"connected to {server.url} as ")
        assert env.unlock().returncode == 0
        assert env.zk("get", "github").stdout == ITEMS[0].secret + "\n"
    finally:
        server.stop()


def test_connect_gives_up_at_its_own_timeout_while_the_server_is_down(env: Env) -> None:
    server = start_server_pair()
    try:
        proc, _, _ = start_pairing(
            env, "connect", "--server", server.url, "--timeout", "8", show=r"enter the code (\S+) "
        )
        started = time.monotonic()
        server.proc.terminate()
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 7, err
        assert time.monotonic() - started < 20
        assert "still waiting for approval, retrying until the 8s timeout" in err
        assert err.rstrip().endswith("check the network or ZKVAULT_SERVER")
        assert "Traceback" not in err
    finally:
        server.stop()


def test_a_server_without_a_scheme(env: Env) -> None:
    far = env.zk("connect", "--server", "vault.example.com:8443")
    assert far.returncode == 2
    assert far.stderr == (
        "zkvault: server URL 'vault.example.com:8443' has no scheme; use "
        "https://vault.example.com:8443\n"
    )
    plain = env.zk("connect", "--server", "http://vault.example.com:80")
    assert plain.returncode == 2 and plain.stderr.rstrip().endswith("use https://vault.example.com")
    bad = env.zk("connect", "--server", "127.0.0.1:http")
    assert bad.returncode == 2 and "is not a server URL; use https://host[:port]" in bad.stderr
    # A loopback address without a scheme is http: here nothing listens on that port.
    local = env.zk("connect", "--server", "127.0.0.1:9", "--timeout", "2")
    assert local.returncode == 7 and "http://127.0.0.1:9" in local.stderr
