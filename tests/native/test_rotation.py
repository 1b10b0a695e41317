"""Two server instances on one database, mid key rotation, behind a round-robin proxy:
the one updated signs with a new key, the other verifies only the old one. A machine's
agent then meets tokens one instance cannot verify. That is "cannot verify right now":
the agent retries and keeps serving; only a real revocation wipes it."""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.native.serverproc import Owner, Server, enrol_granted_runner
from tests.native.support import ITEMS, Env, wait_gone
from tests.native.test_server import connect, machine_id, new_vault
from tests.support import processes
from tests.support.httpproxy import HttpProxy

pytestmark = pytest.mark.slow


@pytest.fixture
def instances() -> Iterator[tuple[Server, Server, HttpProxy]]:
    """A (signs with the new key, verifies both) and B (still on the old key only), and the
    proxy in front: the deployment's public URL, which DPoP proofs name. It forwards to A
    alone until a test adds B."""
    idp, idp_proc = processes.start_idp()
    old, new = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    token_secret = secrets.token_urlsafe(32)  # one for the deployment
    dirs = [Path(tempfile.mkdtemp(prefix="zkrot")) for _ in range(2)]
    ports = [processes.free_port(), processes.free_port()]
    proxy = HttpProxy(f"http://127.0.0.1:{ports[0]}")
    database = f"sqlite:///{dirs[0] / 'zkvault.sqlite3'}"
    started: list[processes.ServerProcess] = []
    try:
        for workdir, keys, port in ((dirs[0], [new, old], ports[0]), (dirs[1], [old], ports[1])):
            started.append(
                processes.start_server(
                    idp,
                    workdir,
                    port,
                    ZKVAULT_PUBLIC_URL=proxy.url,
                    ZKVAULT_DATABASE_URL=database,
                    ZKVAULT_SIGNING_KEYS=json.dumps(keys),
                    ZKVAULT_TOKEN_SECRETS=json.dumps([token_secret]),
                )
            )
        a, b = (Server(s.url, idp, s.proc, idp_proc, d) for s, d in zip(started, dirs, strict=True))
        yield a, b, proxy
    finally:
        proxy.cut()
        for s in started:
            processes.stop(s.proc)
        processes.stop(idp_proc)
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


def test_unverifiable_tokens_never_wipe_but_revocation_does(
    env: Env, instances: tuple[Server, Server, HttpProxy]
) -> None:
    a, b, proxy = instances  # pairing through A alone, then both behind the proxy
    owner = Owner(a, public_url=proxy.url)
    new_vault(owner)
    try:
        connect(env, owner, proxy.url)
        proxy.add_upstream(b.url)
        # Routed, not left to round robin (whose turns can line up so that B never sees
        # one of A's tokens): the agent starts with a token A minted with the new key ...
        proxy.route = lambda request: 0
        fast = {"ZKVAULT_CHECK_INTERVAL": "1"}
        unlocked = env.unlock(extra=fast)
        assert unlocked.returncode == 0, unlocked.stderr
        pid = env.agent_pid()
        assert pid is not None

        # ... then every token comes from A and every check goes to B, which cannot verify
        # them. The agent must say so in `status` and keep serving.
        proxy.route = lambda request: 0 if request.path == "/auth/token" else 1
        troubles: list[str] = []
        deadline = time.monotonic() + 30
        while not troubles and time.monotonic() < deadline:
            status = json.loads(env.zk("status", "--json").stdout)
            if status.get("trouble"):
                troubles.append(status["trouble"])
            time.sleep(0.2)
        assert troubles and "cannot verify" in troubles[0], troubles
        shown = env.zk("status")
        assert shown.returncode == 0 and "pid" not in shown.stderr
        assert env.zk("get", "github").stdout == ITEMS[0].secret + "\n"
        assert env.agent_pid() == pid

        # A real revocation, through either instance, wipes it.
        proxy.route = None
        revoked = owner.call("DELETE", f"/api/machines/{machine_id(owner)}")
        assert revoked.status_code == 200, revoked.text
        assert wait_gone(pid, 30)
        done = env.unlock()
        assert done.returncode == 8 and "no longer authorised" in done.stderr
    finally:
        proxy.cut()


def test_a_runner_mid_rotation_is_never_told_it_is_revoked(
    env: Env, instances: tuple[Server, Server, HttpProxy]
) -> None:
    """Each call mints a token on one instance and fetches the grant from the other: when
    the fetching instance cannot verify the new key, the runner says "cannot verify right
    now" (exit 7), never "revoked" (exit 8); a real revocation is still exit 8."""
    a, b, proxy = instances
    owner = Owner(a, public_url=proxy.url)
    vault, _ = new_vault(owner)
    try:
        credential, runner_id = enrol_granted_runner(
            env, owner, vault, proxy.url, "ci-rotating", ["github"]
        )
        proxy.add_upstream(b.url)
        ci = {"ZKVAULT_RUNNER_CREDENTIAL": credential}
        outcomes = [env.zk("get", "github", extra=ci) for _ in range(4)]
        codes = [done.returncode for done in outcomes]
        assert set(codes) <= {0, 7}, [done.stderr for done in outcomes]
        assert all("cannot verify" in done.stderr for done in outcomes if done.returncode == 7)
        assert owner.call("DELETE", f"/api/runners/{runner_id}").status_code == 200
        gone = env.zk("get", "github", extra=ci)
        assert gone.returncode == 8 and "not authorised" in gone.stderr
    finally:
        proxy.cut()
